//! `pouch container inspect`.

use anyhow::Result;
use clap::Args;

use crate::commands::Ctx;
use crate::commands::inspect::{Kind, inspect_objects};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    format: Option<String>,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: InspectArgs) -> Result<()> {
    let client = ctx.client().await?;
    inspect_objects(
        client,
        &args.containers,
        args.format.as_deref(),
        Kind::Container,
        args.size,
    )
    .await
}
