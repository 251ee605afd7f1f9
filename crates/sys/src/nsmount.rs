//! Replacing bind mounts inside a running container's mount namespace, from the host: used to
//! repair lxcfs's `/proc` files after lxcfs restarts. The new mounts are cloned on the host with
//! `open_tree(OPEN_TREE_CLONE)` (a detached mount can be attached in any namespace), then a forked
//! child enters the container's mount namespace and swaps them in with `move_mount`. The child
//! makes raw syscalls only, so forking the multi-threaded daemon is safe.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::at::{check, cstr, open_path};

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// A detached copy of the mount at `src` (`open_tree(OPEN_TREE_CLONE)`), attachable anywhere.
pub(crate) fn open_tree_clone(src: &Path) -> io::Result<OwnedFd> {
    let c = cstr(src.as_os_str())?;
    // SAFETY: open_tree with a nul-terminated path; the returned descriptor is owned.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::other(format!(
            "clone mount {}: {}",
            src.display(),
            io::Error::last_os_error()
        )));
    }
    // SAFETY: fd was just returned by open_tree.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// In the mount namespace of `pid`, replaces whatever is mounted at each destination with a bind
/// of the host path. Returns how many destinations were replaced.
pub fn rebind_in_namespace(pid: u32, binds: &[(&Path, &str)]) -> io::Result<usize> {
    let ns = open_path(Path::new(&format!("/proc/{pid}/ns/mnt")), libc::O_RDONLY)?;
    let mut trees = Vec::with_capacity(binds.len());
    let mut dests: Vec<CString> = Vec::with_capacity(binds.len());
    for (src, dest) in binds {
        trees.push(open_tree_clone(src)?);
        dests.push(cstr(std::ffi::OsStr::new(dest))?);
    }
    let empty = CString::default();
    // SAFETY: fork; the child only makes raw syscalls on memory prepared before the fork and
    // leaves with _exit.
    let child = check(unsafe { libc::fork() })?;
    if child == 0 {
        // SAFETY: raw syscalls on valid descriptors and nul-terminated strings.
        unsafe {
            if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) != 0 {
                libc::_exit(100);
            }
            let mut replaced = 0;
            for (tree, dest) in trees.iter().zip(&dests) {
                libc::umount2(dest.as_ptr(), libc::MNT_DETACH);
                let r = libc::syscall(
                    libc::SYS_move_mount,
                    tree.as_raw_fd(),
                    empty.as_ptr(),
                    libc::AT_FDCWD,
                    dest.as_ptr(),
                    MOVE_MOUNT_F_EMPTY_PATH,
                );
                if r == 0 {
                    replaced += 1;
                }
            }
            libc::_exit(replaced);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for the child forked above.
    check(unsafe { libc::waitpid(child, &mut status, 0) })?;
    if !libc::WIFEXITED(status) {
        return Err(io::Error::other("mount helper died"));
    }
    match libc::WEXITSTATUS(status) {
        100 => Err(io::Error::other(format!(
            "cannot enter the mount namespace of pid {pid}"
        ))),
        n => Ok(n as usize),
    }
}
