//! `pouch rmi` / `pouch image rm`.

use anyhow::Result;
use clap::Args;
use pouch_client::{Query, encode_path};
use serde_json::Value;

use crate::commands::Ctx;
use crate::exit::{collected, item_error};
use crate::output;

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// One line per response item: `Untagged: busybox:latest`, `Deleted: sha256:…`.
fn report_lines(items: &Value) -> String {
    let mut out = String::new();
    for item in items.as_array().map(Vec::as_slice).unwrap_or_default() {
        for key in ["Untagged", "Deleted"] {
            if let Some(v) = item.get(key).and_then(Value::as_str) {
                out.push_str(&format!("{key}: {v}\n"));
            }
        }
    }
    out
}

/// Removes every named image even when some fail, then exits 1 listing the failures, so one
/// typo does not leave the rest of a cleanup undone.
pub async fn run(ctx: &mut Ctx, args: RemoveArgs) -> Result<()> {
    let client = ctx.client().await?;
    let mut query = Query::new();
    query
        .flag("force", args.force)
        .flag("noprune", args.no_prune);
    let query = query.to_query_string();
    let mut errors = Vec::new();
    for name in &args.images {
        let path = format!("/images/{}{query}", encode_path(name));
        match client.delete_json(&path).await {
            Ok(items) => output::print(&report_lines(&items))?,
            Err(e) => errors.push(item_error(e)?),
        }
    }
    collected(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_untagged_then_deleted() {
        let items = json!([
            {"Untagged": "busybox:latest"},
            {"Untagged": "busybox@sha256:feed"},
            {"Deleted": "sha256:0123"}
        ]);
        assert_eq!(
            report_lines(&items),
            "Untagged: busybox:latest\nUntagged: busybox@sha256:feed\nDeleted: sha256:0123\n"
        );
        assert_eq!(report_lines(&Value::Null), "");
    }
}
