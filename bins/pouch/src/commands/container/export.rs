//! `pouch export`: a container's filesystem as a tar archive.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use pouch_client::encode_path;

use crate::commands::Ctx;
use crate::commands::image::save::{copy, save_to_file};
use crate::output;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

pub async fn run(ctx: &mut Ctx, args: ExportArgs) -> Result<()> {
    let path = format!("/containers/{}/export", encode_path(&args.container));
    match &args.output {
        Some(dest) => save_to_file(ctx, &path, dest).await,
        None => {
            if output::stdout_is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let body = ctx.client().await?.get_stream(&path).await?;
            copy(body, &mut tokio::io::stdout()).await
        }
    }
}
