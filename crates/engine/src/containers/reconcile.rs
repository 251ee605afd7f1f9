//! Ending or adopting what runs for a container, whatever its record says.
//!
//! A crash of pouchd can leave shims the store does not know are running: a container started
//! between its shim's launch and the save of its new state (the record still says created), a
//! start cut short after the shim created the container (the shim waits for a `start` that
//! never comes), or a container removed while its shim was alive. [`Containers::reconcile_shims`]
//! runs at daemon start, before restore adopts the running containers: it adopts a shim whose
//! container runs (its record becomes running, as live-restore does) and ends every other shim
//! of this exec-root with what it holds. [`Containers::end_container`] runs at removal: the shim,
//! every process in the container's cgroup, the runtime's state and the cgroup go, so removing
//! a container never leaves a process behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pouch_runtime::shim::{self, ErrorCode, RuntimeChoice, ShimClient, ShimLaunch, ShimStatus};

use super::ContainerStatus;
use crate::config::BUILTIN_RUNTIME;
use crate::error::{Error, Result};
use crate::store::ContainerRecord;
use crate::{Containers, now_nanos};

/// How long a shim that was asked to end (or SIGKILLed) gets to exit.
const SHIM_EXIT: Duration = Duration::from_secs(5);
/// How long a container killed through its shim gets to be reaped and recorded.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How long a live shim that does not answer yet (it binds its socket while it creates the
/// container) is given before it counts as wedged.
const ANSWER_WAIT: Duration = Duration::from_secs(2);

impl Containers {
    /// At daemon start, before restore: every shim of this exec-root — found by its state
    /// dir or, when that was deleted under it, in /proc — is adopted or ended, and whatever a
    /// crash during create left in `<root>/containers` without a record goes. Running and
    /// paused records are left to restore, except that a dead shim's container is killed.
    pub(crate) async fn reconcile_shims(&self) {
        let containers = self.ctx.config.exec_root.join("containers");
        let mut found: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for id in dir_names(&containers) {
            found.entry(id).or_default();
        }
        for (pid, dir) in shim::find_shims(&containers) {
            if let Some(id) = dir.file_name().and_then(|n| n.to_str()) {
                found.entry(id.to_string()).or_default().push(pid);
            }
        }
        for (id, pids) in found {
            if let Err(e) = self.reconcile_shim(&id, &pids).await {
                tracing::warn!(container = %id, error = %e.message, "reconciling the container's shim");
            }
        }
        for id in dir_names(&self.ctx.config.root.join("containers")) {
            if matches!(self.ctx.store.container(&id), Ok(None)) {
                self.remove_unrecorded(&id);
            }
        }
    }

    async fn reconcile_shim(&self, id: &str, pids: &[i32]) -> Result<()> {
        let record = self.ctx.store.container(id)?;
        let dir = self.ctx.container_state_dir(id);
        let mut shims = pids.to_vec();
        shims.extend(shim::shim_pid(&dir));
        if shims.is_empty() && self.runtimes_with_state(id).is_empty() {
            // Nothing runs: an exited container keeps its state dir until it is removed.
            if record.is_none() {
                self.remove_unrecorded(id);
            }
            return Ok(());
        }
        if let Some(c) = &record
            && !shims.is_empty()
            && let Some(st) = answer(&ShimClient::connect_path(&dir), &dir, &shims).await
        {
            let runs = matches!(st.status, ShimStatus::Running | ShimStatus::Paused);
            match c.state.status {
                // Restore adopts it or records its exit.
                s if s.is_running() => return Ok(()),
                _ if runs => {
                    return self.adopt_started(c.clone(), st.pid, st.status == ShimStatus::Paused);
                }
                _ => {}
            }
        }
        // Anything else ends: a shim that never got its `start`, one that does not answer,
        // the container of a shim that died (SIGKILL), a container removed meanwhile.
        let errors = self.end_container(id, pids).await;
        match &record {
            Some(c) if c.state.status.is_running() => {}
            // A start cut short: what it set up goes, as after a failed start (the network
            // goes with reconcile_networks); the record stays as it was.
            Some(c) => {
                self.release_mounts(c);
                let _ = pouch_sys::mount::unmount(&self.ctx.container_rootfs(id));
            }
            None => self.remove_unrecorded(id),
        }
        tracing::info!(container = %id, recorded = record.is_some(), "ended what a crash left running");
        errors_to_result(id, errors)
    }

