//! `pouch image prune`.

use anyhow::Result;
use clap::Args;

use crate::commands::{Ctx, prune};
use crate::filters::Filters;
use crate::output;

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
}

const WARNING_DANGLING: &str = "WARNING! This will remove all dangling images.";
const WARNING_ALL: &str =
    "WARNING! This will remove all images without at least one container associated to them.";

pub async fn run(ctx: &mut Ctx, args: PruneArgs) -> Result<()> {
    let mut filters = Filters::parse(&args.filter)?;
    // docker always states the dangling filter: true by default, false with --all.
    filters.add("dangling", if args.all { "false" } else { "true" });
    let warning = if args.all {
        WARNING_ALL
    } else {
        WARNING_DANGLING
    };
    if !prune::confirmed(args.force, warning)? {
        return Ok(());
    }
    let report = prune::post(ctx.client().await?, "images", &filters).await?;
    let deleted = &report["ImagesDeleted"];
    output::print(&prune::report("Deleted Images", deleted, &report))
}
