//! Starting a shim and waiting for its verdict on create.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use super::args::CLEANUP;
use super::proto::{LOG_FILE, Ready};
use super::{Error, Result, ShimClient, ShimLaunch};

/// The ready line is tiny; anything longer is not a shim talking.
const MAX_READY_LINE: u64 = 64 * 1024;

/// Runs `pouch-shim` for one container and returns once the container is *created* (not
/// started). On failure the shim has already removed everything it made (runtime state,
/// cgroup, socket) and exited; the error carries the runtime's message and, for
/// [`Error::Create`], whether the executable was missing or not executable.
///
/// The shim process detaches immediately: dropping this future or the returned client, or
/// pouchd exiting, does not affect the container. (If this future is dropped before it
/// resolves, the shim still finishes create and waits for `start`; reconcile such a container
/// with [`ShimClient::state`] and [`ShimClient::shutdown`].)
pub async fn launch(l: &ShimLaunch) -> Result<ShimClient> {
    let l = &absolute(l)?;
    tokio::fs::create_dir_all(&l.state_dir).await?;
    let mut child = Command::new(&l.shim_binary)
        .args(l.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Launch(format!("{}: {e}", l.shim_binary.display())))?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Error::Launch("shim stdio not captured".into()));
    };

    // The line comes from the detached grandchild; EOF without it means the shim died first.
    let mut line = Vec::new();
    BufReader::new(stdout.take(MAX_READY_LINE))
        .read_until(b'\n', &mut line)
        .await?;
    let status = child.wait().await?;
    if !line.ends_with(b"\n") {
        // Whatever the shim said before it redirected its stderr to shim.log.
        let mut text = String::new();
        let mut limited = (&mut stderr).take(MAX_READY_LINE);
        let read = limited.read_to_string(&mut text);
        let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
        return Err(Error::Launch(format!(
            "shim exited ({status}) before reporting: {} (see {})",
            text.trim(),
            l.state_dir.join(LOG_FILE).display()
        )));
    }
    let ready: Ready = serde_json::from_slice(&line)
        .map_err(|e| Error::Protocol(format!("bad ready line: {e}")))?;
    match (ready.pid, ready.error) {
        (_, Some(failure)) => Err(Error::Create {
            kind: failure.kind,
            message: failure.message,
        }),
        (Some(_), None) => Ok(ShimClient::connect_path(&l.state_dir)),
        (None, None) => Err(Error::Protocol(
            "ready line has neither pid nor error".into(),
        )),
    }
}

/// Removes what a dead shim left behind for this container: its processes (killed through the
/// cgroup), the runtime's state, the cgroup, `shim.sock` and `shim.pid`. For reconciling after a
/// shim was killed or the host crashed; refused while the shim is alive (ask it to `shutdown`).
/// The runtime library only ever runs in a shim process, so this runs `pouch-shim cleanup`.
pub async fn cleanup(l: &ShimLaunch) -> Result<()> {
    let l = absolute(l)?;
    let out = Command::new(&l.shim_binary)
        .arg(CLEANUP)
        .args(l.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|e| Error::Launch(format!("{}: {e}", l.shim_binary.display())))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Cleanup(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

/// The shim changes its working directory to `/`, so every path it gets must be absolute.
fn absolute(l: &ShimLaunch) -> Result<ShimLaunch> {
    let abs = |p: &std::path::Path| std::path::absolute(p).map_err(Error::Io);
    Ok(ShimLaunch {
        bundle: abs(&l.bundle)?,
        state_dir: abs(&l.state_dir)?,
        log_path: abs(&l.log_path)?,
        runtime_root: abs(&l.runtime_root)?,
        ..l.clone()
    })
}
