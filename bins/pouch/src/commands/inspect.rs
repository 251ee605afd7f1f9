//! `pouch inspect`: low-level information on any object. Only images exist so far; containers,
//! volumes and networks join here as the daemon learns them.

use anyhow::{Result, bail};
use clap::Args;

use super::Ctx;
use super::image::inspect::inspect_images;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    format: Option<String>,
    /// Return JSON for the specified type (only "image" for now)
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Display total file sizes if the type is container (accepted for compatibility)
    #[arg(short, long)]
    size: bool,
    #[arg(required = true, value_name = "NAME|ID")]
    names: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: InspectArgs) -> Result<()> {
    match args.kind.as_deref() {
        None | Some("image") => {}
        Some(other) => bail!("\"{other}\" is not a valid value for --type"),
    }
    let _ = args.size;
    inspect_images(ctx.client().await?, &args.names, args.format.as_deref()).await
}
