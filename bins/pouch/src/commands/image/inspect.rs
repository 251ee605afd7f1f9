//! `pouch image inspect` (and the image half of `pouch inspect`).

use anyhow::{Context, Result};
use clap::Args;
use pouch_client::{Client, encode_path};
use serde_json::Value;

use crate::commands::Ctx;
use crate::exit::{collected, item_error};
use crate::format::{indent_json, render_one};
use crate::output;

#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: ImageInspectArgs) -> Result<()> {
    inspect_images(ctx.client().await?, &args.images, args.format.as_deref()).await
}

/// Prints what was found (a JSON array, or one template result per image) and then fails with
/// one line per missing image, as docker does, so `inspect a missing b` still shows `a` and `b`.
pub async fn inspect_images(client: &Client, names: &[String], format: Option<&str>) -> Result<()> {
    inspect_each(client, names, format, "image", |n| {
        format!("/images/{}/json", encode_path(n))
    })
    .await
}

/// `inspect` of images, volumes or networks: each object's JSON from `path(name)`, printed
/// together; the missing ones reported after as `Error: No such <kind>: <name>`.
pub(crate) async fn inspect_each(
    client: &Client,
    names: &[String],
    format: Option<&str>,
    kind: &str,
    path: impl Fn(&str) -> String,
) -> Result<()> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        match client.get_bytes(&path(name)).await {
            Ok(raw) => found.push(String::from_utf8_lossy(&raw).trim().to_owned()),
            Err(e) if e.is_not_found() => errors.push(format!("Error: No such {kind}: {name}")),
            Err(e) => errors.push(item_error(e)?),
        }
    }
    let text = match format {
        Some(f) if !f.is_empty() => templated(&found, f)?,
        _ => indented(&found),
    };
    output::print(&text)?;
    collected(errors)
}

/// docker's indented inspector: a JSON array with four-space indentation, keeping the daemon's
/// key order.
pub(crate) fn indented(raw: &[String]) -> String {
    if raw.is_empty() {
        return "[]\n".to_owned();
    }
    let mut text = indent_json(&format!("[{}]", raw.join(",")), "    ");
    text.push('\n');
    text
}

pub(crate) fn templated(raw: &[String], format: &str) -> Result<String> {
    let mut out = String::new();
    for item in raw {
        let value: Value = serde_json::from_str(item).context("invalid JSON from daemon")?;
        let text = render_one(format, &value)
            .map_err(|e| anyhow::anyhow!("template parsing error: {e}"))?;
        out.push_str(&text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indented_array_keeps_order() {
        let raw = vec![r#"{"Id":"sha256:b","Config":{"Cmd":["sh"]},"A":1}"#.to_owned()];
        assert_eq!(
            indented(&raw),
            "[\n    {\n        \"Id\": \"sha256:b\",\n        \"Config\": {\n            \"Cmd\": [\n                \"sh\"\n            ]\n        },\n        \"A\": 1\n    }\n]\n"
        );
        assert_eq!(indented(&[]), "[]\n");
    }

    #[test]
    fn templates_each_item() {
        let raw = vec![
            r#"{"Id":"x","RootFS":{"Type":"layers"}}"#.to_owned(),
            r#"{"Id":"y","RootFS":{}}"#.to_owned(),
        ];
        assert_eq!(templated(&raw, "{{.Id}}").unwrap(), "x\ny\n");
        assert_eq!(
            templated(&raw[..1], "{{json .RootFS}}").unwrap(),
            "{\"Type\":\"layers\"}\n"
        );
        let err = templated(&raw, "{{.Nope}}").unwrap_err().to_string();
        assert_eq!(
            err,
            "template parsing error: template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\""
        );
    }
}
