//! The OCI runtimes a shim can drive, behind one small trait. The shim itself tracks the
//! container's state and reaps init (it is init's parent or subreaper), so the trait only
//! covers the runtime operations that change something.

mod builtin;
mod external;
mod seccomp;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use pouch_runtime::shim::{RuntimeChoice, ShimLaunch};

pub use builtin::Builtin;
pub use external::External;

/// The container's stdio as handed to the runtime at create. `None` for stdin means
/// /dev/null; `console_socket` asks the runtime for a pty whose master it sends there.
pub struct CreateIo {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub console_socket: Option<PathBuf>,
}

/// One container's runtime. Errors carry the runtime's own message.
pub trait Runtime {
    /// Creates the container from the bundle; returns init's host pid. Init waits for `start`.
    fn create(&mut self, io: CreateIo) -> anyhow::Result<i32>;
    fn start(&mut self) -> anyhow::Result<()>;
    /// Signals init, or every process in the container's cgroup with `all`.
    fn kill(&mut self, signal: i32, all: bool) -> anyhow::Result<()>;
    fn pause(&mut self) -> anyhow::Result<()>;
    fn resume(&mut self) -> anyhow::Result<()>;
    /// Removes the runtime's state and the container's cgroup, killing what is left. Also
    /// cleans up after a failed create.
    fn delete(&mut self) -> anyhow::Result<()>;
    /// Starts an extra process in the running container from an OCI process description
    /// (`process.json`), with `io` as its stdio (or a pty sent to `io.console_socket`).
    /// Returns its host pid once it runs the executable; the shim reaps it (as parent or
    /// subreaper).
    fn exec(&mut self, process: &Path, io: CreateIo) -> anyhow::Result<i32>;
}

/// The backend `launch` asks for.
pub fn for_launch(l: &ShimLaunch) -> Box<dyn Runtime> {
    match &l.runtime {
        RuntimeChoice::Builtin => Box::new(Builtin::new(l)),
        RuntimeChoice::External { name, path, args } => {
            Box::new(External::new(l, name, path, args))
        }
    }
}
