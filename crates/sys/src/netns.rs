//! Named network namespaces: a namespace kept alive by a bind mount of its nsfs file (as
//! `ip netns` and CNI do), so it exists before the container and can be joined by path.
//!
//! Namespace switches happen on a short-lived thread of their own: `setns`/`unshare` change only
//! the calling thread, and that thread never returns to a pool.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

/// Creates a new network namespace and pins it at `path` (created; its parent must exist).
/// An existing pinned namespace at `path` is kept.
pub fn create(path: &Path) -> io::Result<()> {
    if crate::mount::is_mounted(path) {
        return Ok(());
    }
    File::create(path)?;
    let target: PathBuf = path.to_path_buf();
    let res = std::thread::spawn(move || -> io::Result<()> {
        // SAFETY: unshare only changes this thread's namespace; the thread ends right after.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        let src = format!("/proc/self/task/{tid}/ns/net");
        nix::mount::mount(
            Some(src.as_str()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(io::Error::from)
    })
    .join()
    .map_err(|_| io::Error::other("netns thread panicked"))?;
    if res.is_err() {
        let _ = std::fs::remove_file(path);
    }
    res
}

/// Unpins and removes a named namespace; a missing one is not an error. The namespace itself
/// (and the veth ends in it) goes away once no process uses it.
pub fn remove(path: &Path) -> io::Result<()> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Runs `f` on a fresh thread that has joined the network namespace at `path` (a pinned
/// namespace or `/proc/<pid>/ns/net`).
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let ns = File::open(path)?;
    std::thread::spawn(move || -> io::Result<T> {
        // SAFETY: ns is an open nsfs file; setns changes only this thread, which ends after f.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        f()
    })
    .join()
    .map_err(|_| io::Error::other("netns thread panicked"))?
}

/// Writes a sysctl under `/proc/sys/` for the calling thread's network namespace (`key` like
/// `net/ipv4/ip_forward`).
pub fn sysctl(key: &str, value: &str) -> io::Result<()> {
    // net sysctls resolve against the opening thread's namespace.
    std::fs::write(format!("/proc/sys/{key}"), value.as_bytes())
}
