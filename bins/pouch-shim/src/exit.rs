//! The end of a container: recording its exit, releasing the runtime and the socket, and
//! answering everyone who waits.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pouch_runtime::shim::files::write_exit_file;
use pouch_runtime::shim::proto::{ExitInfo, PID_FILE, Response, SOCKET_FILE, ShimStatus};

use crate::conn::Phase;
use crate::supervisor::{FLUSH, Shim};

impl Shim {
    /// Records the exit, releases the runtime and the socket, and answers everyone. From here
    /// on the shim only flushes clients.
    pub(crate) fn finalize(&mut self) {
        let Some((exit_code, exited_at)) = self.reaped else {
            return;
        };
        for o in self.outputs.drain(..) {
            self.log.finish(o.stream);
        }
        self.stdin = None;
        let oom_killed = match (self.oom_base, self.cgroup.oom_kills()) {
            (base, Some(now)) => now > base.unwrap_or(0),
            _ => false,
        };
        let mut exit = ExitInfo {
            exit_code,
            exited_at,
            oom_killed,
            error: None,
        };
        // Recorded before anything else can fail, so the exit survives a crash from here on.
        if let Err(e) = write_exit_file(&self.launch.state_dir, &exit) {
            tracing::error!("cannot record exit: {e}");
        }
        if let Err(e) = self.runtime.delete() {
            tracing::error!("deleting container: {e:#}");
            // Tell pouchd: the runtime state or cgroup may need its cleanup.
            exit.error = Some(format!("deleting container: {e:#}"));
            let _ = write_exit_file(&self.launch.state_dir, &exit);
        }
        self.release_socket();
        self.exit = Some(exit.clone());
        let answer = Response {
            exit: Some(exit),
            ..Response::ok()
        };
        for c in &mut self.conns {
            match c.phase {
                Phase::Waiting => c.finish(&answer),
                Phase::Attached { .. } | Phase::Exec { .. } => {
                    c.phase = Phase::Closing;
                    c.flush();
                }
                Phase::Request | Phase::Closing => {}
            }
        }
        self.done = Some(Instant::now() + FLUSH);
    }

    /// Ends a container that was created but never started.
    pub fn teardown_created(&mut self) {
        if let Err(e) = self.runtime.delete() {
            tracing::error!("deleting container: {e:#}");
        }
        self.cgroup.remove_leftovers();
        self.reap();
        self.status = ShimStatus::Stopped;
        self.outputs.clear();
        self.stdin = None;
        self.release_socket();
        for c in &mut self.conns {
            if c.phase != Phase::Request {
                c.phase = Phase::Closing;
                c.flush();
            }
        }
        self.done = Some(Instant::now() + FLUSH);
    }

    /// Stops accepting and removes shim.sock and shim.pid — only if they are still ours (a new
    /// shim for the same container may already have replaced them).
    fn release_socket(&mut self) {
        // Clients already queued on the socket still get answers (wait → the exit, state →
        // stopped) instead of a reset connection.
        self.accept();
        self.listener = None;
        let dir = &self.launch.state_dir;
        let sock = dir.join(SOCKET_FILE);
        if fs::metadata(&sock).ok().map(|m| m.ino()) == self.socket_ino {
            let _ = fs::remove_file(&sock);
        }
        let pid_file = dir.join(PID_FILE);
        let ours =
            fs::read_to_string(&pid_file).is_ok_and(|p| p.trim() == std::process::id().to_string());
        if ours {
            let _ = fs::remove_file(pid_file);
        }
    }
}

pub(crate) fn unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
