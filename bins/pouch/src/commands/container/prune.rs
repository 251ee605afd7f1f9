//! `pouch container prune`.

use anyhow::Result;
use clap::Args;

use crate::commands::{Ctx, prune};
use crate::filters::Filters;
use crate::output;

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
}

const WARNING: &str = "WARNING! This will remove all stopped containers.";

pub async fn run(ctx: &mut Ctx, args: PruneArgs) -> Result<()> {
    let filters = Filters::parse(&args.filter)?;
    if !prune::confirmed(args.force, WARNING)? {
        return Ok(());
    }
    let report = prune::post(ctx.client().await?, "containers", &filters).await?;
    let deleted = &report["ContainersDeleted"];
    output::print(&prune::report("Deleted Containers", deleted, &report))
}
