//! youki's libcontainer, linked in. Init is a direct child of the shim (libcontainer clones it
//! with `CLONE_PARENT` from its intermediate process), so the shim reaps it itself.
//!
//! libcontainer changes process-wide state (`chdir` during create/start, non-dumpable,
//! `oom_score_adj`) and forks with raw `clone3`; all harmless here because the shim is
//! single-threaded and exists for this one container.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::{LinuxSeccomp, Spec};
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::sys::signal::SigSet;
use pouch_runtime::shim::ShimLaunch;

use super::{CreateIo, Runtime};

pub struct Builtin {
    id: String,
    bundle: PathBuf,
    root: PathBuf,
    tty: bool,
    container: Option<Container>,
}

impl Builtin {
    pub fn new(l: &ShimLaunch) -> Builtin {
        Builtin {
            id: l.id.clone(),
            bundle: l.bundle.clone(),
            root: l.runtime_root.clone(),
            tty: l.tty,
            container: None,
        }
    }

    fn container(&mut self) -> anyhow::Result<&mut Container> {
        self.container
            .as_mut()
            .ok_or_else(|| anyhow!("container {} was not created", self.id))
    }
}

/// libcontainer wraps an exec failure from the container's init in two layers of prose
/// ("failed to create container: exec process failed with error error in executing process :
/// executable 'x' not found in $PATH"); the innermost part is what users need to see.
fn concise(message: &str) -> &str {
    const MARKER: &str = "error in executing process : ";
    message
        .rfind(MARKER)
        .map_or(message, |i| &message[i + MARKER.len()..])
}

/// The default executor for exec'd processes, with two additions:
/// - every signal unblocked first: an exec'd process is created by the running shim, whose
///   supervised signals are blocked (they are read from a signalfd), and the mask would
///   otherwise survive into the process;
/// - the container's seccomp filter: libcontainer 0.7.0 rebuilds an exec'd process's `linux`
///   section without it, so the process would run unfiltered.
#[derive(Clone)]
struct Unmasked {
    seccomp: Option<LinuxSeccomp>,
}

impl Executor for Unmasked {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        SigSet::all()
            .thread_unblock()
            .map_err(|e| ExecutorError::Other(format!("unblocking signals: {e}")))?;
        if let Some(s) = &self.seccomp {
            load_seccomp(s)?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// Loads `s` into the calling process, which is about to exec. Capabilities are already
/// dropped here, so unless the process kept `CAP_SYS_ADMIN` (a privileged exec) the kernel only
/// accepts a filter with no_new_privs set: exec'd processes of a filtered container get it, which
/// runc avoids by loading the filter before dropping capabilities, a step libcontainer 0.7.0 does
/// not offer to tenants.
fn load_seccomp(s: &LinuxSeccomp) -> Result<(), ExecutorError> {
    let load = || libcontainer::seccomp::initialize_seccomp(s).map(|_| ());
    if load().is_ok() {
        return Ok(());
    }
    nix::sys::prctl::set_no_new_privs()
        .map_err(|e| ExecutorError::Other(format!("setting no_new_privs: {e}")))?;
    load().map_err(|e| ExecutorError::Other(format!("loading the seccomp filter: {e}")))
}

/// The seccomp section of the bundle's `config.json`, if any.
fn bundle_seccomp(bundle: &Path) -> anyhow::Result<Option<LinuxSeccomp>> {
    let raw = std::fs::read(bundle.join("config.json"))
        .with_context(|| format!("reading {}/config.json", bundle.display()))?;
    let mut v: serde_json::Value = serde_json::from_slice(&raw).context("parsing config.json")?;
    match v["linux"]["seccomp"].take() {
        serde_json::Value::Null => Ok(None),
        s => Ok(Some(
            serde_json::from_value(s).context("parsing linux.seccomp")?,
        )),
    }
}

fn runtime_error(e: impl Into<anyhow::Error>) -> anyhow::Error {
    let chain = format!("{:#}", e.into());
    anyhow!("{}", concise(&chain))
}

impl Builtin {
    /// A builder for this container with the process's stdio and console socket wired in.
    fn builder(&self, io: CreateIo) -> anyhow::Result<ContainerBuilder> {
        let mut b = ContainerBuilder::new(self.id.clone(), SyscallType::default())
            .with_root_path(&self.root)?
            .with_console_socket(io.console_socket);
        if let Some(fd) = io.stdin {
            b = b.with_stdin(fd);
        }
        if let Some(fd) = io.stdout {
            b = b.with_stdout(fd);
        }
        if let Some(fd) = io.stderr {
            b = b.with_stderr(fd);
        }
        Ok(b)
    }
}

impl Runtime for Builtin {
    fn create(&mut self, io: CreateIo) -> anyhow::Result<i32> {
        let container = self
            .builder(io)?
            .validate_id()?
            .as_init(&self.bundle)
            // Never the systemd cgroup driver: pouch writes absolute cgroupfs paths.
            .with_systemd(false)
            // In 0.7.0 this only gates the console socket, which a tty container needs.
            .with_detach(self.tty)
            .build()
            .map_err(runtime_error)?;
        let pid = container
            .pid()
            .ok_or_else(|| anyhow!("runtime reported no init pid"))?;
        self.container = Some(container);
        Ok(pid.as_raw())
    }

    fn start(&mut self) -> anyhow::Result<()> {
        Ok(self.container()?.start()?)
    }

    fn kill(&mut self, signal: i32, all: bool) -> anyhow::Result<()> {
        let signal = Signal::try_from(signal).map_err(|e| anyhow!("{e}"))?;
        Ok(self.container()?.kill(signal, all)?)
    }

    fn pause(&mut self) -> anyhow::Result<()> {
        Ok(self.container()?.pause()?)
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        Ok(self.container()?.resume()?)
    }

    fn exec(&mut self, process: &Path, io: CreateIo) -> anyhow::Result<i32> {
        let tty = io.console_socket.is_some();
        let seccomp = bundle_seccomp(&self.bundle)?;
        let pid = self
            .builder(io)?
            .with_executor(Unmasked { seccomp })
            .validate_id()?
            .as_tenant()
            .with_process(Some(process))
            // As for create: in 0.7.0 this only gates the console socket.
            .with_detach(tty)
            .build()
            .map_err(runtime_error)?;
        Ok(pid.as_raw())
    }

    fn delete(&mut self) -> anyhow::Result<()> {
        let state_dir = self.root.join(&self.id);
        let container = match self.container.take() {
            Some(c) => Some(c),
            // After a failed create libcontainer normally cleans up itself; this catches a
            // state dir it left behind.
            None if state_dir.exists() => Some(
                Container::load(state_dir)
                    .with_context(|| format!("loading container {}", self.id))?,
            ),
            None => None,
        };
        if let Some(mut c) = container {
            c.delete(true)
                .with_context(|| format!("deleting container {}", self.id))?;
        }
        Ok(())
    }
}
