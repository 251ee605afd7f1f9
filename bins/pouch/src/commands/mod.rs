//! The command tree. One module per command group; each command is an `Args` struct and an
//! async `run`. Top-level shortcuts (`images`, `rmi`, `tag`, `run`, `ps`, …) reuse the groups'
//! code.

pub mod completion;
mod container;
pub mod examples;
mod image;
mod info;
mod inspect;
mod login;
mod network;
mod prune;
mod system;
mod version;
mod volume;

use anyhow::Result;
use clap::Subcommand;
use pouch_client::Client;

use container as c;

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
    /// Download an image from a registry
    Pull(image::pull::PullArgs),
    /// Upload an image to a registry
    Push(image::push::PushArgs),
    /// Log in to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(login::LogoutArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(c::ContainerCommand),
    /// Create and run a new container from an image
    Run(c::run::RunArgs),
    /// Create a new container
    Create(c::create::CreateArgs),
    /// Start one or more stopped containers
    Start(c::start::StartArgs),
    /// Stop one or more running containers
    Stop(c::stop::StopArgs),
    /// Restart one or more containers
    Restart(c::stop::StopArgs),
    /// Kill one or more running containers
    Kill(c::kill::KillArgs),
    /// Remove one or more containers
    Rm(c::rm::RmArgs),
    /// Pause all processes within one or more containers
    Pause(c::pause::PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(c::pause::PauseArgs),
    /// Rename a container
    Rename(c::rename::RenameArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(c::wait::WaitArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(c::attach::AttachArgs),
    /// Fetch the logs of a container
    Logs(c::logs::LogsArgs),
    /// List containers
    Ps(c::list::ListArgs),
    /// Execute a command in a running container
    Exec(c::exec::ExecArgs),
    /// Display the running processes of a container
    Top(c::top::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(c::stats::StatsArgs),
    /// Update configuration of one or more containers
    Update(c::update::UpdateArgs),
    /// List port mappings or a specific mapping for the container
    Port(c::port::PortArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(c::cp::CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(c::export::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(c::diff::DiffArgs),
    /// Create a new image from a container's changes
    Commit(c::commit::CommitArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage pouch (disk usage, prune, info)
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Generate a shell completion script (bash, zsh, fish)
    Completion(completion::CompletionArgs),
}

pub async fn run(ctx: &mut Ctx, command: Command) -> Result<()> {
    match command {
        Command::Version(args) => version::run(ctx, args).await,
        Command::Info(args) => info::run(ctx, args).await,
        Command::Image(cmd) => image::run(ctx, cmd).await,
        Command::Network(cmd) => network::run(ctx, cmd).await,
        Command::Volume(cmd) => volume::run(ctx, cmd).await,
        Command::System(cmd) => system::run(ctx, cmd).await,
        // Handled in main, which owns the top-level command definition.
        Command::Completion(_) => Ok(()),
        Command::Images(args) => image::list::run(ctx, args).await,
        Command::Inspect(args) => inspect::run(ctx, args).await,
        Command::Tag(args) => image::tag::run(ctx, args).await,
        Command::Rmi(args) => image::remove::run(ctx, args).await,
        Command::History(args) => image::history::run(ctx, args).await,
        Command::Load(args) => image::load::run(ctx, args).await,
        Command::Save(args) => image::save::run(ctx, args).await,
        Command::Import(args) => image::import::run(ctx, args).await,
        Command::Pull(args) => image::pull::run(ctx, args).await,
        Command::Push(args) => image::push::run(ctx, args).await,
        Command::Login(args) => login::login(ctx, args).await,
        Command::Logout(args) => login::logout(ctx, args).await,
        Command::Container(cmd) => c::run(ctx, cmd).await,
        Command::Run(args) => c::run::run(ctx, args).await,
        Command::Create(args) => c::create::run(ctx, args).await,
        Command::Start(args) => c::start::run(ctx, args).await,
        Command::Stop(args) => c::stop::stop(ctx, args).await,
        Command::Restart(args) => c::stop::restart(ctx, args).await,
        Command::Kill(args) => c::kill::run(ctx, args).await,
        Command::Rm(args) => c::rm::run(ctx, args).await,
        Command::Pause(args) => c::pause::pause(ctx, args).await,
        Command::Unpause(args) => c::pause::unpause(ctx, args).await,
        Command::Rename(args) => c::rename::run(ctx, args).await,
        Command::Wait(args) => c::wait::run(ctx, args).await,
        Command::Attach(args) => c::attach::run(ctx, args).await,
        Command::Logs(args) => c::logs::run(ctx, args).await,
        Command::Ps(args) => c::list::run(ctx, args).await,
        Command::Exec(args) => c::exec::run(ctx, args).await,
        Command::Top(args) => c::top::run(ctx, args).await,
        Command::Stats(args) => c::stats::run(ctx, args).await,
        Command::Update(args) => c::update::run(ctx, args).await,
        Command::Port(args) => c::port::run(ctx, args).await,
        Command::Cp(args) => c::cp::run(ctx, args).await,
        Command::Export(args) => c::export::run(ctx, args).await,
        Command::Diff(args) => c::diff::run(ctx, args).await,
        Command::Commit(args) => c::commit::run(ctx, args).await,
    }
}
