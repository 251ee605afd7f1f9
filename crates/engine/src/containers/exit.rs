//! Watching containers exit, recording how, applying restart policies and `--rm`, and adopting
//! the shims of containers that kept running while pouchd was down (live-restore is always on).

use std::time::Duration;

use pouch_runtime::shim::{self, ExitInfo, ShimClient, ShimStatus};

use super::ContainerStatus;
use crate::Containers;
use crate::context::Blocking;
use crate::error::Result;
use crate::now_nanos;

impl Containers {
    /// Waits for the container's exit in the background and records it.
    pub(crate) fn watch_exit(&self, id: String, client: ShimClient) {
        let e = self.clone();
        tokio::spawn(async move {
            let exit = match client.wait().await {
                Ok(x) => x,
                Err(err) => {
                    // The shim went away without answering: trust its exit file if it wrote one.
                    let dir = e.ctx.container_state_dir(&id);
                    shim::read_exit_file(&dir).unwrap_or_else(|| ExitInfo {
                        exit_code: 255,
                        exited_at: now_nanos(),
                        oom_killed: false,
                        error: Some(format!("lost contact with the container's shim: {err}")),
                    })
                }
            };
            let _ = client.shutdown().await;
            let live = e.live.get(&id);
            live.post_exit(exit);
            let _op = live.op.lock().await;
            let Some(exit) = live.take_exit() else {
                return; // a stop holding the lock recorded it
            };
            if let Err(err) = e.on_exit(&id, exit).await {
                tracing::error!(container = %id, error = %err, "recording container exit failed");
            }
        });
    }

    /// Records an exit. Call with the container's operation lock held.
    pub(super) async fn on_exit(&self, id: &str, exit: ExitInfo) -> Result<()> {
        let live = self.live.get(id);
        live.set_shim(None);
        let Some(mut c) = self.ctx.store.container(id)? else {
            return Ok(());
        };
        c.state.pid = 0;
        c.state.exit_code = exit.exit_code as i64;
        let restart = !c.host_config.auto_remove
            && should_restart(
                &c.host_config.restart_policy.name,
                c.host_config.restart_policy.maximum_retry_count,
                &c.state,
            );
        c.state.status = c.state.status.transition(if restart {
            ContainerStatus::Restarting
        } else {
            ContainerStatus::Exited
        })?;
        c.state.oom_killed = exit.oom_killed;
        c.state.error = exit.error.unwrap_or_default();
        c.state.finished_at = exit.exited_at;
        self.save_state(&c)?;
        if c.state.oom_killed {
            self.ctx.emit_container(&c, "oom", &[]);
        }
        self.ctx
            .emit_container(&c, "die", &[("exitCode", c.state.exit_code.to_string())]);
        let _ = pouch_sys::mount::unmount(&self.ctx.container_rootfs(id));
        self.release_mounts(&c);
        {
            let c = c.clone();
            if let Err(e) = self
                .blocking(move |e| e.networks.teardown_container_network(&c))
                .await
            {
                tracing::warn!(container = %id, error = %e, "network teardown");
            }
        }
        live.exits.send_modify(|m| {
            m.seq += 1;
            m.code = c.state.exit_code;
            m.error = c.state.error.clone();
        });
        tracing::info!(container = %id, exit_code = exit.exit_code, oom = exit.oom_killed, "exited");

        if c.host_config.auto_remove {
            let e = self.clone();
            let id = id.to_string();
            tokio::spawn(async move {
                if let Err(err) = e.remove_container(&id, true, true).await {
                    tracing::warn!(container = %id, error = %err, "auto-remove failed");
                }
            });
            return Ok(());
        }
        if restart {
            let delay = restart_delay(c.state.restart_count);
            let e = self.clone();
            let id = id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let live = e.live.get(&id);
                let _op = live.op.lock().await;
                let Ok(Some(mut c)) = e.ctx.store.container(&id) else {
                    return;
                };
                // A stop, rm or manual start meanwhile wins over the policy.
                if c.state.status != ContainerStatus::Restarting || c.state.manually_stopped {
                    return;
                }
                c.state.restart_count += 1;
                let _ = e.save_state(&c);
                if let Err(err) = e.start_locked(&id).await {
                    tracing::warn!(container = %id, error = %err, "restart by policy failed");
                }
            });
        }
        Ok(())
    }

    /// After a daemon start: adopt shims whose containers still run (also those whose start was
    /// not recorded), end every other shim, record exits that happened while the daemon was
    /// down, and apply restart policies to those.
    pub(crate) async fn restore(&self) -> Result<()> {
        self.networks.init_networks().await;
        self.reconcile_shims().await;
        for c in self.ctx.store.containers()? {
            if c.state.status == ContainerStatus::Restarting {
                // The daemon went down during a restart back-off: finish the restart now.
                if let Err(err) = self.start_container(&c.id).await {
                    tracing::warn!(container = %c.id, error = %err, "restart by policy failed");
                }
                continue;
            }
            if !c.state.status.is_running() {
                continue;
            }
            let dir = self.ctx.container_state_dir(&c.id);
            let client = ShimClient::connect_path(&dir);
            match client.state().await {
                Ok(st) if !matches!(st.status, ShimStatus::Stopped) => {
                    let live = self.live.get(&c.id);
                    live.set_shim(Some(client.clone()));
                    let paused = matches!(st.status, ShimStatus::Paused);
                    if paused != (c.state.status == ContainerStatus::Paused) {
                        let mut c = c.clone();
                        c.state.status = if paused {
                            ContainerStatus::Paused
                        } else {
                            ContainerStatus::Running
                        };
                        self.save_state(&c)?;
                    }
                    self.adopt_mounts(&c);
                    tracing::info!(container = %c.id, "adopted running container");
                    self.watch_exit(c.id.clone(), client);
                }
                Ok(st) => {
                    let exit = st
                        .exit
                        .or_else(|| shim::read_exit_file(&dir))
                        .unwrap_or_else(lost);
                    let _ = client.shutdown().await;
                    let _op = self.live.get(&c.id).op.clone().lock_owned().await;
                    self.on_exit(&c.id, exit).await?;
                }
                Err(_) => {
                    let exit = shim::read_exit_file(&dir).unwrap_or_else(lost);
                    let _op = self.live.get(&c.id).op.clone().lock_owned().await;
                    self.on_exit(&c.id, exit).await?;
                }
            }
        }
        self.networks.reconcile_networks().await;
        Ok(())
    }
}

/// Whether the restart policy asks for another run after the exit recorded in `s`.
fn should_restart(policy: &str, max: i64, s: &crate::store::StoredState) -> bool {
    if s.manually_stopped {
        return false;
    }
    match policy {
        "always" | "unless-stopped" => true,
        "on-failure" => s.exit_code != 0 && (max <= 0 || s.restart_count < max),
        _ => false,
    }
}

fn lost() -> ExitInfo {
    ExitInfo {
        exit_code: 255,
        exited_at: now_nanos(),
        oom_killed: false,
        error: Some("the container's shim disappeared without recording an exit status".into()),
    }
}

/// docker's back-off: 100 ms doubling per restart, capped at one minute.
fn restart_delay(count: i64) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << count.clamp(0, 10));
    Duration::from_millis(ms.min(60_000))
}
