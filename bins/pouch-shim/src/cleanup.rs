//! `pouch-shim cleanup …`: removes what a shim that died (SIGKILL, OOM, host crash) left
//! behind — the runtime's state, the container's processes and cgroup, the socket and pid
//! file — so pouchd can reconcile without ever calling the runtime library itself. Runs in the
//! foreground; the exit status and stderr are the result.

use std::fs;
use std::time::Duration;

use anyhow::bail;
use pouch_runtime::shim::ShimLaunch;
use pouch_runtime::shim::files::shim_pid;
use pouch_runtime::shim::proto::{CONSOLE_SOCKET_FILE, PID_FILE, SOCKET_FILE};

use crate::backend;
use crate::cgroup::Cgroup;

/// How long the container's processes get to die once SIGKILLed.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(launch: &ShimLaunch) -> anyhow::Result<()> {
    if let Some(pid) = shim_pid(&launch.state_dir) {
        bail!("the container's shim is alive (pid {pid}); ask it to shut down instead");
    }
    let mut errors = Vec::new();
    // Kills whatever still runs in the container's cgroup, then removes state and cgroup.
    if let Err(e) = backend::for_launch(launch).delete() {
        errors.push(format!("{e:#}"));
    }
    // What the runtime did not know about (a shim killed mid-create) dies with the cgroup.
    let cgroup = Cgroup::from_bundle(&launch.bundle);
    let left = cgroup.kill_all(KILL_TIMEOUT);
    if left > 0 {
        errors.push(format!(
            "{left} processes of the container survived SIGKILL for {KILL_TIMEOUT:?}"
        ));
    }
    cgroup.remove_leftovers();
    for name in [SOCKET_FILE, PID_FILE, CONSOLE_SOCKET_FILE] {
        match fs::remove_file(launch.state_dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                errors.push(format!("removing {name}: {e}"));
            }
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        bail!("{}", errors.join("; "))
    }
}
