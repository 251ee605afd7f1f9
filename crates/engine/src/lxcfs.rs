//! lxcfs: a FUSE filesystem whose `/proc/meminfo`, `cpuinfo`, … answer with the limits of the
//! reading process's cgroup. pouchd starts it (at daemon start with `--enable-lxcfs`, else on the
//! first container that asks), keeps it running, and when it restarts — crashed, killed or
//! upgraded — swaps the fresh files into every running container that uses it (the old bind
//! mounts point at a dead FUSE connection and fail with ENOTCONN).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pouch_runtime::spec;

use crate::containers::ContainerStatus;
use crate::context::Blocking;
use crate::error::{Error, Result};
use crate::services::Lxcfs;

/// The `/proc` files lxcfs virtualises, bound over the container's.
const PROC_FILES: [&str; 7] = [
    "cpuinfo",
    "diskstats",
    "loadavg",
    "meminfo",
    "stat",
    "swaps",
    "uptime",
];

#[derive(Default)]
pub(crate) struct LxcfsState {
    /// Serialises starts; holds the pid of the running lxcfs (ours or adopted).
    pid: Mutex<Option<u32>>,
    /// Set once something needs lxcfs: from then on the supervisor keeps it up.
    wanted: AtomicBool,
    supervising: AtomicBool,
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "lxcfs")
}

impl Lxcfs {
    fn lxcfs_home(&self) -> &Path {
        &self.ctx.config.lxcfs_home
    }

    fn lxcfs_pidfile(&self) -> PathBuf {
        self.ctx.config.exec_root.join("lxcfs.pid")
    }

    /// lxcfs answers at its mount point (a dead FUSE connection fails the stat).
    fn lxcfs_healthy(&self) -> bool {
        let pid = *self.state.pid.lock().unwrap_or_else(|p| p.into_inner());
        pid.is_some_and(alive) && std::fs::metadata(self.lxcfs_home().join("proc/meminfo")).is_ok()
    }

