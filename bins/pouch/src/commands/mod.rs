//! The command tree. One module per command group; each command is an `Args` struct and an
//! async `run`. Top-level shortcuts (`images`, `rmi`, `tag`, …) reuse the `image` group's code.

mod image;
mod info;
mod inspect;
mod version;

use anyhow::Result;
use clap::Subcommand;
use pouch_client::Client;

/// Per-invocation state: the client, negotiated with the daemon on first use.
pub struct Ctx {
    client: Client,
    negotiated: bool,
    debug: bool,
}

impl Ctx {
    pub fn new(client: Client, debug: bool) -> Self {
        Ctx {
            client,
            negotiated: false,
            debug,
        }
    }

    /// The client, after agreeing on an API version with the daemon (once per run).
    pub async fn client(&mut self) -> Result<&Client> {
        if !self.negotiated {
            self.client.negotiate().await?;
            self.negotiated = true;
        }
        Ok(&self.client)
    }

    /// The client without contacting the daemon (for output that must work offline).
    pub fn offline_client(&self) -> &Client {
        &self.client
    }

    pub fn debug(&self) -> bool {
        self.debug
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the pouch version information
    Version(version::VersionArgs),
    /// Display system-wide information
    Info(info::InfoArgs),
    /// Manage images
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// List images
    Images(image::list::ListArgs),
    /// Return low-level information on pouch objects
    Inspect(inspect::InspectArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::tag::TagArgs),
    /// Remove one or more images
    Rmi(image::remove::RemoveArgs),
    /// Show the history of an image
    History(image::history::HistoryArgs),
    /// Load an image from a tar archive or STDIN
    Load(image::load::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image::save::SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::import::ImportArgs),
}

pub async fn run(ctx: &mut Ctx, command: Command) -> Result<()> {
    match command {
        Command::Version(args) => version::run(ctx, args).await,
        Command::Info(args) => info::run(ctx, args).await,
        Command::Image(cmd) => image::run(ctx, cmd).await,
        Command::Images(args) => image::list::run(ctx, args).await,
        Command::Inspect(args) => inspect::run(ctx, args).await,
        Command::Tag(args) => image::tag::run(ctx, args).await,
        Command::Rmi(args) => image::remove::run(ctx, args).await,
        Command::History(args) => image::history::run(ctx, args).await,
        Command::Load(args) => image::load::run(ctx, args).await,
        Command::Save(args) => image::save::run(ctx, args).await,
        Command::Import(args) => image::import::run(ctx, args).await,
    }
}
