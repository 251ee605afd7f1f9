//! The local terminal while attached to a container's TTY: raw mode, its size, and keeping the
//! container's TTY the same size (docker's `MonitorTtySize`).

use std::io::{self, IsTerminal};
use std::time::Duration;

use pouch_client::Client;
use rustix::termios::{self, OptionalActions, Termios};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

/// The terminal settings of stdin before raw mode; restored when dropped, so every way out of
/// an attach (end of stream, error, panic) gives the user a working shell back.
pub struct RawMode {
    original: Termios,
}

impl RawMode {
    /// Puts stdin in raw mode (keys go to the container unprocessed: ctrl-c is a byte, not a
    /// signal). `None` when stdin is not a terminal.
    pub fn enable() -> io::Result<Option<RawMode>> {
        let stdin = io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let original = termios::tcgetattr(&stdin)?;
        let mut raw = original.clone();
        raw.make_raw();
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(Some(RawMode { original }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, &self.original);
    }
}

/// `(height, width)` of the terminal on stdout, if it is one and reports a size.
pub fn size() -> Option<(u16, u16)> {
    let stdout = io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let ws = termios::tcgetwinsize(&stdout).ok()?;
    (ws.ws_row != 0 || ws.ws_col != 0).then_some((ws.ws_row, ws.ws_col))
}

/// `POST {prefix}/resize?h=&w=`, where `prefix` is `/containers/ID` or `/exec/ID`.
pub async fn resize(client: &Client, prefix: &str, height: u16, width: u16) -> anyhow::Result<()> {
    client
        .post_json(&format!("{prefix}/resize?h={height}&w={width}"), None)
        .await?;
    Ok(())
}

/// Sends the terminal size now (retrying briefly: the TTY may not exist yet right after
/// start) and again on every `SIGWINCH`, until the returned task is aborted.
pub fn monitor(client: Client, prefix: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut winch = signal(SignalKind::window_change()).ok();
        if let Some((h, w)) = size() {
            let mut ok = resize(&client, &prefix, h, w).await.is_ok();
            for retry in 1..=10u64 {
                if ok {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(retry * 10)).await;
                ok = resize(&client, &prefix, h, w).await.is_ok();
            }
            if !ok {
                eprintln!("failed to resize tty, using default size");
            }
        }
        let Some(winch) = winch.as_mut() else {
            return;
        };
        while winch.recv().await.is_some() {
            if let Some((h, w)) = size() {
                let _ = resize(&client, &prefix, h, w).await;
            }
        }
    })
}

/// Docker's `CheckTty`: attaching a TTY needs a terminal on stdin to read keys from.
pub fn check_tty(attach_stdin: bool, tty: bool) -> anyhow::Result<()> {
    if tty && attach_stdin && !io::stdin().is_terminal() {
        anyhow::bail!("the input device is not a TTY");
    }
    Ok(())
}
