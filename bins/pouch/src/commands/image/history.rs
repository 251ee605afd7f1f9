//! `pouch history` / `pouch image history`.

use anyhow::Result;
use clap::{ArgAction, Args};
use pouch_client::encode_path;
use serde_json::{Value, json};

use crate::commands::Ctx;
use crate::format::{Format, Headers};
use crate::reference::{ellipsis, truncate_id};
use crate::units;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format (--human=false for raw values)
    #[arg(
        short = 'H',
        long,
        action = ArgAction::Set,
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        require_equals = true
    )]
    human: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    #[arg(value_name = "IMAGE")]
    image: String,
}

const TABLE: &str = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const TABLE_RAW: &str = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

const HEADERS: Headers = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// Column width docker cuts `CREATED BY` to unless `--no-trunc`.
const CREATED_BY_WIDTH: usize = 45;

pub async fn run(ctx: &mut Ctx, args: HistoryArgs) -> Result<()> {
    let template = match args.format.as_deref().unwrap_or("") {
        "" | "table" if args.quiet => "{{.ID}}",
        "" | "table" if args.human => TABLE,
        "" | "table" => TABLE_RAW,
        custom => custom,
    };
    let format = Format::parse(template, TABLE)?;
    let path = format!("/images/{}/history", encode_path(&args.image));
    let layers = ctx.client().await?.get_json(&path).await?;
    let layers = layers.as_array().map(Vec::as_slice).unwrap_or_default();
    let rows = display_rows(layers, !args.no_trunc, args.human, units::now_unix());
    format.print(&rows, HEADERS)
}

/// docker's history context fields, all strings.
fn display_rows(layers: &[Value], trunc: bool, human: bool, now: i64) -> Vec<Value> {
    layers
        .iter()
        .map(|layer| {
            let s = |k: &str| layer.get(k).and_then(Value::as_str).unwrap_or_default();
            let created = layer.get("Created").and_then(Value::as_i64).unwrap_or(0);
            let size = layer.get("Size").and_then(Value::as_i64).unwrap_or(0);
            let id = if trunc { truncate_id(s("Id")) } else { s("Id") };
            let created_at = units::rfc3339(created);
            let created_since = if human {
                format!("{} ago", units::human_duration(now - created))
            } else {
                created_at.clone()
            };
            let created_by = s("CreatedBy").replace('\t', " ");
            let created_by = if trunc {
                ellipsis(&created_by, CREATED_BY_WIDTH)
            } else {
                created_by
            };
            let size = if human {
                units::human_size_precision(size as f64, 3)
            } else {
                size.to_string()
            };
            json!({
                "ID": id,
                "CreatedSince": created_since,
                "CreatedAt": created_at,
                "CreatedBy": created_by,
                "Size": size,
                "Comment": s("Comment"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn layers() -> Vec<Value> {
        vec![
            json!({"Id": "sha256:0123456789abcdef", "Created": NOW - 7200, "Size": 0,
                   "CreatedBy": "/bin/sh -c #(nop)\tCMD [\"sh\"]", "Comment": "", "Tags": ["busybox:latest"]}),
            json!({"Id": "<missing>", "Created": NOW - 7300,
                   "CreatedBy": format!("/bin/sh -c #(nop) ADD file:{} in / ", "f".repeat(64)),
                   "Size": 4_264_000, "Comment": "imported"}),
        ]
    }

    #[test]
    fn human_rows() {
        let rows = display_rows(&layers(), true, true, NOW);
        assert_eq!(rows[0]["ID"], "0123456789ab");
        assert_eq!(rows[0]["CreatedSince"], "2 hours ago");
        assert_eq!(rows[0]["CreatedBy"], "/bin/sh -c #(nop) CMD [\"sh\"]");
        assert_eq!(rows[0]["Size"], "0B");
        assert_eq!(rows[1]["ID"], "<missing>");
        assert_eq!(rows[1]["Size"], "4.26MB");
        let by = rows[1]["CreatedBy"].as_str().unwrap();
        assert_eq!(by.chars().count(), CREATED_BY_WIDTH);
        assert!(by.ends_with('…'));
    }

    #[test]
    fn raw_rows() {
        let rows = display_rows(&layers(), false, false, NOW);
        assert_eq!(rows[0]["ID"], "sha256:0123456789abcdef");
        assert_eq!(rows[0]["CreatedSince"], "2023-11-14T20:13:20Z");
        assert_eq!(rows[1]["Size"], "4264000");
        assert!(rows[1]["CreatedBy"].as_str().unwrap().len() > CREATED_BY_WIDTH);
    }

    #[test]
    fn default_table_output() {
        let rows = display_rows(&layers()[..1], true, true, NOW);
        let out = Format::parse(TABLE, TABLE)
            .unwrap()
            .render(&rows, HEADERS)
            .unwrap();
        assert_eq!(
            out,
            "IMAGE          CREATED       CREATED BY                     SIZE      COMMENT\n\
             0123456789ab   2 hours ago   /bin/sh -c #(nop) CMD [\"sh\"]   0B        \n"
        );
    }
}
