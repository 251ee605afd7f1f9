//! `pouch image …`: the image command group.

pub mod history;
pub mod import;
pub mod inspect;
pub mod list;
pub mod load;
pub mod prune;
pub mod pull;
pub mod push;
pub mod remove;
pub mod save;
pub mod tag;

use anyhow::Result;
use clap::Subcommand;

use super::Ctx;

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(list::ListArgs),
    /// Display detailed information on one or more images
    Inspect(inspect::ImageInspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(tag::TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove", visible_alias = "rmi")]
    Rm(remove::RemoveArgs),
    /// Show the history of an image
    History(history::HistoryArgs),
    /// Load an image from a tar archive or STDIN
    Load(load::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(save::SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(import::ImportArgs),
    /// Remove unused images
    Prune(prune::PruneArgs),
    /// Download an image from a registry
    Pull(pull::PullArgs),
    /// Upload an image to a registry
    Push(push::PushArgs),
}

pub async fn run(ctx: &mut Ctx, cmd: ImageCommand) -> Result<()> {
    match cmd {
        ImageCommand::Ls(args) => list::run(ctx, args).await,
        ImageCommand::Inspect(args) => inspect::run(ctx, args).await,
        ImageCommand::Tag(args) => tag::run(ctx, args).await,
        ImageCommand::Rm(args) => remove::run(ctx, args).await,
        ImageCommand::History(args) => history::run(ctx, args).await,
        ImageCommand::Load(args) => load::run(ctx, args).await,
        ImageCommand::Save(args) => save::run(ctx, args).await,
        ImageCommand::Import(args) => import::run(ctx, args).await,
        ImageCommand::Prune(args) => prune::run(ctx, args).await,
        ImageCommand::Pull(args) => pull::run(ctx, args).await,
        ImageCommand::Push(args) => push::run(ctx, args).await,
    }
}