    /// Removes the directories of a container the store does not know (removed while its shim
    /// ran, or a crash during create).
    fn remove_unrecorded(&self, id: &str) {
        let dir = self.ctx.container_dir(id);
        let removed = pouch_sys::mount::unmount(&dir.join("rootfs"))
            .and_then(|()| remove_dir(&dir))
            .and_then(|()| remove_dir(&self.ctx.container_state_dir(id)));
        if let Err(e) = removed {
            tracing::warn!(container = %id, error = %e, "removing an unrecorded container's files");
        }
    }

    /// A container that runs although its record does not say so (pouchd went down between
    /// the shim's `start` and saving the state): recorded as running, so restore adopts it.
    fn adopt_started(&self, mut c: ContainerRecord, pid: i32, paused: bool) -> Result<()> {
        let to = if paused {
            ContainerStatus::Paused
        } else {
            ContainerStatus::Running
        };
        c.state.status = c.state.status.transition(to)?;
        c.state.pid = pid as i64;
        c.state.exit_code = 0;
        c.state.error.clear();
        c.state.started_at = now_nanos();
        c.state.manually_stopped = false;
        self.save_state(&c)?;
        tracing::info!(container = %c.id, pid, "adopting a container whose start was not recorded");
        Ok(())
    }

    /// Ends everything that runs for container `id`, whatever its record says: asks its shim
    /// to kill the container and leave, SIGKILLs a shim that does not (and `extra` pids: shims
    /// found in /proc), then has the runtime's leftovers removed — the state, every process
    /// still in the cgroup, the cgroup. Tries every step; returns every error.
    pub(crate) async fn end_container(&self, id: &str, extra: &[i32]) -> Vec<String> {
        let dir = self.ctx.container_state_dir(id);
        let mut pids: Vec<i32> = extra.to_vec();
        pids.extend(shim::shim_pid(&dir));
        pids.sort_unstable();
        pids.dedup();
        let mut errors = Vec::new();
        let client = ShimClient::connect_path(&dir);
        let answered = answer(&client, &dir, &pids).await;
        if let Some(st) = &answered {
            if matches!(st.status, ShimStatus::Running | ShimStatus::Paused) {
                match client.kill(libc::SIGKILL, true).await {
                    Ok(()) => {}
                    // It exited meanwhile.
                    Err(shim::Error::Rejected {
                        code: ErrorCode::NotRunning,
                        ..
                    }) => {}
                    Err(e) => errors.push(format!("killing the container: {e}")),
                }
                if tokio::time::timeout(KILL_WAIT, client.wait())
                    .await
                    .is_err()
                {
                    errors.push(format!(
                        "the container did not exit {KILL_WAIT:?} after SIGKILL"
                    ));
                }
            }
            match client.shutdown().await {
                Ok(()) | Err(shim::Error::Unavailable(_)) => {}
                Err(e) => errors.push(format!("shutting the shim down: {e}")),
            }
        }
        // A shim that does not answer is not waited for.
        let mut killed = false;
        if answered.is_none() || !gone(&pids, &dir, SHIM_EXIT).await {
            killed = pids.iter().any(|&p| shim::serves(p, &dir));
            for &pid in pids.iter().filter(|&&p| shim::serves(p, &dir)) {
                tracing::warn!(container = %id, pid, "shim still running: SIGKILL");
                let _ = pouch_sys::proc::send_signal(pid, libc::SIGKILL);
            }
            if !gone(&pids, &dir, SHIM_EXIT).await {
                errors.push(format!("shim processes {pids:?} survived SIGKILL"));
            }
        }
        // Runtime state left behind (a shim that died or was killed) means processes may
        // still run in the container's cgroup: `pouch-shim cleanup` kills them and removes
        // the state and the cgroup. A shim killed mid-create may have left processes the
        // runtime never recorded: cleanup kills what is in the cgroup in any case.
        let mut runtimes = self.runtimes_with_state(id);
        if runtimes.is_empty() && killed {
            runtimes.push(BUILTIN_RUNTIME.to_string());
        }
        for runtime in runtimes {
            if let Err(e) = self.cleanup_runtime(id, &runtime).await {
                errors.push(e.message);
            }
        }
        errors
    }

