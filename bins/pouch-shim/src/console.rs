//! The console socket of a tty container: the runtime allocates the pty inside the container and
//! sends its master here with `SCM_RIGHTS`. The socket listens before create starts (the runtime
//! connects during create) and is removed as soon as the master has arrived.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use pouch_runtime::shim::files::SocketPath;
use pouch_runtime::shim::proto::CONSOLE_SOCKET_FILE;

pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
    /// The path handed to the runtime: the real one, or a `/proc/<shim pid>/fd/…` route when
    /// the real one is too long for `sun_path` (runtimes run as our children and can resolve it).
    runtime_path: PathBuf,
    _route: SocketPath,
}

impl ConsoleSocket {
    pub fn bind(state_dir: &Path) -> io::Result<ConsoleSocket> {
        Self::bind_named(state_dir, CONSOLE_SOCKET_FILE)
    }

    /// A console socket under another name (one per exec with a tty).
    pub fn bind_named(state_dir: &Path, name: &str) -> io::Result<ConsoleSocket> {
        let path = state_dir.join(name);
        let _ = std::fs::remove_file(&path);
        let route = SocketPath::new(state_dir, name)?;
        let listener = UnixListener::bind(route.path())?;
        let runtime_path = match route.path().strip_prefix("/proc/self") {
            Ok(rest) => Path::new("/proc")
                .join(std::process::id().to_string())
                .join(rest),
            Err(_) => path.clone(),
        };
        Ok(ConsoleSocket {
            listener,
            path,
            runtime_path,
            _route: route,
        })
    }

    /// The `--console-socket` argument for the runtime.
    pub fn runtime_path(&self) -> &Path {
        &self.runtime_path
    }

    /// Takes the pty master the runtime sent (it is already queued once create returned).
    pub fn receive(self, timeout: Duration) -> io::Result<OwnedFd> {
        let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(millis)).map_err(io::Error::from)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the runtime sent no pty master",
            ));
        }
        let (conn, _) = self.listener.accept()?;
        let mut fds = [PollFd::new(conn.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(millis)).map_err(io::Error::from)?;
        pouch_sys::proc::recv_fd(conn.as_fd())
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
