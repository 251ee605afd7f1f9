//! `pouch inspect`: low-level information on containers and images. Without `--type`, each
//! name is looked up as a container first and then as an image, like docker.

use anyhow::{Result, bail};
use clap::Args;
use pouch_client::{Client, encode_path};

use super::Ctx;
use super::image::inspect::{indented, templated};
use crate::exit::{collected, item_error};
use crate::output;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    format: Option<String>,
    /// Return JSON for the specified type ("container" or "image")
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short, long)]
    size: bool,
    #[arg(required = true, value_name = "NAME|ID")]
    names: Vec<String>,
}

/// Which kinds of object a name may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Image,
    Any,
}

pub async fn run(ctx: &mut Ctx, args: InspectArgs) -> Result<()> {
    let kind = match args.kind.as_deref() {
        None | Some("") => Kind::Any,
        Some("container") => Kind::Container,
        Some("image") => Kind::Image,
        Some(other) => bail!("\"{other}\" is not a valid value for --type"),
    };
    let client = ctx.client().await?;
    inspect_objects(client, &args.names, args.format.as_deref(), kind, args.size).await
}

/// One name's outcome.
enum Found {
    /// The object's raw JSON, in the daemon's key order.
    Raw(String),
    Missing,
    /// The daemon refused (the line to print).
    Failed(String),
}

/// Looks `name` up; only a lost daemon is an `Err`.
async fn fetch(client: &Client, name: &str, kind: Kind, size: bool) -> Result<Found> {
    let container = format!(
        "/containers/{}/json{}",
        encode_path(name),
        if size { "?size=1" } else { "" }
    );
    let image = format!("/images/{}/json", encode_path(name));
    let paths: &[&str] = match kind {
        Kind::Container => &[&container],
        Kind::Image => &[&image],
        Kind::Any => &[&container, &image],
    };
    for path in paths {
        match client.get_bytes(path).await {
            Ok(raw) => return Ok(Found::Raw(String::from_utf8_lossy(&raw).trim().to_owned())),
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Ok(Found::Failed(item_error(e)?)),
        }
    }
    Ok(Found::Missing)
}

/// Prints every object found (a JSON array, or the template per object) and then fails with
/// one line per name that was not found.
pub async fn inspect_objects(
    client: &Client,
    names: &[String],
    format: Option<&str>,
    kind: Kind,
    size: bool,
) -> Result<()> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        match fetch(client, name, kind, size).await? {
            Found::Raw(raw) => found.push(raw),
            Found::Missing => errors.push(match kind {
                Kind::Container => format!("Error: No such container: {name}"),
                Kind::Image => format!("Error: No such image: {name}"),
                Kind::Any => format!("Error: No such object: {name}"),
            }),
            Found::Failed(line) => errors.push(line),
        }
    }
    let text = match format {
        Some(f) if !f.is_empty() => templated(&found, f)?,
        _ => indented(&found),
    };
    output::print(&text)?;
    collected(errors)
}
