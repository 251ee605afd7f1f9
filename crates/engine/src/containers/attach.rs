//! Attaching to a container's stdio. Before start the request waits; the shim connection is made
//! as soon as the shim exists, so no output of a `docker run` is lost.

use tokio::net::UnixStream;
use tokio::sync::oneshot;

use pouch_runtime::shim::ShimClient;

use super::ContainerStatus;
use super::Live;
use crate::Containers;
use crate::error::{Error, Result};

/// The shim's side of an attach: output frames out, stdin bytes in.
pub type AttachStream = UnixStream;

pub(crate) struct Pending {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tx: oneshot::Sender<AttachStream>,
}

impl Containers {
    /// Returns whether the container has a TTY and a receiver of the shim stream (ready at once
    /// for a running container, at start for a created one).
    pub async fn attach_container(
        &self,
        name: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<(bool, oneshot::Receiver<AttachStream>)> {
        let c = self.ctx.resolve_container(name)?;
        let live = self.live.get(&c.id);
        let (tx, rx) = oneshot::channel();
        let stdin = stdin && c.config.open_stdin;
        match (c.state.status, live.shim()) {
            (ContainerStatus::Running | ContainerStatus::Paused, Some(shim)) => {
                let s = shim
                    .attach(stdin, stdout, stderr)
                    .await
                    .map_err(|e| Error::internal(format!("attach: {e}")))?;
                let _ = tx.send(s);
            }
            (ContainerStatus::Created | ContainerStatus::Exited, _) => {
                live.pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Pending {
                        stdin,
                        stdout,
                        stderr,
                        tx,
                    });
            }
            (s, _) => return Err(Error::conflict(format!("cannot attach to a {s} container"))),
        }
        self.ctx.emit_container(&c, "attach", &[]);
        Ok((c.config.tty, rx))
    }

    pub(crate) async fn connect_pending(&self, live: &Live, shim: &ShimClient) {
        let pending: Vec<Pending> =
            std::mem::take(&mut *live.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for p in pending {
            if p.tx.is_closed() {
                continue;
            }
            match shim.attach(p.stdin, p.stdout, p.stderr).await {
                Ok(s) => {
                    let _ = p.tx.send(s);
                }
                Err(e) => tracing::warn!(error = %e, "connecting an early attach failed"),
            }
        }
    }
}
