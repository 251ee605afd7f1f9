//! An OCI runtime binary with runc's command line (runc, crun, runsc …).
//!
//! `create` runs with the container's stdio as its own, so the runtime passes it on to init.
//! Init is then a child of the runtime process, which exits right after create; because the
//! shim is a child subreaper, init is reparented to the shim, which reaps it like its own.
//! The runtime's diagnostics go to a JSON log (`--log`, `--log-format json`) in the state dir
//! rather than to its stderr, which for `create` is the container's stderr.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context, anyhow, bail};
use pouch_runtime::shim::ShimLaunch;

use super::{CreateIo, Runtime};

/// Where the runtime writes init's pid, in the state dir.
const PID_FILE: &str = "init.pid";
/// The runtime's own log, in the state dir.
const LOG_FILE: &str = "runtime.log";

pub struct External {
    name: String,
    path: PathBuf,
    args: Vec<String>,
    root: PathBuf,
    id: String,
    bundle: PathBuf,
    state_dir: PathBuf,
}

impl External {
    pub fn new(l: &ShimLaunch, name: &str, path: &Path, args: &[String]) -> External {
        External {
            name: name.to_owned(),
            path: path.to_owned(),
            args: args.to_vec(),
            root: l.runtime_root.clone(),
            id: l.id.clone(),
            bundle: l.bundle.clone(),
            state_dir: l.state_dir.clone(),
        }
    }

    fn command(&self, op: &str) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.args(&self.args)
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(self.state_dir.join(LOG_FILE))
            .arg("--log-format")
            .arg("json")
            .arg(op);
        cmd
    }

    /// Runs a short-lived subcommand with no stdio of the container.
    fn run(&self, op: &str, args: &[&OsStr]) -> anyhow::Result<()> {
        let mark = self.log_len();
        let out = self
            .command(op)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running {}", self.path.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(self.failure(op, out.status, mark, stderr.trim()))
    }

    fn log_len(&self) -> u64 {
        fs::metadata(self.state_dir.join(LOG_FILE)).map_or(0, |m| m.len())
    }

    /// The runtime's own words for a failure: the error entries it logged since `mark`, else
    /// its stderr, else the exit status.
    fn failure(&self, op: &str, status: ExitStatus, mark: u64, stderr: &str) -> anyhow::Error {
        let log = fs::read(self.state_dir.join(LOG_FILE)).unwrap_or_default();
        let fresh = log.get(mark as usize..).unwrap_or_default();
        let errors: Vec<String> = fresh
            .split(|&b| b == b'\n')
            .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
            .filter(|v| matches!(v["level"].as_str(), Some("error" | "fatal")))
            .filter_map(|v| v["msg"].as_str().map(str::to_owned))
            .collect();
        if let Some(last) = errors.last() {
            anyhow!("{last}")
        } else if !stderr.is_empty() {
            anyhow!("{stderr}")
        } else {
            anyhow!("{} {op} failed: {status}", self.name)
        }
    }
}

impl External {
    /// Runs `<runtime> <op> <extra…> --pid-file P [--console-socket S] <id>` with the process's
    /// stdio and returns the pid the runtime wrote.
    fn run_for_pid(
        &self,
        op: &str,
        extra: &[&OsStr],
        pid_file: &Path,
        io: CreateIo,
    ) -> anyhow::Result<i32> {
        let _ = fs::remove_file(pid_file);
        let mark = self.log_len();
        let mut cmd = self.command(op);
        cmd.args(extra).arg("--pid-file").arg(pid_file);
        if let Some(socket) = &io.console_socket {
            cmd.arg("--console-socket").arg(socket);
        }
        cmd.arg(&self.id);
        let stdio = |fd: Option<std::os::fd::OwnedFd>| fd.map_or_else(Stdio::null, Stdio::from);
        cmd.stdin(stdio(io.stdin))
            .stdout(stdio(io.stdout))
            .stderr(stdio(io.stderr));
        let status = cmd
            .status()
            .with_context(|| format!("running {}", self.path.display()))?;
        // Our copies of the process's pipe ends must close, or output never reaches EOF.
        drop(cmd);
        if !status.success() {
            let _ = fs::remove_file(pid_file);
            return Err(self.failure(op, status, mark, ""));
        }
        let text = fs::read_to_string(pid_file)
            .with_context(|| format!("{} wrote no pid file", self.name))?;
        let _ = fs::remove_file(pid_file);
        text.trim()
            .parse()
            .with_context(|| format!("bad pid file from {}: {text:?}", self.name))
    }
}

impl Runtime for External {
    fn create(&mut self, io: CreateIo) -> anyhow::Result<i32> {
        fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        let pid_file = self.state_dir.join(PID_FILE);
        self.run_for_pid(
            "create",
            &[OsStr::new("--bundle"), self.bundle.as_os_str()],
            &pid_file,
            io,
        )
    }

    fn start(&mut self) -> anyhow::Result<()> {
        self.run("start", &[self.id.as_ref()])
    }

    fn kill(&mut self, signal: i32, all: bool) -> anyhow::Result<()> {
        let sig = OsString::from(signal.to_string());
        if all {
            self.run("kill", &["--all".as_ref(), self.id.as_ref(), &sig])
        } else {
            self.run("kill", &[self.id.as_ref(), &sig])
        }
    }

    fn pause(&mut self) -> anyhow::Result<()> {
        self.run("pause", &[self.id.as_ref()])
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        self.run("resume", &[self.id.as_ref()])
    }

    fn exec(&mut self, process: &Path, io: CreateIo) -> anyhow::Result<i32> {
        let pid_file = process.with_extension("pid");
        // Detached, the runtime hands its stdio on to the process (std resets the signal mask of
        // the child, so the process does not inherit the shim's).
        let extra = [
            OsStr::new("--process"),
            process.as_os_str(),
            OsStr::new("--detach"),
        ];
        self.run_for_pid("exec", &extra, &pid_file, io)
    }

    fn delete(&mut self) -> anyhow::Result<()> {
        if !self.root.join(&self.id).exists() {
            // Nothing was created (or it is already gone): runc/crun would only complain.
            return Ok(());
        }
        match self.run("delete", &["--force".as_ref(), self.id.as_ref()]) {
            Ok(()) => Ok(()),
            Err(e) if !self.root.join(&self.id).exists() => {
                tracing::debug!("{} delete: {e:#}", self.name);
                Ok(())
            }
            Err(e) => bail!("{e:#}"),
        }
    }
}
