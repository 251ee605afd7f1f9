//! The files a shim leaves in the container's state dir, readable without talking to it (after
//! pouchd restarts, or after the shim has exited).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::proto::{EXIT_FILE, ExitInfo, PID_FILE};

/// The exit record the shim wrote when the container exited; `None` if there is none (the
/// container has not exited, or the shim died before recording it) or it is unreadable.
pub fn read_exit_file(state_dir: &Path) -> Option<ExitInfo> {
    let bytes = fs::read(state_dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Records the exit crash-safely: temp file, fsync, rename, fsync of the directory. Readers
/// therefore see either no file or a complete one.
pub fn write_exit_file(state_dir: &Path, exit: &ExitInfo) -> io::Result<()> {
    let json = serde_json::to_vec(exit).map_err(io::Error::other)?;
    write_atomic(state_dir, EXIT_FILE, &json)
}

/// The pid of the shim serving `state_dir`, if that process is still alive. The pid file is
/// checked against the process's command line so a recycled pid is not mistaken for the shim.
pub fn shim_pid(state_dir: &Path) -> Option<i32> {
    let text = fs::read_to_string(state_dir.join(PID_FILE)).ok()?;
    let pid: i32 = text.trim().parse().ok().filter(|&p| p > 0)?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let want = state_dir.as_os_str().as_bytes();
    cmdline
        .split(|&b| b == 0)
        .any(|arg| arg == want)
        .then_some(pid)
}

/// Writes the shim's pid file (atomically, so a reader never sees a partial number).
pub fn write_pid_file(state_dir: &Path, pid: u32) -> io::Result<()> {
    write_atomic(state_dir, PID_FILE, pid.to_string().as_bytes())
}

fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

/// A path through which a unix socket in `dir` can be bound or connected even when the full
/// path exceeds the 108-byte `sun_path` limit: `/proc/self/fd/<dirfd>/<name>` resolves through
/// an open handle on the directory. Keep the value alive until the bind/connect has happened.
#[derive(Debug)]
pub struct SocketPath {
    path: PathBuf,
    _dir: Option<File>,
}

impl SocketPath {
    /// Longest path that fits `sockaddr_un.sun_path` with its terminating NUL.
    const MAX: usize = 107;

    pub fn new(dir: &Path, name: &str) -> io::Result<SocketPath> {
        let full = dir.join(name);
        if full.as_os_str().len() <= Self::MAX {
            return Ok(SocketPath {
                path: full,
                _dir: None,
            });
        }
        let handle = File::open(dir)?;
        Ok(SocketPath {
            path: PathBuf::from(format!("/proc/self/fd/{}/{name}", handle.as_raw_fd())),
            _dir: Some(handle),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::{UnixListener, UnixStream};

    #[test]
    fn exit_file_round_trips_and_tolerates_absence() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_exit_file(dir.path()), None);
        let e = ExitInfo {
            exit_code: 137,
            exited_at: 1_700_000_000_123_456_789,
            oom_killed: true,
            error: None,
        };
        write_exit_file(dir.path(), &e).unwrap();
        assert_eq!(read_exit_file(dir.path()), Some(e));
        assert!(!dir.path().join(".exit.json.tmp").exists());
    }

    #[test]
    fn pid_file_only_names_a_live_shim_for_this_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(shim_pid(dir.path()), None);
        // Our own process does not carry the state dir on its command line.
        write_pid_file(dir.path(), std::process::id()).unwrap();
        assert_eq!(shim_pid(dir.path()), None);
    }

    #[test]
    fn long_socket_paths_go_through_proc() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("d".repeat(100));
        fs::create_dir(&deep).unwrap();
        let sp = SocketPath::new(&deep, "s.sock").unwrap();
        assert!(sp.path().starts_with("/proc/self/fd"));
        let _l = UnixListener::bind(sp.path()).unwrap();
        assert!(deep.join("s.sock").exists());
        let sp2 = SocketPath::new(&deep, "s.sock").unwrap();
        UnixStream::connect(sp2.path()).unwrap();
    }
}
