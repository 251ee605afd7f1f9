//! Filesystem primitives that std does not offer: device nodes, overlay whiteouts, xattrs, ownership
//! and timestamps on links.
//!
//! Every function here acts on the path itself and never follows a final symlink, because callers
//! (layer extraction above all) operate on trees whose symlinks point at attacker-chosen targets.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::sys::stat::{Mode, SFlag, UtimensatFlags, makedev};
use nix::sys::time::TimeSpec;

/// The xattr overlayfs reads to decide that a directory hides everything below it in lower layers.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Kinds of special file [`mknod`] can create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Char,
    Block,
    Fifo,
}

/// Creates a device node or fifo at `path` with permission bits `perm` (masked by the umask, as
/// mknod(2) does). `major`/`minor` are ignored for fifos.
pub fn mknod(path: &Path, kind: NodeKind, perm: u32, major: u64, minor: u64) -> io::Result<()> {
    let (flag, dev) = match kind {
        NodeKind::Char => (SFlag::S_IFCHR, makedev(major, minor)),
        NodeKind::Block => (SFlag::S_IFBLK, makedev(major, minor)),
        NodeKind::Fifo => (SFlag::S_IFIFO, 0),
    };
    nix::sys::stat::mknod(path, flag, Mode::from_bits_truncate(perm & 0o7777), dev)
        .map_err(io::Error::from)
}

/// Creates an overlayfs whiteout (a 0:0 character device) at `path`: in an overlay lowerdir it
/// hides the same name in every layer below.
pub fn create_whiteout(path: &Path) -> io::Result<()> {
    mknod(path, NodeKind::Char, 0, 0, 0)
}

/// Marks the directory `dir` opaque for overlayfs: entries of lower layers under it are hidden.
pub fn set_opaque(dir: &Path) -> io::Result<()> {
    lsetxattr(dir, OsStr::new(OVERLAY_OPAQUE_XATTR), b"y")
}

/// Changes the owner of `path` without following a final symlink.
pub fn lchown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
}

/// Sets both atime and mtime of `path` without following a final symlink (std's `set_times` needs
/// an open file, and symlinks cannot be opened).
pub fn set_times_nofollow(path: &Path, secs: i64, nsecs: i64) -> io::Result<()> {
    let ts = TimeSpec::new(secs, nsecs);
    nix::sys::stat::utimensat(None, path, &ts, &ts, UtimensatFlags::NoFollowSymlink)
        .map_err(io::Error::from)
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "nul byte in name"))
}

/// Sets the extended attribute `name` of `path` (not of a symlink's target).
pub fn lsetxattr(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let c_path = cstring(path.as_os_str().as_bytes())?;
    let c_name = cstring(name.as_bytes())?;
    // SAFETY: both pointers come from live CStrings (NUL-terminated); `value` is a valid slice
    // whose pointer and length are passed together; the kernel does not retain any of them.
    let rc = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads the extended attribute `name` of `path` (not of a symlink's target); `None` if unset.
pub fn lgetxattr(path: &Path, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    let c_path = cstring(path.as_os_str().as_bytes())?;
    let c_name = cstring(name.as_bytes())?;
    loop {
        // SAFETY: a NULL buffer with size 0 asks only for the value's length; the CStrings live
        // for the whole call.
        let len =
            unsafe { libc::lgetxattr(c_path.as_ptr(), c_name.as_ptr(), std::ptr::null_mut(), 0) };
        if len < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENODATA) => Ok(None),
                _ => Err(err),
            };
        }
        let mut buf = vec![0u8; len as usize];
        // SAFETY: `buf` is a writable allocation of exactly `buf.len()` bytes and the kernel
        // writes at most that many; the CStrings live for the whole call.
        let got = unsafe {
            libc::lgetxattr(
                c_path.as_ptr(),
                c_name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(Some(buf));
        }
        let err = io::Error::last_os_error();
        // ERANGE: the value grew between the two calls; ask for the size again.
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
}

/// Lists the extended attribute names of `path` (not of a symlink's target).
pub fn llistxattr(path: &Path) -> io::Result<Vec<OsString>> {
    let c_path = cstring(path.as_os_str().as_bytes())?;
    loop {
        // SAFETY: a NULL buffer with size 0 asks only for the list's length; the CString lives
        // for the whole call.
        let len = unsafe { libc::llistxattr(c_path.as_ptr(), std::ptr::null_mut(), 0) };
        if len < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; len as usize];
        // SAFETY: `buf` is a writable allocation of exactly `buf.len()` bytes and the kernel
        // writes at most that many; the CString lives for the whole call.
        let got = unsafe { libc::llistxattr(c_path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf
                .split(|b| *b == 0)
                .filter(|n| !n.is_empty())
                .map(|n| OsString::from_vec(n.to_vec()))
                .collect());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pouch-sys-fs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn whiteout_xattr_times_and_owner() {
        let dir = tempdir();
        let wh = dir.join("gone");
        create_whiteout(&wh).unwrap();
        let md = std::fs::symlink_metadata(&wh).unwrap();
        assert!(md.file_type().is_char_device());
        assert_eq!(md.rdev(), 0);

        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        set_opaque(&sub).unwrap();
        assert_eq!(
            lgetxattr(&sub, OsStr::new(OVERLAY_OPAQUE_XATTR))
                .unwrap()
                .as_deref(),
            Some(&b"y"[..])
        );
        assert!(
            llistxattr(&sub)
                .unwrap()
                .iter()
                .any(|n| n == OVERLAY_OPAQUE_XATTR)
        );
        assert_eq!(lgetxattr(&sub, OsStr::new("user.none")).unwrap(), None);

        let link = dir.join("link");
        std::os::unix::fs::symlink("/nonexistent", &link).unwrap();
        set_times_nofollow(&link, 1_000_000, 5).unwrap();
        lchown(&link, 12, 34).unwrap();
        let md = std::fs::symlink_metadata(&link).unwrap();
        assert_eq!(
            (md.mtime(), md.mtime_nsec(), md.uid(), md.gid()),
            (1_000_000, 5, 12, 34)
        );

        let fifo = dir.join("fifo");
        mknod(&fifo, NodeKind::Fifo, 0o600, 0, 0).unwrap();
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
