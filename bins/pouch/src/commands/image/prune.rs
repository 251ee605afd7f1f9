//! `pouch image prune`.

use anyhow::Result;
use clap::Args;
use pouch_client::Query;
use serde_json::Value;

use crate::commands::Ctx;
use crate::filters::Filters;
use crate::output;
use crate::units;

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
}

const WARNING_DANGLING: &str = "WARNING! This will remove all dangling images.";
const WARNING_ALL: &str =
    "WARNING! This will remove all images without at least one container associated to them.";

pub async fn run(ctx: &mut Ctx, args: PruneArgs) -> Result<()> {
    let mut filters = Filters::parse(&args.filter)?;
    // docker always states the dangling filter: true by default, false with --all.
    filters.add("dangling", if args.all { "false" } else { "true" });
    if !args.force {
        let warning = if args.all {
            WARNING_ALL
        } else {
            WARNING_DANGLING
        };
        if !output::confirm(&format!("{warning}\nAre you sure you want to continue?"))? {
            return Ok(());
        }
    }
    let mut query = Query::new();
    query.push("filters", filters.to_json());
    let path = format!("/images/prune{}", query.to_query_string());
    let report = ctx.client().await?.post_json(&path, None).await?;
    output::print(&render_report(&report))
}

/// docker's prune summary: the deleted images (if any), a blank line, and the space reclaimed.
fn render_report(report: &Value) -> String {
    let mut out = String::new();
    let deleted = report
        .get("ImagesDeleted")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted Images:\n");
        for item in deleted {
            let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
            if !s("Untagged").is_empty() {
                out.push_str(&format!("untagged: {}\n", s("Untagged")));
            } else {
                out.push_str(&format!("deleted: {}\n", s("Deleted")));
            }
        }
        out.push('\n');
    }
    out.push_str(&units::reclaimed_space(report));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_docker() {
        let report = json!({
            "ImagesDeleted": [{"Untagged": "a:latest"}, {"Deleted": "sha256:0123"}],
            "SpaceReclaimed": 1_234_567
        });
        assert_eq!(
            render_report(&report),
            "Deleted Images:\nuntagged: a:latest\ndeleted: sha256:0123\n\nTotal reclaimed space: 1.235MB\n"
        );
        assert_eq!(
            render_report(&json!({"ImagesDeleted": null, "SpaceReclaimed": 0})),
            "Total reclaimed space: 0B\n"
        );
    }
}
