//! `pouch rm` / `pouch container rm`.

use anyhow::{Result, bail};
use clap::Args;
use pouch_client::{Query, encode_path};

use crate::commands::Ctx;
use crate::exit::{collected, daemon_error, item_error};
use crate::output;

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    /// Remove the specified link
    #[arg(short, long)]
    link: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: RmArgs) -> Result<()> {
    let mut q = Query::new();
    q.flag("v", args.volumes)
        .flag("link", args.link)
        .flag("force", args.force);
    let query = q.to_query_string();
    let client = ctx.client().await?;
    let mut errors = Vec::new();
    for name in &args.containers {
        let trimmed = name.trim_matches('/');
        if trimmed.is_empty() {
            bail!("Container name cannot be empty");
        }
        let path = format!("/containers/{}{query}", encode_path(trimmed));
        match client.delete_json(&path).await {
            Ok(_) => output::print(&format!("{name}\n"))?,
            // `rm -f` of something already gone is not a failure, as with docker.
            Err(pouch_client::Error::Api {
                status: 404,
                message,
            }) if args.force => eprintln!("{}", daemon_error(&message)),
            Err(e) => errors.push(item_error(e)?),
        }
    }
    collected(errors)
}
