//! `pouch pause` and `pouch unpause`.

use anyhow::Result;
use clap::Args;
use pouch_client::encode_path;

use super::post_each;
use crate::commands::Ctx;

#[derive(Debug, Args)]
pub struct PauseArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

async fn each(ctx: &mut Ctx, action: &str, args: PauseArgs) -> Result<()> {
    let client = ctx.client().await?;
    post_each(client, &args.containers, |name| {
        format!("/containers/{}/{action}", encode_path(name))
    })
    .await
}

pub async fn pause(ctx: &mut Ctx, args: PauseArgs) -> Result<()> {
    each(ctx, "pause", args).await
}

pub async fn unpause(ctx: &mut Ctx, args: PauseArgs) -> Result<()> {
    each(ctx, "unpause", args).await
}
