//! Waiting for a container to exit (`run`, `start -a`, `attach`) and proxying the CLI's
//! signals to it meanwhile.

use pouch_client::{Client, encode_path};
use serde_json::Value;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

use super::stream::Outcome;
use crate::exit::{container_exit, describe};

/// The exit code a wait resolves to, docker's way: the container's status, or 125 when the
/// wait itself failed. The failure is reported on stderr only when the code is asked for, so an
/// abandoned wait (the container was never started) stays quiet.
pub struct ExitWait(JoinHandle<(Result<i64, String>, Option<i64>)>);

impl ExitWait {
    pub async fn code(self) -> i64 {
        match self.0.await {
            Ok((Ok(code), _)) => code,
            Ok((Err(message), _)) => {
                eprintln!("{message}");
                125
            }
            Err(_) => 125,
        }
    }

    /// The status code the daemon answered, even alongside an error (a start that failed
    /// answers its waiters with the code it recorded and the failure); the error is reported
    /// on stderr as by [`ExitWait::code`].
    pub async fn recorded(self) -> Option<i64> {
        let (result, status) = self.0.await.ok()?;
        if let Err(message) = result {
            eprintln!("{message}");
        }
        status
    }
}

/// Ends an attachment: stops the helper tasks (resizer, signal proxy), then returns like
/// docker — quietly after a detach, else with the container's exit status.
pub async fn conclude(
    helpers: impl IntoIterator<Item = Option<JoinHandle<()>>>,
    outcome: anyhow::Result<Outcome>,
    wait: ExitWait,
) -> anyhow::Result<()> {
    for helper in helpers.into_iter().flatten() {
        helper.abort();
    }
    if outcome? == Outcome::Detached {
        return Ok(());
    }
    container_exit(wait.code().await)
}

/// What a `/wait` response says: the status, or the daemon's error message.
pub fn wait_result(v: &Value) -> Result<i64, String> {
    let message = v
        .pointer("/Error/Message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty());
    match message {
        Some(m) => Err(m.to_owned()),
        None => Ok(v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0)),
    }
}

/// Registers a wait for the container's next exit (or its removal, with `--rm`) and returns
/// once the daemon has accepted it, so a start that follows cannot race past the exit.
pub async fn wait_exit_or_removed(client: &Client, id: &str, removed: bool) -> ExitWait {
    let condition = if removed { "removed" } else { "next-exit" };
    wait_path(
        client,
        format!("/containers/{}/wait?condition={condition}", encode_path(id)),
    )
    .await
}

/// A wait with the default condition (`not-running`), as `attach` uses.
pub async fn wait_exit_or_removed_any(client: &Client, id: &str) -> ExitWait {
    wait_path(client, format!("/containers/{}/wait", encode_path(id))).await
}

async fn wait_path(client: &Client, path: String) -> ExitWait {
    let pending = client.post_deferred(&path).await;
    ExitWait(tokio::spawn(async move {
        let result = match pending {
            Ok(p) => p.json().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => (
                wait_result(&v).map_err(|m| format!("Error waiting for container: {m}")),
                v.get("StatusCode").and_then(Value::as_i64),
            ),
            Err(e) => (
                Err(format!(
                    "error waiting for container: {}",
                    describe(&e.into())
                )),
                None,
            ),
        }
    }))
}

/// docker's sig-proxy: signals sent to the CLI are passed on to the container, so ctrl-c in a
/// non-TTY `run` interrupts the container's process rather than only the client.
pub fn forward_signals(client: Client, id: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (kind, name) in kinds {
            let Ok(mut s) = signal(kind) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            let path = format!("/containers/{}/kill?signal={name}", encode_path(&id));
            if let Err(e) = client.post_json(&path, None).await {
                tracing::debug!(error = %e, signal = name, "forwarding signal");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wait_results() {
        assert_eq!(wait_result(&json!({"StatusCode": 3})), Ok(3));
        assert_eq!(wait_result(&json!({"StatusCode": 0, "Error": null})), Ok(0));
        assert_eq!(
            wait_result(&json!({"StatusCode": 0, "Error": {"Message": ""}})),
            Ok(0)
        );
        assert_eq!(
            wait_result(&json!({"StatusCode": 137, "Error": {"Message": "boom"}})),
            Err("boom".to_owned())
        );
    }
}
