//! User namespaces for `--userns-remap`: a namespace file descriptor carrying the daemon's id
//! maps (made by a short-lived child), and idmapped mounts (`mount_setattr(MOUNT_ATTR_IDMAP)`)
//! that let a container's remapped root own its image layers and writable layer without chown
//! or copies.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::at::{check, cstr, open_path};

/// One line of a uid or gid map: `size` ids from `container` inside are `host` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

fn map_text(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container, m.host, m.size))
        .collect()
}

/// Forks a child that runs `enter` (raw syscalls only: the parent is multi-threaded) and stays
/// alive, in whatever namespaces `enter` put it, while `parent` works with its pid. `enter`
/// returning false fails with `what`.
fn with_child<T>(
    enter: impl FnOnce() -> bool,
    what: &str,
    parent: impl FnOnce(i32) -> io::Result<T>,
) -> io::Result<T> {
    let (ready_r, ready_w) = nix::unistd::pipe().map_err(io::Error::from)?;
    let (done_r, done_w) = nix::unistd::pipe().map_err(io::Error::from)?;
    let (rr, rw, dr, dw) = (
        ready_r.as_raw_fd(),
        ready_w.as_raw_fd(),
        done_r.as_raw_fd(),
        done_w.as_raw_fd(),
    );
    // SAFETY: fork; the child runs `enter` (raw syscalls) and raw reads and writes, then leaves
    // with _exit.
    let pid = check(unsafe { libc::fork() })?;
    if pid == 0 {
        let ok: u8 = u8::from(enter());
        // SAFETY: raw syscalls on descriptors inherited from the parent.
        unsafe {
            libc::close(rr);
            libc::close(dw);
            libc::write(rw, (&ok as *const u8).cast(), 1);
            let mut b = 0u8;
            libc::read(dr, (&mut b as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    drop(ready_w);
    drop(done_r);
    let res = (|| {
        let mut ready = std::fs::File::from(ready_r);
        let mut b = [0u8; 1];
        ready.read_exact(&mut b)?;
        if b[0] != 1 {
            return Err(io::Error::other(what.to_string()));
        }
        parent(pid)
    })();
    drop(done_w);
    let mut status = 0;
    // SAFETY: waiting for the child forked above.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    res
}

/// A user namespace with these maps, held by the returned descriptor.
pub fn userns_fd(uids: &[IdMap], gids: &[IdMap]) -> io::Result<OwnedFd> {
    let (uid_text, gid_text) = (map_text(uids), map_text(gids));
    with_child(
        // SAFETY: unshare is a raw syscall with no memory arguments.
        || unsafe { libc::unshare(libc::CLONE_NEWUSER) == 0 },
        "cannot create a user namespace",
        |pid| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/{pid}/uid_map"))?
                .write_all(uid_text.as_bytes())?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/{pid}/gid_map"))?
                .write_all(gid_text.as_bytes())?;
            open_path(Path::new(&format!("/proc/{pid}/ns/user")), libc::O_RDONLY)
        },
    )
}

/// A user namespace with these maps, pinned at `path` (a file created here) by a bind mount of
/// its nsfs file, so runtimes can join it by path and network namespaces can be made inside it.
pub fn pin_userns(uids: &[IdMap], gids: &[IdMap], path: &Path) -> io::Result<()> {
    if crate::mount::is_mounted(path) {
        return Ok(());
    }
    let fd = userns_fd(uids, gids)?;
    let src = format!("/proc/self/fd/{}", fd.as_raw_fd());
    pin_ns(&src, path, "user namespace")
}

/// Pins the namespace whose nsfs file is `ns` at `path` (a file created here) with a bind
/// mount; `what` names the namespace in the error. A failed mount removes the file again.
fn pin_ns(ns: &str, path: &Path, what: &str) -> io::Result<()> {
    std::fs::File::create(path)?;
    nix::mount::mount(
        Some(ns),
        path,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        let _ = std::fs::remove_file(path);
        io::Error::other(format!("pin {what} at {}: {e}", path.display()))
    })
}

/// Creates a network namespace owned by the user namespace pinned at `userns` and pins it at
/// `path`, so a process that joins the user namespace may then join the network namespace. An
/// existing pinned namespace at `path` is kept.
pub fn create_netns_in(userns: &Path, path: &Path) -> io::Result<()> {
    if crate::mount::is_mounted(path) {
        return Ok(());
    }
    let ns = open_path(userns, libc::O_RDONLY)?;
    let res = with_child(
        // SAFETY: raw syscalls on a valid descriptor; a user namespace can only be joined by a
        // single-threaded process, which the forked child is.
        || unsafe {
            libc::setns(ns.as_raw_fd(), libc::CLONE_NEWUSER) == 0
                && libc::unshare(libc::CLONE_NEWNET) == 0
        },
        "cannot make a network namespace in the container's user namespace",
        |pid| pin_ns(&format!("/proc/{pid}/ns/net"), path, "netns"),
    );
    if res.is_err() {
        let _ = std::fs::remove_file(path);
    }
    res
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// Mounts `src` at `target` (an existing directory) with ids shifted through `userns`: a file
/// owned by host uid H appears owned by the container id that maps to H, so a remapped root
/// owns what host root owns.
pub fn idmapped_bind(src: &Path, target: &Path, userns: BorrowedFd<'_>) -> io::Result<()> {
    let err = |what: &str| {
        io::Error::other(format!(
            "idmapped mount of {} ({what}): {}",
            src.display(),
            io::Error::last_os_error()
        ))
    };
    let tree = crate::nsmount::open_tree_clone(src)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let empty = c"";
    // SAFETY: mount_setattr on the detached tree with a correctly sized struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        return Err(err("mount_setattr"));
    }
    let t = cstr(target.as_os_str())?;
    // SAFETY: move_mount of the detached tree onto a nul-terminated target path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r != 0 {
        return Err(err("move_mount"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn idmapped_mount_shifts_owners() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping: needs root");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        let dst = t.path().join("dst");
        std::fs::create_dir(&src).unwrap();
        std::fs::create_dir(&dst).unwrap();
        std::fs::write(src.join("f"), b"x").unwrap();
        let m = [IdMap {
            container: 0,
            host: 300000,
            size: 65536,
        }];
        let ns = userns_fd(&m, &m).unwrap();
        idmapped_bind(&src, &dst, ns.as_fd()).unwrap();
        // Host root's file is seen as owned by 300000 through the idmapped mount.
        assert_eq!(std::fs::metadata(dst.join("f")).unwrap().uid(), 300000);
        crate::mount::unmount(&dst).unwrap();
    }
}
