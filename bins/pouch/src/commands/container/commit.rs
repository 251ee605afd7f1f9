//! `pouch commit`: a new image from a container's changes.

use anyhow::{Result, anyhow};
use clap::Args;
use pouch_client::Query;
use serde_json::Value;

use crate::commands::Ctx;
use crate::output;
use crate::reference::parse_target;

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change", value_name = "CHANGE")]
    change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "BOOL")]
    pause: bool,
    #[arg(value_name = "CONTAINER")]
    container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

fn query(args: &CommitArgs) -> Result<String> {
    let mut q = Query::new();
    q.push("container", args.container.as_str());
    if let Some(r) = args.reference.as_deref().filter(|r| !r.is_empty()) {
        let (repo, tag) = parse_target(r)?;
        q.push("repo", repo).push("tag", tag);
    }
    if let Some(m) = &args.message {
        q.non_empty("comment", m);
    }
    if let Some(a) = &args.author {
        q.non_empty("author", a);
    }
    for c in &args.change {
        q.push("changes", c.as_str());
    }
    if !args.pause {
        q.push("pause", "0");
    }
    Ok(q.to_query_string())
}

pub async fn run(ctx: &mut Ctx, args: CommitArgs) -> Result<()> {
    let path = format!("/commit{}", query(&args)?);
    let resp = ctx.client().await?.post_json(&path, None).await?;
    let id = resp
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the daemon returned no image id"))?;
    output::print(&format!("{id}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CommitArgs,
    }

    fn q(argv: &[&str]) -> String {
        let cli =
            Cli::try_parse_from(std::iter::once("commit").chain(argv.iter().copied())).unwrap();
        query(&cli.args).unwrap()
    }

    #[test]
    fn builds_commit_queries() {
        assert_eq!(q(&["c1"]), "?container=c1");
        assert_eq!(
            q(&[
                "-m",
                "msg",
                "-a",
                "me",
                "-c",
                "ENV A=1",
                "--pause=false",
                "c1",
                "app"
            ]),
            "?container=c1&repo=app&tag=latest&comment=msg&author=me&changes=ENV%20A%3D1&pause=0"
        );
        assert_eq!(
            q(&["c1", "localhost:5000/app:v2"]),
            "?container=c1&repo=localhost%3A5000%2Fapp&tag=v2"
        );
    }
}
