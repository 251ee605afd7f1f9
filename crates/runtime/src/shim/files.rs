//! The files a shim leaves in the container's state dir, readable without talking to it (after
//! pouchd restarts, or after the shim has exited).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::args::CLEANUP;
use super::proto::{EXIT_FILE, ExitInfo, PID_FILE};

/// The file name of the shim binary, as it appears in its command line.
const SHIM_BINARY: &str = "pouch-shim";

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
    serves(pid, state_dir).then_some(pid)
}

/// Whether process `pid` is alive and carries `state_dir` on its command line: a shim of that
/// state dir (or a container init it forked that has not yet run its executable). A zombie
/// has no command line, so it does not count.
pub fn serves(pid: i32, state_dir: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let want = state_dir.as_os_str().as_bytes();
    cmdline.split(|&b| b == 0).any(|arg| arg == want)
}

/// Every live shim process whose state dir sits directly under `containers_dir` (an
/// exec-root's `containers/`), found through /proc rather than pid files: this also finds a
/// shim whose state dir was deleted under it. Yields (pid, state dir); a container init that
/// was forked by a shim and has not yet run its executable shares the shim's command line
/// and is listed too. `cleanup` runs are not shims and are left out.
pub fn find_shims(containers_dir: &Path) -> Vec<(i32, PathBuf)> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_shim = args
            .first()
            .is_some_and(|a| Path::new(std::ffi::OsStr::from_bytes(a)).ends_with(SHIM_BINARY));
        if !is_shim || args.get(1).is_some_and(|a| *a == CLEANUP.as_bytes()) {
            continue;
        }
        let state_dir = args
            .windows(2)
            .find(|w| w[0] == b"--state-dir")
            .map(|w| PathBuf::from(std::ffi::OsStr::from_bytes(w[1])));
        if let Some(dir) = state_dir.filter(|d| d.parent() == Some(containers_dir)) {
            found.push((pid, dir));
        }
    }
    found
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
    fn shims_are_found_by_their_state_dir_even_without_files() {
        use std::os::unix::process::CommandExt;
        let root = tempfile::tempdir().unwrap();
        let containers = root.path().join("containers");
        let dir = containers.join("abc");
        // A stand-in with a shim's command line (a shell blocked in a builtin, so it forks
        // nothing); its state dir does not even exist.
        let mut child = std::process::Command::new("/bin/sh")
            .arg0("/usr/local/bin/pouch-shim")
            .args(["-c", "read x", "--state-dir"])
            .arg(&dir)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // spawn may return before the child's exec has replaced its command line.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !serves(pid, &dir) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let found = find_shims(&containers);
        let other = find_shims(&root.path().join("elsewhere"));
        assert!(serves(pid, &dir));
        assert!(!serves(pid, &containers.join("abd")));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found, vec![(pid, dir.clone())]);
        assert!(other.is_empty());
        assert!(!serves(pid, &dir), "a reaped process serves nothing");
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
