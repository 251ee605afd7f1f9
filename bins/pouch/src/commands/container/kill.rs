//! `pouch kill`.

use anyhow::Result;
use clap::Args;
use pouch_client::{Query, encode_path};

use super::post_each;
use crate::commands::Ctx;
use crate::signal::normalize_signal;

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container (name, with or without SIG, or number; default KILL)
    #[arg(short = 's', long, value_name = "SIGNAL")]
    signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: KillArgs) -> Result<()> {
    let mut q = Query::new();
    if let Some(s) = &args.signal {
        q.push("signal", normalize_signal(s)?);
    }
    let query = q.to_query_string();
    let client = ctx.client().await?;
    post_each(client, &args.containers, |name| {
        format!("/containers/{}/kill{query}", encode_path(name))
    })
    .await
}
