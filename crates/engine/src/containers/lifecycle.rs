//! stop, kill, restart, pause, unpause, rename.

use std::time::Duration;

use super::ContainerStatus;
use super::signal;
use crate::Containers;
use crate::context::to_completion;
use crate::error::{Error, Result};

impl Containers {
    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the timeout. Returns
    /// false when it was not running (docker answers 304).
    pub async fn stop_container(
        &self,
        name: &str,
        sig: Option<String>,
        timeout: Option<i64>,
    ) -> Result<bool> {
        let name = name.to_string();
        let this = self.clone();
        to_completion(async move { this.stop_container_now(&name, sig, timeout).await }).await
    }

    /// The operation itself; see [`to_completion`].
    async fn stop_container_now(
        &self,
        name: &str,
        sig: Option<String>,
        timeout: Option<i64>,
    ) -> Result<bool> {
        let c = self.ctx.resolve_container(name)?;
        let live = self.live.get(&c.id);
        let _op = live.op.lock().await;
        self.stop_locked(&c.id, sig, timeout).await
    }

    pub(crate) async fn stop_locked(
        &self,
        id: &str,
        sig: Option<String>,
        timeout: Option<i64>,
    ) -> Result<bool> {
        let Some(mut c) = self.ctx.store.container(id)? else {
            return Ok(false);
        };
        if c.state.status == ContainerStatus::Restarting {
            // Waiting out the back-off: stopping cancels the pending restart.
            c.state.status = c.state.status.transition(ContainerStatus::Exited)?;
            c.state.manually_stopped = true;
            self.save_state(&c)?;
            return Ok(true);
        }
        let live = self.live.get(id);
        let Some(shim) = live.shim() else {
            return Ok(false);
        };
        if !c.state.status.is_running() {
            return Ok(false);
        }
        c.state.manually_stopped = true;
        self.save_state(&c)?;
        let stop_sig = match sig.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => signal::parse(s, 15)?,
            None => signal::parse(c.config.stop_signal.as_deref().unwrap_or(""), 15)?,
        };
        let timeout = timeout.or(c.config.stop_timeout).unwrap_or(10);
        // The watcher posts the exit and waits for our lock: we record it ourselves below.
        let mut posted = live.posted.subscribe();
        if c.state.status == ContainerStatus::Paused {
            let _ = shim.resume().await;
        }
        if timeout != 0 {
            let _ = shim.kill(stop_sig, false).await;
        }
        let exited = async {
            let _ = posted.wait_for(Option::is_some).await;
        };
        if timeout < 0 {
            exited.await;
            self.record_posted_exit(&live, id).await?;
            return Ok(true);
        }
        if tokio::time::timeout(Duration::from_secs(timeout as u64), exited)
            .await
            .is_err()
        {
            tracing::info!(container = %id, timeout, "did not stop in time; killing");
            let _ = shim.kill(9, true).await;
            let _ = live.posted.subscribe().wait_for(Option::is_some).await;
        }
        self.record_posted_exit(&live, id).await?;
        if let Ok(Some(c)) = self.ctx.store.container(id) {
            self.ctx.emit_container(&c, "stop", &[]);
        }
        Ok(true)
    }

    /// Records the exit the watcher posted (the caller holds the operation lock). Boxed: exit
    /// recording can remove the container (`--rm`), which stops it, which records an exit.
    fn record_posted_exit<'a>(
        &'a self,
        live: &super::Live,
        id: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>> {
        let exit = live.take_exit();
        Box::pin(async move {
            match exit {
                Some(exit) => self.on_exit(id, exit).await,
                None => Ok(()),
            }
        })
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill_container(&self, name: &str, sig: Option<String>) -> Result<()> {
        let name = name.to_string();
        let this = self.clone();
        to_completion(async move { this.kill_container_now(&name, sig).await }).await
    }

    /// The operation itself; see [`to_completion`].
    async fn kill_container_now(&self, name: &str, sig: Option<String>) -> Result<()> {
        let locked = self.lock_container(name).await?;
        let sig = signal::parse(sig.as_deref().unwrap_or(""), 9)?;
        let (c, live) = (&locked.c, &locked.live);
        let shim = live.shim().filter(|_| c.state.status.is_running());
        let Some(shim) = shim else {
            return Err(Error::conflict(format!(
                "cannot kill container: {}: container {} is not running",
                name, c.id
            )));
        };
        if sig == 9 || sig == 15 || sig == 2 {
            let mut c = c.clone();
            c.state.manually_stopped = true;
            self.save_state(&c)?;
        }
        self.ctx
            .emit_container(c, "kill", &[("signal", sig.to_string())]);
        shim.kill(sig, false)
            .await
            .map_err(|e| Error::internal(format!("kill: {e}")))
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart_container(
        &self,
        name: &str,
        sig: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let name = name.to_string();
        let this = self.clone();
        to_completion(async move { this.restart_container_now(&name, sig, timeout).await }).await
    }

    /// The operation itself; see [`to_completion`].
    async fn restart_container_now(
        &self,
        name: &str,
        sig: Option<String>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.ctx.resolve_container(name)?;
        let live = self.live.get(&c.id);
        let _op = live.op.lock().await;
        self.stop_locked(&c.id, sig, timeout).await?;
        self.start_locked(&c.id).await?;
        self.ctx.emit_container(&c, "restart", &[]);
        Ok(())
    }

    pub async fn pause_container(&self, name: &str, pause: bool) -> Result<()> {
        let name = name.to_string();
        let this = self.clone();
        to_completion(async move { this.pause_container_now(&name, pause).await }).await
    }

    /// The operation itself; see [`to_completion`].
    async fn pause_container_now(&self, name: &str, pause: bool) -> Result<()> {
        let locked = self.lock_container(name).await?;
        let (mut c, live) = (locked.c.clone(), &locked.live);
        let shim = live.shim().filter(|_| c.state.status.is_running());
        let Some(shim) = shim else {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        };
        match (pause, c.state.status) {
            (true, ContainerStatus::Paused) => {
                return Err(Error::conflict(format!(
                    "Container {} is already paused",
                    c.id
                )));
            }
            (false, ContainerStatus::Running) => {
                return Err(Error::conflict(format!("Container {} is not paused", c.id)));
            }
            _ => {}
        }
        let to = c.state.status.transition(if pause {
            ContainerStatus::Paused
        } else {
            ContainerStatus::Running
        })?;
        let r = if pause {
            shim.pause().await
        } else {
            shim.resume().await
        };
        r.map_err(|e| {
            Error::internal(format!("{}: {e}", if pause { "pause" } else { "unpause" }))
        })?;
        c.state.status = to;
        self.save_state(&c)?;
        self.ctx
            .emit_container(&c, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    pub async fn rename_container(&self, name: &str, new_name: &str) -> Result<()> {
        let (name, new_name) = (name.to_string(), new_name.to_string());
        let this = self.clone();
        to_completion(async move { this.rename_container_now(&name, &new_name).await }).await
    }

    /// The operation itself; see [`to_completion`].
    async fn rename_container_now(&self, name: &str, new_name: &str) -> Result<()> {
        let locked = self.lock_container(name).await?;
        let c = &locked.c;
        let new = super::create::validate_name(new_name)?;
        if new == c.name {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        self.ctx.store.rename_container(&c.id, &new)?;
        // The embedded DNS answers to the new name from now on.
        let _ = self.networks.refresh_dns("");
        let mut renamed = c.clone();
        renamed.name = new;
        self.ctx
            .emit_container(&renamed, "rename", &[("oldName", format!("/{}", c.name))]);
        Ok(())
    }

    /// `POST /containers/{id}/resize`.
    pub async fn resize_container(&self, name: &str, h: u16, w: u16) -> Result<()> {
        let c = self.ctx.resolve_container(name)?;
        let Some(shim) = self.live.get(&c.id).shim() else {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        };
        shim.resize(h, w)
            .await
            .map_err(|e| Error::internal(format!("resize: {e}")))
    }
}
