//! `exec`: extra processes in the running container. Each has its own stdio (pipes, or a pty
//! received on a console socket of its own) streamed to the one connection that asked for it,
//! never logged. The process is reaped by the supervisor's loop (the shim is its parent or
//! subreaper); its stream ends once it has exited and its output is drained, and its exit code
//! stays in memory for `exec_state` until the shim exits.

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use pouch_runtime::shim::proto::{
    CreateErrorKind, ErrorBody, ErrorCode, ExecRequest, Response, ShimStatus,
};
use serde_json::{Value, json};

use crate::backend::CreateIo;
use crate::conn::Phase;
use crate::console::ConsoleSocket;
use crate::stdio::{self, Chunk, Output, StdinSink};
use crate::supervisor::Shim;

/// How long an exec's output may keep flowing after it exited (a background child of it can
/// hold the pipes open); then its stream is closed anyway.
pub(crate) const EXEC_DRAIN: Duration = Duration::from_secs(2);
/// How long a runtime may take to send an exec's pty master after the process started.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Every capability up to Linux 6.x, indexed by number.
const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// One exec'd process.
pub struct ExecProc {
    pub id: String,
    pub pid: i32,
    pub tty: bool,
    pub outputs: Vec<Output>,
    pub stdin: Option<StdinSink>,
    /// Exit code (128 + signal), once reaped.
    pub exit: Option<i32>,
    /// Set when reaped: the output drain ends here at the latest.
    pub drain_deadline: Option<Instant>,
    /// The stream has been closed; only the exit code is kept.
    pub ended: bool,
}

impl ExecProc {
    /// When the loop must wake up for this exec's drain deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.drain_deadline.filter(|_| !self.ended)
    }
}

impl Shim {
    pub(crate) fn exec(&mut self, i: usize, req: ExecRequest) {
        match self.start_exec(&req) {
            Ok(exec) => {
                let pid = self.execs[exec].pid;
                let conn = &mut self.conns[i];
                conn.respond(&Response {
                    pid: Some(pid),
                    ..Response::ok()
                });
                conn.phase = Phase::Exec {
                    exec,
                    stdin: req.stdin,
                };
                let early = conn.take_leftover();
                if !early.is_empty() {
                    self.stdin_data(i, &early);
                }
                // A quick process may already have exited (and SIGCHLD been read) meanwhile.
                self.reap();
                self.check_execs();
            }
            Err(e) => {
                let r = Response {
                    error: Some(e),
                    ..Response::ok()
                };
                self.conns[i].finish(&r);
            }
        }
    }

    fn start_exec(&mut self, req: &ExecRequest) -> Result<usize, ErrorBody> {
        match self.status {
            ShimStatus::Running => {}
            ShimStatus::Paused => {
                return Err(err(
                    ErrorCode::InvalidState,
                    "container is paused, unpause it before exec",
                ));
            }
            _ => return Err(err(ErrorCode::NotRunning, "container is not running")),
        }
        if req.exec_id.is_empty() || req.args.is_empty() {
            return Err(err(ErrorCode::BadRequest, "exec needs an id and args"));
        }
        if self.execs.iter().any(|e| e.id == req.exec_id) {
            return Err(err(
                ErrorCode::AlreadyExists,
                format!("exec {} already exists", req.exec_id),
            ));
        }
        let serial = self.execs.len();
        let dir = self.launch.state_dir.clone();
        let process_file = dir.join(format!("exec-{serial}.json"));
        let spec = process_spec(&self.launch.bundle, req)
            .and_then(|p| {
                fs::write(&process_file, serde_json::to_vec(&p)?)
                    .with_context(|| format!("writing {}", process_file.display()))
            })
            .map_err(|e| err(ErrorCode::Runtime, format!("{e:#}")));
        if let Err(e) = spec {
            let _ = fs::remove_file(&process_file);
            return Err(e);
        }
        let started = self.run_exec(&dir, serial, &process_file, req);
        let _ = fs::remove_file(&process_file);
        let (pid, side) = started.map_err(|e| {
            let message = format!("{e:#}");
            tracing::warn!(exec = %req.exec_id, "exec failed: {message}");
            let kind = CreateErrorKind::classify(&message);
            ErrorBody {
                code: ErrorCode::Runtime,
                message,
                create_error: (kind != CreateErrorKind::Other).then_some(kind),
            }
        })?;
        tracing::info!(exec = %req.exec_id, pid, "exec started");
        self.execs.push(ExecProc {
            id: req.exec_id.clone(),
            pid,
            tty: req.tty,
            outputs: side.outputs,
            stdin: side.stdin,
            exit: None,
            drain_deadline: None,
            ended: false,
        });
        Ok(serial)
    }

    fn run_exec(
        &mut self,
        dir: &Path,
        serial: usize,
        process_file: &Path,
        req: &ExecRequest,
    ) -> anyhow::Result<(i32, stdio::ShimSide)> {
        if req.tty {
            let console = ConsoleSocket::bind_named(dir, &format!("exec-{serial}.sock"))
                .context("binding the console socket")?;
            let pid = self.runtime.exec(
                process_file,
                CreateIo {
                    stdin: None,
                    stdout: None,
                    stderr: None,
                    console_socket: Some(console.runtime_path().to_owned()),
                },
            )?;
            let master = console
                .receive(CONSOLE_TIMEOUT)
                .context("receiving the pty master")?;
            Ok((pid, stdio::pty(master, req.stdin)?))
        } else {
            let (mut side, mut io) = stdio::pipes(req.stdin)?;
            if io.stdin.is_none() {
                // Not the shim's own stdin (which the builtin runtime would inherit).
                io.stdin = Some(fs::File::open("/dev/null")?.into());
            }
            match self.runtime.exec(process_file, io) {
                Ok(pid) => Ok((pid, side)),
                Err(e) => {
                    // The runtime's diagnostics from inside the process went to its stderr.
                    let mut buf = vec![0u8; 16 * 1024];
                    for o in &mut side.outputs {
                        if let Chunk::Data(n) = o.read(&mut buf) {
                            let text = String::from_utf8_lossy(&buf[..n]);
                            tracing::warn!("failed exec's {}: {}", o.stream.name(), text.trim());
                        }
                    }
                    Err(e)
                }
            }
        }
    }