    /// Starts lxcfs unless it already runs (a previous pouchd's lxcfs is adopted through its
    /// pid file). Blocks until it answers.
    pub(crate) fn ensure_lxcfs(&self) -> Result<()> {
        self.state.wanted.store(true, Ordering::SeqCst);
        self.supervise_lxcfs();
        let lx = &self.state;
        let mut pid = lx.pid.lock().unwrap_or_else(|p| p.into_inner());
        let home = self.lxcfs_home().to_path_buf();
        if pid.is_none() {
            // Adopt the lxcfs a previous pouchd left running for live containers.
            *pid = std::fs::read_to_string(self.lxcfs_pidfile())
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .filter(|p| alive(*p));
        }
        if pid.is_some_and(alive) && std::fs::metadata(home.join("proc/meminfo")).is_ok() {
            return Ok(());
        }
        // A dead lxcfs leaves its FUSE mount behind: detach it before mounting a new one.
        let _ = pouch_sys::mount::unmount(&home);
        std::fs::create_dir_all(&home)?;
        let log_path = self.ctx.config.exec_root.join("lxcfs.log");
        let log = std::fs::File::create(&log_path)?;
        let bin = &self.ctx.config.lxcfs_path;
        let mut child = Command::new(bin)
            .arg("--foreground")
            .arg("--enable-loadavg")
            .arg("--enable-cfs")
            .arg("--pidfile")
            .arg(self.lxcfs_pidfile())
            .arg(&home)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                Error::new(
                    crate::error::ErrorKind::Unavailable,
                    format!(
                        "cannot run lxcfs ({}): {e}; install Debian's lxcfs package or set \
                     \"lxcfs\" in the daemon config",
                        bin.display()
                    ),
                )
            })?;
        let id = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(Error::new(
                    crate::error::ErrorKind::Unavailable,
                    format!("lxcfs exited at start ({status}): {}", log.trim()),
                ));
            }
            if std::fs::metadata(home.join("proc/meminfo")).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::new(
                    crate::error::ErrorKind::Unavailable,
                    format!("lxcfs did not answer at {} within 10s", home.display()),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Reap it whenever it exits; the supervisor notices through `alive`.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        *pid = Some(id);
        tracing::info!(pid = id, home = %home.display(), "lxcfs started");
        Ok(())
    }

    /// The bind mounts that give a container lxcfs's view.
    pub(crate) fn lxcfs_mounts(&self) -> Result<Vec<spec::Mount>> {
        self.ensure_lxcfs()?;
        Ok(self
            .lxcfs_binds()
            .into_iter()
            .map(|(src, dest)| spec::Mount {
                destination: dest,
                source: src.display().to_string(),
                kind: "bind".into(),
                options: vec!["bind".into(), "rprivate".into(), "rw".into()],
            })
            .collect())
    }

    fn lxcfs_binds(&self) -> Vec<(PathBuf, String)> {
        let home = self.lxcfs_home();
        let mut out: Vec<(PathBuf, String)> = PROC_FILES
            .iter()
            .map(|f| (home.join("proc").join(f), format!("/proc/{f}")))
            .filter(|(src, _)| src.exists())
            .collect();
        let online = home.join("sys/devices/system/cpu/online");
        if online.exists() {
            out.push((online, "/sys/devices/system/cpu/online".into()));
        }
        out
    }

    /// Puts lxcfs's current files back into every running container that uses it.
    fn repair_lxcfs_mounts(&self) {
        let Ok(containers) = self.ctx.store.containers() else {
            return;
        };
        let binds = self.lxcfs_binds();
        let refs: Vec<(&Path, &str)> = binds
            .iter()
            .map(|(s, d)| (s.as_path(), d.as_str()))
            .collect();
        for c in containers {
            if !c.host_config.enable_lxcfs || !c.state.status.is_running() || c.state.pid <= 0 {
                continue;
            }
            match pouch_sys::nsmount::rebind_in_namespace(c.state.pid as u32, &refs) {
                Ok(n) => tracing::info!(container = %c.id, files = n, "lxcfs mounts repaired"),
                Err(e) => tracing::warn!(container = %c.id, "cannot repair lxcfs mounts: {e}"),
            }
        }
    }

    /// Keeps lxcfs up once wanted: restarts it when it dies and repairs the containers' mounts.
    fn supervise_lxcfs(&self) {
        if self.state.supervising.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.state.supervising.store(false, Ordering::SeqCst);
            return;
        };
        let weak = (
            std::sync::Arc::downgrade(&self.ctx),
            std::sync::Arc::downgrade(&self.state),
        );
        handle.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                let (Some(ctx), Some(state)) = (weak.0.upgrade(), weak.1.upgrade()) else {
                    return;
                };
                let e = Lxcfs { ctx, state };
                if !e.state.wanted.load(Ordering::SeqCst) || e.lxcfs_healthy() {
                    continue;
                }
                tracing::warn!("lxcfs is gone; restarting it");
                let res = tokio::task::spawn_blocking(move || {
                    e.ensure_lxcfs()?;
                    e.repair_lxcfs_mounts();
                    Ok::<_, Error>(())
                })
                .await;
                if let Ok(Err(err)) = res {
                    tracing::error!("lxcfs restart failed: {}", err.message);
                }
            }
        });
    }

    /// At daemon start: `--enable-lxcfs` starts it; running containers that use it need it too
    /// (and their mounts repaired when the lxcfs they had is gone).
    pub(crate) async fn start_lxcfs(&self) -> Result<()> {
        let users = self
            .ctx
            .store
            .containers()?
            .into_iter()
            .any(|c| c.host_config.enable_lxcfs && c.state.status == ContainerStatus::Running);
        if !self.ctx.config.enable_lxcfs && !users {
            return Ok(());
        }
        self.blocking(|e| {
            let had = std::fs::metadata(e.lxcfs_home().join("proc/meminfo")).is_ok();
            e.ensure_lxcfs()?;
            if !had {
                e.repair_lxcfs_mounts();
            }
            Ok(())
        })
        .await
    }

    /// At daemon stop: lxcfs stays up for running containers that use it; otherwise it is
    /// stopped and unmounted.
    pub(crate) fn stop_lxcfs(&self) {
        let users = self.ctx.store.containers().is_ok_and(|cs| {
            cs.iter()
                .any(|c| c.host_config.enable_lxcfs && c.state.status == ContainerStatus::Running)
        });
        self.state.wanted.store(false, Ordering::SeqCst);
        let pid = self
            .state
            .pid
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if users {
            return;
        }
        if let Some(pid) = pid.filter(|p| alive(*p)) {
            let _ = pouch_sys::proc::send_signal(pid as i32, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = pouch_sys::mount::unmount(self.lxcfs_home());
    }
}
