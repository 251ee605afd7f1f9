//! `docker exec`: exec instances live in memory (as in docker, they do not survive a daemon
//! restart); the process runs through the container's shim.

use std::collections::HashMap;
use std::sync::Mutex;

use pouch_api::types::{ExecCreateBody, ExecInspect, ExecProcessConfig};
use pouch_runtime::shim::{self, ExecRequest};

use super::ContainerStatus;
use super::random_hex;
use crate::Exec;
use crate::error::{Error, Result};

#[derive(Clone)]
pub(crate) struct ExecInstance {
    container_id: String,
    body: ExecCreateBody,
    started: bool,
    pid: i64,
    exit_code: Option<i64>,
}

#[derive(Default)]
pub(crate) struct Execs(Mutex<HashMap<String, ExecInstance>>);

impl Execs {
    fn get(&self, id: &str) -> Option<ExecInstance> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut ExecInstance)) {
        if let Some(e) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            f(e);
        }
    }
}

/// What `start_exec` hands the server.
pub enum ExecStarted {
    Detached,
    /// The process's stdio (framed like attach unless `tty`).
    Attached {
        stream: tokio::net::UnixStream,
        tty: bool,
        stdin: bool,
    },
}

impl Exec {
    pub async fn create_exec(&self, name: &str, body: ExecCreateBody) -> Result<String> {
        let c = self.ctx.resolve_container(name)?;
        match c.state.status {
            ContainerStatus::Running => {}
            ContainerStatus::Paused => {
                return Err(Error::conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    c.id
                )));
            }
            _ => {
                return Err(Error::conflict(format!(
                    "Container {} is not running",
                    c.id
                )));
            }
        }
        if body.cmd.is_empty() {
            return Err(Error::invalid("No exec command specified"));
        }
        let id = random_hex(32)?;
        let inst = ExecInstance {
            container_id: c.id,
            body,
            started: false,
            pid: 0,
            exit_code: None,
        };
        self.execs
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), inst);
        Ok(id)
    }

    fn exec_instance(&self, id: &str) -> Result<ExecInstance> {
        self.execs
            .get(id)
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
    }

    pub async fn start_exec(&self, id: &str, detach: bool) -> Result<ExecStarted> {
        let inst = self.exec_instance(id)?;
        if inst.started {
            return Err(Error::conflict(format!(
                "Error: Exec command {id} has already run"
            )));
        }
        let c = self
            .ctx
            .store
            .container(&inst.container_id)?
            .filter(|c| c.state.status == ContainerStatus::Running)
            .ok_or_else(|| {
                Error::conflict(format!("Container {} is not running", inst.container_id))
            })?;
        let shim = self
            .containers
            .live
            .get(&c.id)
            .shim()
            .ok_or_else(|| Error::conflict(format!("Container {} is not running", c.id)))?;
        let b = &inst.body;
        let user_spec = if b.user.is_empty() {
            c.config.user.clone()
        } else {
            b.user.clone()
        };
        let rootfs = self.ctx.container_rootfs(&c.id);
        let group_add = c.host_config.group_add.clone();
        let user = tokio::task::spawn_blocking(move || {
            super::start::resolve_user(&rootfs, &user_spec, &group_add)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        let mut env = c.config.env.clone();
        for e in &b.env {
            let key = e.split('=').next().unwrap_or("");
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        let req = ExecRequest {
            exec_id: id.to_string(),
            args: b.cmd.clone(),
            env,
            cwd: if b.working_dir.is_empty() {
                c.config.working_dir.clone()
            } else {
                b.working_dir.clone()
            },
            uid: user.uid,
            gid: user.gid,
            additional_gids: user.additional_gids,
            tty: b.tty,
            stdin: b.attach_stdin && !detach,
            privileged: b.privileged,
        };
        self.execs.update(id, |e| e.started = true);
        let started = shim.exec(&req).await;
        if let Err(err) = &started {
            // As docker: the exec instance keeps 127 (not found) or 126 (cannot run).
            let code = match err {
                shim::Error::Create {
                    kind: shim::CreateErrorKind::NotFound,
                    ..
                } => 127,
                _ => 126,
            };
            self.execs.update(id, |e| e.exit_code = Some(code));
        }
        let (pid, stream) = started.map_err(|err| match err {
            shim::Error::Create { kind: shim::CreateErrorKind::NotFound, message } => Error::invalid(format!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{}\": executable file not found in $PATH ({message})",
                b.cmd[0]
            )),
            shim::Error::Create { kind: shim::CreateErrorKind::PermissionDenied, message } => Error::invalid(format!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{}\": permission denied ({message})",
                b.cmd[0]
            )),
            other => Error::internal(format!("exec failed: {other}")),
        })?;
        self.execs.update(id, |e| e.pid = pid as i64);
        if detach {
            // Nobody reads the output: drain it so the process never blocks on a full pipe.
            tokio::spawn(async move {
                let mut s = stream;
                let _ = tokio::io::copy(&mut s, &mut tokio::io::sink()).await;
            });
            return Ok(ExecStarted::Detached);
        }
        Ok(ExecStarted::Attached {
            stream,
            tty: b.tty,
            stdin: b.attach_stdin,
        })
    }

    pub async fn inspect_exec(&self, id: &str) -> Result<ExecInspect> {
        let mut inst = self.exec_instance(id)?;
        if inst.started
            && inst.exit_code.is_none()
            && let Some(shim) = self.containers.live.get(&inst.container_id).shim()
            && let Ok(Some(code)) = shim.exec_state(id).await
        {
            inst.exit_code = Some(code as i64);
            self.execs.update(id, |e| e.exit_code = Some(code as i64));
        }
        let container_gone = self
            .containers
            .live
            .get(&inst.container_id)
            .shim()
            .is_none();
        let running = inst.started && inst.exit_code.is_none() && !container_gone;
        let b = &inst.body;
        Ok(ExecInspect {
            id: id.to_string(),
            running,
            exit_code: inst.exit_code,
            process_config: ExecProcessConfig {
                tty: b.tty,
                entrypoint: b.cmd.first().cloned().unwrap_or_default(),
                arguments: b.cmd.iter().skip(1).cloned().collect(),
                privileged: b.privileged,
                user: b.user.clone(),
            },
            open_stdin: b.attach_stdin,
            open_stderr: b.attach_stderr,
            open_stdout: b.attach_stdout,
            container_id: inst.container_id.clone(),
            pid: inst.pid,
            can_remove: !running,
            detach_keys: b.detach_keys.clone(),
        })
    }

    pub async fn resize_exec(&self, id: &str, h: u16, w: u16) -> Result<()> {
        let inst = self.exec_instance(id)?;
        let shim = self
            .containers
            .live
            .get(&inst.container_id)
            .shim()
            .ok_or_else(|| {
                Error::conflict(format!("Container {} is not running", inst.container_id))
            })?;
        shim.exec_resize(id, h, w)
            .await
            .map_err(|e| Error::internal(format!("resize: {e}")))
    }
}
