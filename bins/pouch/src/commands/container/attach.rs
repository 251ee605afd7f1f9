//! `pouch attach`: connect the terminal to a running container's streams.

use anyhow::{Result, bail};
use clap::Args;
use pouch_client::encode_path;
use serde_json::Value;

use super::run::attach_path;
use super::stream::{self, Streams};
use super::{tty, waiting};
use crate::commands::Ctx;

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "BOOL")]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    detach_keys: Option<String>,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// docker's checks before attaching: only a running, unpaused container has live streams.
fn check_state(c: &Value) -> Result<()> {
    let state = |k: &str| c.pointer(&format!("/State/{k}")).and_then(Value::as_bool) == Some(true);
    if !state("Running") {
        bail!("You cannot attach to a stopped container, start it first");
    }
    if state("Paused") {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    if state("Restarting") {
        bail!("You cannot attach to a restarting container, wait until it is running");
    }
    Ok(())
}

pub async fn run(ctx: &mut Ctx, args: AttachArgs) -> Result<()> {
    let client = ctx.client().await?.clone();
    let inspect_path = format!("/containers/{}/json", encode_path(&args.container));
    // The wait goes first so that an exit during the attach is still seen.
    let wait = waiting::wait_exit_or_removed_any(&client, &args.container).await;
    let c = client.get_json(&inspect_path).await?;
    check_state(&c)?;
    let flag = |p: &str| c.pointer(p).and_then(Value::as_bool).unwrap_or(false);
    let tty_mode = flag("/Config/Tty");
    tty::check_tty(!args.no_stdin, tty_mode)?;
    let id = c["Id"].as_str().unwrap_or(&args.container).to_owned();
    let stdin = !args.no_stdin && flag("/Config/OpenStdin");
    let proxy =
        (args.sig_proxy && !tty_mode).then(|| waiting::forward_signals(client.clone(), id.clone()));
    let path = attach_path(&id, stdin, true, true, args.detach_keys.as_deref());
    let conn = client.hijack(&path, None).await?;
    // It may have stopped between the check and the attach, which would then wait forever.
    check_state(&client.get_json(&inspect_path).await?)?;
    let prefix = format!("/containers/{}", encode_path(&id));
    let resizer = match tty::size().filter(|_| tty_mode) {
        Some((h, w)) => {
            // A resize to the same size is a no-op; bumping it first makes the shell redraw
            // its prompt, so a second attach does not look dead.
            let _ = tty::resize(&client, &prefix, h.saturating_add(1), w.saturating_add(1)).await;
            Some(tty::monitor(client.clone(), prefix))
        }
        None => None,
    };
    let streams = Streams {
        stdin,
        tty: tty_mode,
        detach_keys: args.detach_keys.clone(),
    };
    let outcome = stream::stream(conn, &streams).await;
    waiting::conclude([resizer, proxy], outcome, wait).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refuses_containers_without_live_streams() {
        let err = |v: Value| check_state(&v).unwrap_err().to_string();
        assert_eq!(
            err(json!({"State": {"Running": false}})),
            "You cannot attach to a stopped container, start it first"
        );
        assert_eq!(
            err(json!({"State": {"Running": true, "Paused": true}})),
            "You cannot attach to a paused container, unpause it first"
        );
        assert_eq!(
            err(json!({"State": {"Running": true, "Restarting": true}})),
            "You cannot attach to a restarting container, wait until it is running"
        );
        assert!(check_state(&json!({"State": {"Running": true}})).is_ok());
    }
}
