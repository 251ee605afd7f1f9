//! Attaching to a container's stdio. Before start the request waits; the shim connection is made
//! as soon as the shim exists, so no output of a `docker run` is lost.
//!
//! With `logs` the attach first replays the container's log. Where the history ends and the
//! live stream begins: for a created or exited container, the history is the log as it is at the
//! attach and the live stream is the next run's output, so nothing is lost or repeated. For a
//! running one, the history runs to the end of the log as it is once the shim has taken the
//! attach: nothing is lost, and only a line logged during that handshake (a round trip to the
//! shim) can also come again live. As with docker, the start of a line that was still
//! unterminated when the live stream began is in neither.

use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use pouch_runtime::shim::ShimClient;

use super::ContainerStatus;
use super::Live;
use super::logs::{LogLine, LogOptions, LogSnapshot};
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

/// What an attach gets: the history first (when `logs` asked for it), then the live stream
/// (when `stream` did).
pub struct Attachment {
    /// A tty's output is raw bytes, not multiplexed frames (history and live alike).
    pub tty: bool,
    /// The log's lines of the selected streams, up to where `live` begins.
    pub history: Option<mpsc::Receiver<LogLine>>,
    /// The shim stream: ready at once for a running container, at start for a created or exited
    /// one (it never arrives if that start fails).
    pub live: Option<oneshot::Receiver<AttachStream>>,
}

impl Containers {
    /// docker's attach: `logs` replays the log of `stdout`/`stderr`, `stream` attaches to the
    /// live output (and `stdin`, if the container keeps it open); neither just checks that the
    /// container can be attached to.
    pub async fn attach_container(
        &self,
        name: &str,
        (stdin, stdout, stderr): (bool, bool, bool),
        logs: bool,
        stream: bool,
    ) -> Result<Attachment> {
        let c = self.ctx.resolve_container(name)?;
        let live = self.live.get(&c.id);
        let stdin = stdin && c.config.open_stdin;
        // Taken before the live stream is asked for, so that no line falls between the two.
        let mut history =
            (logs && (stdout || stderr)).then(|| LogSnapshot::take(&self.ctx.log_path(&c.id)));
        let mut rx = None;
        match (c.state.status, live.shim()) {
            (ContainerStatus::Running | ContainerStatus::Paused, Some(shim)) => {
                if stream {
                    let s = shim
                        .attach(stdin, stdout, stderr)
                        .await
                        .map_err(|e| Error::internal(format!("attach: {e}")))?;
                    // The live stream began during the handshake: end the history after it.
                    if let Some(h) = &mut history {
                        h.extend_to_now();
                    }
                    let (tx, r) = oneshot::channel();
                    let _ = tx.send(s);
                    rx = Some(r);
                }
            }
            (ContainerStatus::Created | ContainerStatus::Exited, _) => {
                if stream {
                    let (tx, r) = oneshot::channel();
                    live.pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Pending {
                            stdin,
                            stdout,
                            stderr,
                            tx,
                        });
                    rx = Some(r);
                }
            }
            (s, _) => return Err(Error::conflict(format!("cannot attach to a {s} container"))),
        }
        self.ctx.emit_container(&c, "attach", &[]);
        let history = history.map(|h| {
            h.replay(LogOptions {
                stdout,
                stderr,
                ..LogOptions::default()
            })
        });
        Ok(Attachment {
            tty: c.config.tty,
            history,
            live: rx,
        })
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
