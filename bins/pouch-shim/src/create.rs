//! From a fresh daemon to a created container, and the one-line verdict for the launcher. A
//! failed create leaves nothing behind: runtime state, cgroup leaves, socket and pid file go.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signalfd::SignalFd;
use pouch_runtime::shim::ShimLaunch;
use pouch_runtime::shim::files::{SocketPath, shim_pid};
use pouch_runtime::shim::proto::{
    CreateErrorKind, CreateFailure, EXIT_FILE, PID_FILE, PROTOCOL_VERSION, Ready, SOCKET_FILE,
};

use crate::backend::{self, CreateIo, Runtime};
use crate::cgroup::Cgroup;
use crate::console::ConsoleSocket;
use crate::diagnose;
use crate::logfile::JsonLog;
use crate::stdio::{self, ShimSide};
use crate::supervisor::Created;

/// How long a runtime may take to send the pty master after create returned (it is normally
/// queued on the socket already).
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates the container; on failure reports it, cleans up and returns `None`.
pub fn create(launch: ShimLaunch, signals: SignalFd) -> Option<Created> {
    if let Err(e) = precheck(&launch) {
        // Somebody else's container: report, but touch nothing.
        report_failure(CreateErrorKind::Other, format!("{e:#}"));
        return None;
    }
    let mut runtime = backend::for_launch(&launch);
    let cgroup = Cgroup::from_bundle(&launch.bundle);
    match build(&launch, runtime.as_mut()) {
        Ok((pid, io, log, listener)) => Some(Created {
            launch,
            runtime,
            pid,
            io,
            log,
            listener,
            cgroup,
            signals,
        }),
        Err(e) => {
            let raw = format!("{e:#}");
            tracing::error!("create failed: {raw}");
            let (kind, message) = match diagnose::explain(&launch.bundle) {
                Some(why) => (CreateErrorKind::Other, why),
                None => (CreateErrorKind::classify(&raw), raw),
            };
            if let Err(e) = runtime.delete() {
                tracing::warn!("cleaning up after failed create: {e:#}");
            }
            cgroup.remove_leftovers();
            let dir = &launch.state_dir;
            let _ = fs::remove_file(dir.join(SOCKET_FILE));
            let _ = fs::remove_file(dir.join(PID_FILE));
            report_failure(kind, message);
            None
        }
    }
}

/// Refuses to run over a live shim or existing runtime state of the same container: cleaning
/// up after the resulting failure would destroy them.
fn precheck(l: &ShimLaunch) -> anyhow::Result<()> {
    if let Some(pid) = shim_pid(&l.state_dir).filter(|&p| p != std::process::id() as i32) {
        bail!("container {} already has a shim (pid {pid})", l.id);
    }
    if l.runtime_root.join(&l.id).exists() {
        bail!(
            "container {} already exists in runtime state {}",
            l.id,
            l.runtime_root.display()
        );
    }
    Ok(())
}

type Built = (i32, ShimSide, JsonLog, UnixListener);

fn build(l: &ShimLaunch, runtime: &mut dyn Runtime) -> anyhow::Result<Built> {
    let dir = &l.state_dir;
    // A previous run's record must not answer this run's waiters.
    let _ = fs::remove_file(dir.join(EXIT_FILE));
    let log = JsonLog::open(&l.log_path, l.log_max_size, l.log_max_files)
        .with_context(|| format!("opening log {}", l.log_path.display()))?;
    let _ = fs::remove_file(dir.join(SOCKET_FILE));
    let route = SocketPath::new(dir, SOCKET_FILE)?;
    let listener = UnixListener::bind(route.path())
        .with_context(|| format!("binding {}", dir.join(SOCKET_FILE).display()))?;
    if l.tty {
        let console = ConsoleSocket::bind(dir).context("binding the console socket")?;
        let pid = runtime.create(CreateIo {
            stdin: None,
            stdout: None,
            stderr: None,
            console_socket: Some(console.runtime_path().to_owned()),
        })?;
        let master = console
            .receive(CONSOLE_TIMEOUT)
            .context("receiving the pty master")?;
        Ok((pid, stdio::pty(master, l.stdin)?, log, listener))
    } else {
        let (side, io) = stdio::pipes(l.stdin)?;
        let pid = runtime.create(io)?;
        Ok((pid, side, log, listener))
    }
}

/// Tells the launcher the container is created.
pub fn report_created(pid: i32) {
    report(&Ready {
        version: PROTOCOL_VERSION,
        pid: Some(pid),
        error: None,
    });
}

/// Tells the launcher why there is no container.
pub fn report_failure(kind: CreateErrorKind, message: String) {
    report(&Ready {
        version: PROTOCOL_VERSION,
        pid: None,
        error: Some(CreateFailure { kind, message }),
    });
}

/// Writes the ready line to stdout (the launcher's pipe), then points stdout at /dev/null so
/// the launcher sees EOF and a later write can never block on or signal a dead reader.
fn report(ready: &Ready) {
    let mut line = serde_json::to_vec(ready).unwrap_or_default();
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(&line).and_then(|()| out.flush()) {
        // The launcher went away; the container (if any) carries on regardless.
        tracing::warn!("cannot report to launcher: {e}");
    }
    drop(out);
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
}
