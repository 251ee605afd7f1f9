//! youki's libcontainer, linked in. Init is a direct child of the shim (libcontainer clones it
//! with `CLONE_PARENT` from its intermediate process), so the shim reaps it itself.
//!
//! libcontainer changes process-wide state (`chdir` during create/start, non-dumpable,
//! `oom_score_adj`) and forks with raw `clone3`; all harmless here because the shim is
//! single-threaded and exists for this one container.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
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

impl Runtime for Builtin {
    fn create(&mut self, io: CreateIo) -> anyhow::Result<i32> {
        let mut builder = ContainerBuilder::new(self.id.clone(), SyscallType::default())
            .with_root_path(&self.root)?
            .with_console_socket(io.console_socket);
        if let Some(fd) = io.stdin {
            builder = builder.with_stdin(fd);
        }
        if let Some(fd) = io.stdout {
            builder = builder.with_stdout(fd);
        }
        if let Some(fd) = io.stderr {
            builder = builder.with_stderr(fd);
        }
        let container = builder
            .validate_id()?
            .as_init(&self.bundle)
            // Never the systemd cgroup driver: pouch writes absolute cgroupfs paths.
            .with_systemd(false)
            // In 0.7.0 this only gates the console socket, which a tty container needs.
            .with_detach(self.tty)
            .build()
            .map_err(|e| {
                let chain = format!("{:#}", anyhow::Error::from(e));
                anyhow!("{}", concise(&chain))
            })?;
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
