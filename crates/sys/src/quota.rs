//! Project quotas (ext4 `prjquota`, xfs `pquota`) without quota-tools: the project id and its
//! inherit flag are set on a directory with `FS_IOC_FSSETXATTR`, the limit with `quotactl(2)`
//! through the generic `Q_SETQUOTA` interface, which both filesystems implement.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use crate::at::{check, cstr};

#[repr(C)]
#[derive(Default)]
struct FsXattr {
    xflags: u32,
    extsize: u32,
    nextents: u32,
    projid: u32,
    cowextsize: u32,
    pad: [u8; 8],
}

/// `_IOR('X', 31, struct fsxattr)` and `_IOW('X', 32, struct fsxattr)`.
const FS_IOC_FSGETXATTR: libc::c_ulong = 0x801C_581F;
const FS_IOC_FSSETXATTR: libc::c_ulong = 0x401C_5820;
const FS_XFLAG_PROJINHERIT: u32 = 0x0000_0200;

/// `struct if_dqblk` of `<linux/quota.h>`.
#[repr(C)]
#[derive(Default)]
struct IfDqblk {
    bhardlimit: u64,
    bsoftlimit: u64,
    curspace: u64,
    ihardlimit: u64,
    isoftlimit: u64,
    curinodes: u64,
    btime: u64,
    itime: u64,
    valid: u32,
}

const Q_GETINFO: i32 = 0x80_0005;
const Q_SETQUOTA: i32 = 0x80_0008;
const PRJQUOTA: i32 = 2;
const QIF_BLIMITS: u32 = 1;
/// Quota block limits count 1 KiB blocks whatever the filesystem's block size.
const QIF_BLOCK: u64 = 1024;

fn qcmd(cmd: i32, kind: i32) -> i32 {
    (cmd << 8) | (kind & 0xff)
}

/// The project id of a file or directory.
pub fn project_id(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut x = FsXattr::default();
    // SAFETY: valid descriptor; the kernel fills a struct of exactly this layout.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), FS_IOC_FSGETXATTR, &mut x as *mut FsXattr) })?;
    Ok(x.projid)
}

/// Puts a directory in project `id` and marks it so that everything created below inherits the
/// project. Existing content keeps its project: callers set it on empty directories.
pub fn set_project_id(fd: BorrowedFd<'_>, id: u32) -> io::Result<()> {
    let mut x = FsXattr::default();
    // SAFETY: valid descriptor; the kernel fills a struct of exactly this layout.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), FS_IOC_FSGETXATTR, &mut x as *mut FsXattr) })?;
    x.projid = id;
    x.xflags |= FS_XFLAG_PROJINHERIT;
    // SAFETY: valid descriptor; the kernel reads a struct of exactly this layout.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), FS_IOC_FSSETXATTR, &x as *const FsXattr) })?;
    Ok(())
}

/// Whether project quota accounting is on for the filesystem on block device `dev`. `ESRCH` (quota
/// off), `ENOSYS`/`EOPNOTSUPP` (no quota support) and `EINVAL` mean no.
pub fn project_quota_enabled(dev: &Path) -> io::Result<bool> {
    let c = cstr(dev.as_os_str())?;
    let mut info = [0u8; 72];
    // SAFETY: nul-terminated device path; `info` is larger than `struct if_dqinfo` (24 bytes).
    let r = unsafe {
        libc::quotactl(
            qcmd(Q_GETINFO, PRJQUOTA),
            c.as_ptr(),
            0,
            info.as_mut_ptr().cast(),
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ESRCH | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL | libc::ENOTBLK) => {
            Ok(false)
        }
        _ => Err(e),
    }
}

/// Sets the hard block limit of project `id` (bytes, rounded up to KiB; 0 lifts the limit).
pub fn set_project_limit(dev: &Path, id: u32, bytes: u64) -> io::Result<()> {
    let c = cstr(dev.as_os_str())?;
    let mut q = IfDqblk {
        bhardlimit: bytes.div_ceil(QIF_BLOCK),
        bsoftlimit: bytes.div_ceil(QIF_BLOCK),
        valid: QIF_BLIMITS,
        ..Default::default()
    };
    // SAFETY: nul-terminated device path; `q` has the kernel's `if_dqblk` layout.
    check(unsafe {
        libc::quotactl(
            qcmd(Q_SETQUOTA, PRJQUOTA),
            c.as_ptr(),
            id as i32,
            (&mut q as *mut IfDqblk).cast(),
        )
    })?;
    Ok(())
}
