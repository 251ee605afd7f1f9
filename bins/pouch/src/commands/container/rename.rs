//! `pouch rename OLD NEW`.

use anyhow::{Result, bail};
use clap::Args;
use pouch_client::{Query, encode_path};

use crate::commands::Ctx;

#[derive(Debug, Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    old: String,
    #[arg(value_name = "NEW_NAME")]
    new: String,
}

pub async fn run(ctx: &mut Ctx, args: RenameArgs) -> Result<()> {
    let (old, new) = (args.old.trim(), args.new.trim());
    if old.is_empty() || new.is_empty() {
        bail!("Error: Neither old nor new names may be empty");
    }
    let mut q = Query::new();
    q.push("name", new);
    let path = format!(
        "/containers/{}/rename{}",
        encode_path(old),
        q.to_query_string()
    );
    ctx.client().await?.post_json(&path, None).await?;
    Ok(())
}
