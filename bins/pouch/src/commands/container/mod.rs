//! `pouch container …` and its top-level shortcuts (`run`, `ps`, `exec`, …).
//!
//! One file per command; `opts`/`config`/`parse`/`ports` turn `create`/`run` flags into the
//! create body, `stream`/`tty`/`waiting` drive attached containers.

mod archive;
pub mod attach;
pub mod commit;
mod config;
pub mod cp;
pub mod create;
pub mod diff;
mod envs;
pub mod exec;
pub mod export;
pub mod inspect;
pub mod kill;
mod limits;
pub mod list;
pub mod logs;
mod netopts;
mod opts;
mod parse;
pub mod pause;
pub mod port;
mod ports;
pub mod prune;
pub mod rename;
pub mod rm;
pub mod run;
mod security;
pub mod start;
pub mod stats;
pub mod stop;
mod storage;
mod stream;
pub mod top;
mod tty;
pub mod update;
pub mod wait;
mod waiting;

use anyhow::Result;
use clap::Subcommand;
use pouch_client::Client;

use super::Ctx;
use crate::exit::{collected, item_error};
use crate::output;

/// `POST`s `path(name)` for every container, printing each name that worked and failing at the
/// end with one line per container that did not (docker's stop/kill/pause reporting).
pub(crate) async fn post_each(
    client: &Client,
    names: &[String],
    path: impl Fn(&str) -> String,
) -> Result<()> {
    let mut errors = Vec::new();
    for name in names {
        match client.post_json(&path(name), None).await {
            Ok(_) => output::print(&format!("{name}\n"))?,
            Err(e) => errors.push(item_error(e)?),
        }
    }
    collected(errors)
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Create a new image from a container's changes
    Commit(commit::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Create a new container
    Create(create::CreateArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(diff::DiffArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Export a container's filesystem as a tar archive
    Export(export::ExportArgs),
    /// Display detailed information on one or more containers
    Inspect(inspect::InspectArgs),
    /// Kill one or more running containers
    Kill(kill::KillArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// List containers
    #[command(visible_alias = "list", visible_alias = "ps")]
    Ls(list::ListArgs),
    /// Pause all processes within one or more containers
    Pause(pause::PauseArgs),
    /// List port mappings or a specific mapping for the container
    Port(port::PortArgs),
    /// Remove all stopped containers
    Prune(prune::PruneArgs),
    /// Rename a container
    Rename(rename::RenameArgs),
    /// Restart one or more containers
    Restart(stop::StopArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(rm::RmArgs),
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Start one or more stopped containers
    Start(start::StartArgs),
    /// Stop one or more running containers
    Stop(stop::StopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Display the running processes of a container
    Top(top::TopArgs),
    /// Update configuration of one or more containers
    Update(update::UpdateArgs),
    /// Unpause all processes within one or more containers
    Unpause(pause::PauseArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(wait::WaitArgs),
}

pub async fn run(ctx: &mut Ctx, cmd: ContainerCommand) -> Result<()> {
    match cmd {
        ContainerCommand::Attach(a) => attach::run(ctx, a).await,
        ContainerCommand::Commit(a) => commit::run(ctx, a).await,
        ContainerCommand::Cp(a) => cp::run(ctx, a).await,
        ContainerCommand::Create(a) => create::run(ctx, a).await,
        ContainerCommand::Diff(a) => diff::run(ctx, a).await,
        ContainerCommand::Exec(a) => exec::run(ctx, a).await,
        ContainerCommand::Export(a) => export::run(ctx, a).await,
        ContainerCommand::Inspect(a) => inspect::run(ctx, a).await,
        ContainerCommand::Kill(a) => kill::run(ctx, a).await,
        ContainerCommand::Logs(a) => logs::run(ctx, a).await,
        ContainerCommand::Ls(a) => list::run(ctx, a).await,
        ContainerCommand::Pause(a) => pause::pause(ctx, a).await,
        ContainerCommand::Port(a) => port::run(ctx, a).await,
        ContainerCommand::Prune(a) => prune::run(ctx, a).await,
        ContainerCommand::Rename(a) => rename::run(ctx, a).await,
        ContainerCommand::Restart(a) => stop::restart(ctx, a).await,
        ContainerCommand::Rm(a) => rm::run(ctx, a).await,
        ContainerCommand::Run(a) => run::run(ctx, a).await,
        ContainerCommand::Start(a) => start::run(ctx, a).await,
        ContainerCommand::Stop(a) => stop::stop(ctx, a).await,
        ContainerCommand::Stats(a) => stats::run(ctx, a).await,
        ContainerCommand::Top(a) => top::run(ctx, a).await,
        ContainerCommand::Update(a) => update::run(ctx, a).await,
        ContainerCommand::Unpause(a) => pause::unpause(ctx, a).await,
        ContainerCommand::Wait(a) => wait::run(ctx, a).await,
    }
}