    /// Names of the runtimes that keep state for container `id` under
    /// `<exec-root>/runtime/<name>/`.
    fn runtimes_with_state(&self, id: &str) -> Vec<String> {
        let root = self.ctx.config.exec_root.join("runtime");
        dir_names(&root)
            .into_iter()
            .filter(|name| root.join(name).join(id).exists())
            .collect()
    }

    async fn cleanup_runtime(&self, id: &str, runtime: &str) -> Result<()> {
        let (choice, runtime_root) = self.runtime_for(runtime)?;
        let state_dir = self.ctx.container_state_dir(id);
        let launch = ShimLaunch {
            shim_binary: super::start::shim_binary(),
            id: id.to_string(),
            bundle: state_dir.clone(),
            state_dir,
            log_path: self.ctx.log_path(id),
            log_max_size: None,
            log_max_files: 1,
            runtime: choice,
            runtime_root,
            stdin: false,
            tty: false,
        };
        shim::cleanup(&launch).await.map_err(|e| {
            Error::internal(format!(
                "cleaning up container {id} in runtime {runtime:?}: {e}"
            ))
        })
    }

    /// The runtime a container's shim drives, by its configured name, and that runtime's
    /// state root under the exec-root.
    pub(crate) fn runtime_for(&self, name: &str) -> Result<(RuntimeChoice, PathBuf)> {
        let name = if name.is_empty() {
            BUILTIN_RUNTIME
        } else {
            name
        };
        let root = self.ctx.config.exec_root.join("runtime").join(name);
        if name == BUILTIN_RUNTIME {
            return Ok((RuntimeChoice::Builtin, root));
        }
        let r =
            self.ctx.config.runtimes.get(name).ok_or_else(|| {
                Error::invalid(format!("runtime {name:?} is no longer configured"))
            })?;
        let choice = RuntimeChoice::External {
            name: name.to_string(),
            path: r.path.clone().into(),
            args: r.args.clone(),
        };
        Ok((choice, root))
    }
}

/// The shim's state, if it answers. A live shim that does not answer at once may still be
/// binding its socket: it gets [`ANSWER_WAIT`] (unless its state dir is gone, and with it
/// any chance of a socket).
async fn answer(client: &ShimClient, dir: &Path, pids: &[i32]) -> Option<shim::ShimState> {
    let deadline = Instant::now() + ANSWER_WAIT;
    loop {
        match client.state().await {
            Ok(st) => return Some(st),
            Err(_)
                if Instant::now() < deadline
                    && dir.exists()
                    && pids.iter().any(|&p| shim::serves(p, dir)) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => return None,
        }
    }
}

/// Waits until none of `pids` serves `dir` any more; false if some still does at `timeout`.
async fn gone(pids: &[i32], dir: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !pids.iter().any(|&p| shim::serves(p, dir)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn errors_to_result(id: &str, errors: Vec<String>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "could not end the processes of container {id}: {}",
            errors.join("; ")
        )))
    }
}

/// `remove_dir_all` where a missing directory is fine.
fn remove_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Names of the entries of `dir` (none when it does not exist).
fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}
