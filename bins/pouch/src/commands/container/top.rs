//! `pouch top`: the processes of a container.

use anyhow::Result;
use clap::Args;
use pouch_client::{Query, encode_path};
use serde_json::Value;

use crate::commands::Ctx;
use crate::format::align_with;
use crate::output;

#[derive(Debug, Args)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Options passed to ps
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PS OPTIONS"
    )]
    ps_args: Vec<String>,
}

/// docker's table: tab-separated titles and rows through a tabwriter with a 20-column minimum.
fn render(top: &Value) -> String {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut text = strings(&top["Titles"]).join("\t");
    text.push('\n');
    for row in top["Processes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        text.push_str(&strings(row).join("\t"));
        text.push('\n');
    }
    align_with(&text, 20)
}

pub async fn run(ctx: &mut Ctx, args: TopArgs) -> Result<()> {
    let mut q = Query::new();
    if !args.ps_args.is_empty() {
        q.push("ps_args", args.ps_args.join(" "));
    }
    let path = format!(
        "/containers/{}/top{}",
        encode_path(&args.container),
        q.to_query_string()
    );
    let top = ctx.client().await?.get_json(&path).await?;
    output::print(&render(&top))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_docker() {
        let top = json!({
            "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            "Processes": [["root", "4242", "4200", "0", "10:00", "?", "00:00:00", "sleep 100"]]
        });
        assert_eq!(
            render(&top),
            "UID                 PID                 PPID                C                   STIME               TTY                 TIME                CMD\n\
             root                4242                4200                0                   10:00               ?                   00:00:00            sleep 100\n"
        );
    }
}
