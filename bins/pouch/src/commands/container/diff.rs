//! `pouch diff`: files changed in a container's filesystem since it was created.

use anyhow::Result;
use clap::Args;
use pouch_client::encode_path;
use serde_json::Value;

use crate::commands::Ctx;
use crate::output;

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// One line per change: `C` changed, `A` added, `D` deleted, then the path.
fn render(changes: &Value) -> String {
    let mut out = String::new();
    for change in changes.as_array().map(Vec::as_slice).unwrap_or_default() {
        let kind = match change.get("Kind").and_then(Value::as_u64) {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        let path = change
            .get("Path")
            .and_then(Value::as_str)
            .unwrap_or_default();
        out.push_str(&format!("{kind} {path}\n"));
    }
    out
}

pub async fn run(ctx: &mut Ctx, args: DiffArgs) -> Result<()> {
    let path = format!("/containers/{}/changes", encode_path(&args.container));
    let changes = ctx.client().await?.get_json(&path).await?;
    output::print(&render(&changes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_changes() {
        let changes = json!([
            {"Path": "/tmp", "Kind": 0},
            {"Path": "/tmp/new", "Kind": 1},
            {"Path": "/etc/motd", "Kind": 2}
        ]);
        assert_eq!(render(&changes), "C /tmp\nA /tmp/new\nD /etc/motd\n");
        assert_eq!(render(&Value::Null), "");
    }
}
