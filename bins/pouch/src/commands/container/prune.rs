//! `pouch container prune`.

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
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
}

const WARNING: &str = "WARNING! This will remove all stopped containers.";

pub async fn run(ctx: &mut Ctx, args: PruneArgs) -> Result<()> {
    let filters = Filters::parse(&args.filter)?;
    if !args.force && !output::confirm(&format!("{WARNING}\nAre you sure you want to continue?"))? {
        return Ok(());
    }
    let mut q = Query::new();
    if !filters.is_empty() {
        q.push("filters", filters.to_json());
    }
    let path = format!("/containers/prune{}", q.to_query_string());
    let report = ctx.client().await?.post_json(&path, None).await?;
    output::print(&render_report(&report))
}

/// docker's summary: the deleted ids (if any), a blank line, and the space reclaimed.
fn render_report(report: &Value) -> String {
    let mut out = String::new();
    let deleted: Vec<&str> = report
        .get("ContainersDeleted")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted Containers:\n");
        for id in deleted {
            out.push_str(id);
            out.push('\n');
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
        assert_eq!(
            render_report(&json!({"ContainersDeleted": ["aaa", "bbb"], "SpaceReclaimed": 2048})),
            "Deleted Containers:\naaa\nbbb\n\nTotal reclaimed space: 2.048kB\n"
        );
        assert_eq!(
            render_report(&json!({"ContainersDeleted": null, "SpaceReclaimed": 0})),
            "Total reclaimed space: 0B\n"
        );
    }
}
