//! `pouch tag` / `pouch image tag`.

use anyhow::Result;
use clap::Args;
use pouch_client::{Query, encode_path};

use crate::commands::Ctx;
use crate::reference::parse_target;

#[derive(Debug, Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

pub async fn run(ctx: &mut Ctx, args: TagArgs) -> Result<()> {
    // Split on our side, like docker's client: the API takes `repo` and `tag` separately.
    let (repo, tag) = parse_target(&args.target)?;
    let mut query = Query::new();
    query.push("repo", repo).push("tag", tag);
    let path = format!(
        "/images/{}/tag{}",
        encode_path(&args.source),
        query.to_query_string()
    );
    ctx.client().await?.post_json(&path, None).await?;
    Ok(())
}