    pub(crate) fn exec_state(&self, exec_id: &str) -> Result<Response, ErrorBody> {
        let e = self.find_exec(exec_id)?;
        Ok(Response {
            exit_code: e.exit,
            ..Response::ok()
        })
    }

    pub(crate) fn exec_resize(
        &self,
        exec_id: &str,
        height: u16,
        width: u16,
    ) -> Result<Response, ErrorBody> {
        let e = self.find_exec(exec_id)?;
        if !e.tty {
            return Ok(Response::ok());
        }
        let Some(pty) = e.outputs.first() else {
            return Err(err(ErrorCode::NotRunning, "exec has exited"));
        };
        pouch_sys::proc::set_winsize(pty.file.as_fd(), height, width)
            .map_err(|e| err(ErrorCode::Runtime, format!("resizing the terminal: {e}")))?;
        Ok(Response::ok())
    }

    fn find_exec(&self, exec_id: &str) -> Result<&ExecProc, ErrorBody> {
        self.execs
            .iter()
            .find(|e| e.id == exec_id)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("no such exec: {exec_id}")))
    }

    /// Records the exit of an exec'd process, if `pid` is one.
    pub(crate) fn exec_reaped(&mut self, pid: i32, code: i32) {
        if let Some(e) = self
            .execs
            .iter_mut()
            .find(|e| e.pid == pid && e.exit.is_none())
        {
            tracing::info!(exec = %e.id, code, "exec exited");
            e.exit = Some(code);
            e.drain_deadline = Some(Instant::now() + EXEC_DRAIN);
        }
    }

    /// Reads one chunk of an exec's output into its connection. True when it closed.
    pub(crate) fn read_exec_output(&mut self, i: usize, j: usize, buf: &mut [u8]) -> bool {
        let Some(exec) = self.execs.get_mut(i) else {
            return false;
        };
        let tty = exec.tty;
        let Some(out) = exec.outputs.get_mut(j) else {
            return false;
        };
        match out.read(buf) {
            Chunk::Data(n) => {
                let stream = out.stream;
                for c in &mut self.conns {
                    c.exec_output(i, stream, &buf[..n], tty);
                }
                false
            }
            Chunk::Nothing => false,
            Chunk::Closed => true,
        }
    }

    /// Ends the streams of execs that have exited and whose output is drained (or whose
    /// drain took too long).
    pub(crate) fn check_execs(&mut self) {
        let now = Instant::now();
        for (i, e) in self.execs.iter_mut().enumerate() {
            if e.ended || e.exit.is_none() {
                continue;
            }
            if !e.outputs.is_empty() && e.drain_deadline.is_some_and(|d| now < d) {
                continue;
            }
            e.ended = true;
            e.outputs.clear();
            e.stdin = None;
            for c in &mut self.conns {
                if matches!(c.phase, Phase::Exec { exec, .. } if exec == i) {
                    c.phase = Phase::Closing;
                    c.flush();
                }
            }
        }
    }
}

/// The capabilities a privileged exec gets: all those in the shim's bounding set (as docker
/// grants all of the daemon's), since no process can gain more.
fn own_capabilities() -> Vec<&'static str> {
    let bounding = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|&(bit, _)| bounding & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect()
}

fn err(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody {
        code,
        message: message.into(),
        create_error: None,
    }
}

/// The OCI process of an exec: the container's own (rlimits, apparmor, no_new_privileges …)
/// with the request's args, environment, working directory, user, terminal and capabilities.
fn process_spec(bundle: &Path, req: &ExecRequest) -> anyhow::Result<Value> {
    let config_path: PathBuf = bundle.join("config.json");
    let config: Value = serde_json::from_slice(
        &fs::read(&config_path).with_context(|| format!("reading {}", config_path.display()))?,
    )
    .with_context(|| format!("parsing {}", config_path.display()))?;
    let mut process = match config.get("process") {
        Some(Value::Object(p)) => p.clone(),
        _ => serde_json::Map::new(),
    };
    let mut env: Vec<String> = process
        .get("env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    for entry in &req.env {
        let key = entry.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    let cwd = if req.cwd.is_empty() {
        process
            .get("cwd")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .unwrap_or("/")
            .to_owned()
    } else {
        req.cwd.clone()
    };
    process.insert("args".into(), json!(req.args));
    process.insert("env".into(), json!(env));
    process.insert("cwd".into(), json!(cwd));
    process.insert("terminal".into(), json!(req.tty));
    process.remove("consoleSize");
    let mut user = json!({"uid": req.uid, "gid": req.gid});
    if !req.additional_gids.is_empty() {
        user["additionalGids"] = json!(req.additional_gids);
    }
    process.insert("user".into(), user);
    if req.privileged {
        let caps = own_capabilities();
        process.insert(
            "capabilities".into(),
            json!({
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            }),
        );
    }
    Ok(Value::Object(process))
}
