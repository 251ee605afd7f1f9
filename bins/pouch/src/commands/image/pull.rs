//! `pouch pull` / `pouch image pull`.

use anyhow::{Result, bail};
use clap::Args;
use pouch_client::Query;

use crate::commands::Ctx;
use crate::commands::login::auth_headers;
use crate::output;
use crate::reference::{pull_params, split_tag};

#[derive(Debug, Args)]
pub struct PullArgs {
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
}

pub async fn run(ctx: &mut Ctx, args: PullArgs) -> Result<()> {
    let (from, tag) = pull_params(&args.name);
    let mut query = Query::new();
    query.push("fromImage", from.as_str());
    if args.all_tags {
        // No tag at all asks the daemon for every tag of the repository.
        if args.name.contains('@') || split_tag(&args.name).1.is_some() {
            bail!("tag can't be used with --all-tags/-a");
        }
    } else {
        query.push("tag", tag.as_str());
    }
    if let Some(p) = &args.platform {
        query.push("platform", p.as_str());
    }
    let path = format!("/images/create{}", query.to_query_string());
    let resp = ctx
        .client()
        .await?
        .post_stream_with_headers(&path, &auth_headers(&from))
        .await?;
    output::show_messages(resp.json_messages(), args.quiet).await?;
    // docker prints the full reference last, so scripts can read what was pulled.
    let shown = if args.all_tags {
        from.clone()
    } else if tag.starts_with("sha256:") {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    };
    output::print(&format!("{shown}\n"))
}
