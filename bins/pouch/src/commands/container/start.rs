//! `pouch start` / `pouch container start`.

use anyhow::{Result, bail};
use clap::Args;
use pouch_client::{Client, encode_path};
use serde_json::Value;

use super::run::attach_path;
use super::stream::{self, Outcome, Streams};
use super::{tty, waiting};
use crate::commands::Ctx;
use crate::exit::{StatusError, describe};
use crate::output;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: StartArgs) -> Result<()> {
    let client = ctx.client().await?.clone();
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        return start_attached(&client, &args).await;
    }
    // Each container is tried; failures are printed as they happen and summed up at the end.
    let mut failed = Vec::new();
    for name in &args.containers {
        let path = format!("/containers/{}/start", encode_path(name));
        match client.post_json(&path, None).await {
            Ok(_) => output::print(&format!("{name}\n"))?,
            Err(e @ pouch_client::Error::Api { .. }) => {
                eprintln!("{}", describe(&e.into()));
                failed.push(name.as_str());
            }
            Err(e) => return Err(e.into()),
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(StatusError {
        code: 1,
        message: format!("Error: failed to start containers: {}", failed.join(", ")),
    }
    .into())
}

/// docker's attached start: attach, wait, start, stream, exit with the container's status.
async fn start_attached(client: &Client, args: &StartArgs) -> Result<()> {
    let c = client
        .get_json(&format!(
            "/containers/{}/json",
            encode_path(&args.containers[0])
        ))
        .await?;
    let id = c["Id"].as_str().unwrap_or(&args.containers[0]).to_owned();
    let flag = |p: &str| c.pointer(p).and_then(Value::as_bool).unwrap_or(false);
    let tty_mode = flag("/Config/Tty");
    let stdin = args.interactive && flag("/Config/OpenStdin");
    let auto_remove = flag("/HostConfig/AutoRemove");
    tty::check_tty(stdin, tty_mode)?;
    let proxy = (!tty_mode).then(|| waiting::forward_signals(client.clone(), id.clone()));
    let path = attach_path(&id, stdin, true, true, args.detach_keys.as_deref());
    let conn = client.hijack(&path, None).await?;
    let streams = Streams {
        stdin,
        tty: tty_mode,
        detach_keys: args.detach_keys.clone(),
    };
    let streaming = tokio::spawn(async move { stream::stream(conn, &streams).await });
    let wait = waiting::wait_exit_or_removed(client, &id, auto_remove).await;
    if let Err(e) = client
        .post_json(&format!("/containers/{}/start", encode_path(&id)), None)
        .await
    {
        streaming.abort();
        let _ = streaming.await;
        if auto_remove {
            wait.code().await;
        }
        return Err(e.into());
    }
    let resizer = (tty_mode && tty::size().is_some())
        .then(|| tty::monitor(client.clone(), format!("/containers/{}", encode_path(&id))));
    let outcome = streaming.await.unwrap_or(Ok(Outcome::Finished));
    waiting::conclude([resizer, proxy], outcome, wait).await
}
