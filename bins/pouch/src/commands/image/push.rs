//! `pouch push` / `pouch image push`.

use anyhow::Result;
use clap::Args;
use pouch_client::{Query, encode_path};

use crate::commands::Ctx;
use crate::commands::login::auth_headers;
use crate::output;
use crate::reference::split_tag;

#[derive(Debug, Args)]
pub struct PushArgs {
    #[arg(value_name = "NAME[:TAG]")]
    name: String,
    /// Push all tags of the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
}

pub async fn run(ctx: &mut Ctx, args: PushArgs) -> Result<()> {
    let (name, tag) = split_tag(&args.name);
    let tag = match (tag, args.all_tags) {
        (Some(_), true) => anyhow::bail!("tag can't be used with --all-tags/-a"),
        (Some(t), false) => t.to_string(),
        (None, true) => String::new(),
        (None, false) => "latest".to_string(),
    };
    let mut query = Query::new();
    query.push("tag", tag.as_str());
    let path = format!(
        "/images/{}/push{}",
        encode_path(name),
        query.to_query_string()
    );
    let resp = ctx
        .client()
        .await?
        .post_stream_with_headers(&path, &auth_headers(name))
        .await?;
    output::show_messages(resp.json_messages(), args.quiet).await?;
    if args.quiet {
        return output::print(&format!("{}\n", args.name));
    }
    Ok(())
}
