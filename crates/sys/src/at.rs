//! `*at` syscalls on directory descriptors, for code that must never follow a symlink out of a
//! tree it does not trust (a container's rootfs): `openat2(RESOLVE_IN_ROOT)` resolution and the
//! `O_NOFOLLOW` family. Thin wrappers; callers hold the policy.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

pub fn chown_chmod(fd: BorrowedFd<'_>, uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscalls on a valid descriptor.
    unsafe {
        if libc::fchown(fd.as_raw_fd(), uid, gid) != 0 {
            return Err(io::Error::last_os_error());
        }
        // chmod after chown: chown clears setuid/setgid.
        if libc::fchmod(fd.as_raw_fd(), mode) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

pub fn set_mtime(dir: BorrowedFd<'_>, name: &OsStr, mtime: i64) {
    let Ok(c) = cstr(name) else { return };
    let t = libc::timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: valid descriptor, nul-terminated name, two timespecs.
    unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        );
    }
}

pub fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

pub fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub fn open_path(p: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cstr(p.as_os_str())?;
    // SAFETY: nul-terminated path; the returned descriptor is owned.
    let fd = check(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: fd was just returned by open.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn openat(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: valid descriptor and nul-terminated name.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_CLOEXEC,
            libc::c_uint::from(mode),
        )
    })?;
    // SAFETY: fd was just returned by openat.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens `path` with `root` as `/`: symlinks (absolute ones too) and `..` stay inside `root`.
pub fn open_in_root(root: BorrowedFd<'_>, path: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let c = cstr(OsStr::new(rel))?;
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_XDEV;
    for _ in 0..64 {
        // SAFETY: valid descriptor, nul-terminated path, open_how of the size passed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if r >= 0 {
            // SAFETY: r is a descriptor just returned by openat2.
            return Ok(unsafe { OwnedFd::from_raw_fd(r as libc::c_int) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EAGAIN) {
            return Err(e);
        }
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data, filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out pointer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

pub fn fstatat(dir: BorrowedFd<'_>, name: &OsStr, flags: libc::c_int) -> io::Result<libc::stat> {
    let c = cstr(name)?;
    // SAFETY: stat is plain data, filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, nul-terminated name, out pointer.
    check(unsafe { libc::fstatat(dir.as_raw_fd(), c.as_ptr(), &mut st, flags) })?;
    Ok(st)
}

/// `readlinkat`; an empty name reads the link an `O_PATH|O_NOFOLLOW` descriptor refers to.
pub fn readlinkat(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OsString> {
    let c = cstr(name)?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: valid descriptor, nul-terminated name, buffer of the given length.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            c.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(OsString::from_vec(buf))
}

pub fn mkdirat(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid descriptor and nul-terminated name.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) }).map(|_| ())
}

pub fn unlinkat(dir: BorrowedFd<'_>, name: &OsStr, flags: libc::c_int) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid descriptor and nul-terminated name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), flags) }).map(|_| ())
}

pub fn symlinkat(target: &[u8], dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let t = cstr(OsStr::from_bytes(target))?;
    let c = cstr(name)?;
    // SAFETY: nul-terminated strings and a valid descriptor.
    check(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), c.as_ptr()) }).map(|_| ())
}

pub fn linkat(
    odir: BorrowedFd<'_>,
    oname: &OsStr,
    ndir: BorrowedFd<'_>,
    nname: &OsStr,
) -> io::Result<()> {
    let o = cstr(oname)?;
    let n = cstr(nname)?;
    // SAFETY: valid descriptors and nul-terminated names; flags 0 never follows a symlink.
    check(unsafe {
        libc::linkat(
            odir.as_raw_fd(),
            o.as_ptr(),
            ndir.as_raw_fd(),
            n.as_ptr(),
            0,
        )
    })
    .map(|_| ())
}

pub fn mknodat(dir: BorrowedFd<'_>, name: &OsStr, mode: u32, dev: libc::dev_t) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid descriptor and nul-terminated name.
    check(unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), mode, dev) }).map(|_| ())
}

pub fn fchownat(dir: BorrowedFd<'_>, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
    let c = cstr(name)?;
    // SAFETY: valid descriptor and nul-terminated name; never follows the last component.
    check(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            c.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(|_| ())
}

pub fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}
