//! `pouch wait`: blocks until the containers stop, printing each exit code.

use anyhow::Result;
use clap::Args;
use pouch_client::encode_path;

use super::waiting::wait_result;
use crate::commands::Ctx;
use crate::exit::{collected, item_error};
use crate::output;

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: WaitArgs) -> Result<()> {
    let client = ctx.client().await?;
    let mut errors = Vec::new();
    for name in &args.containers {
        let path = format!("/containers/{}/wait", encode_path(name));
        match client.post_json(&path, None).await {
            Ok(v) => match wait_result(&v) {
                Ok(code) => output::print(&format!("{code}\n"))?,
                Err(message) => errors.push(message),
            },
            Err(e) => errors.push(item_error(e)?),
        }
    }
    collected(errors)
}
