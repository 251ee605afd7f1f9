//! Mounting container root filesystems.

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

/// Mounts an overlay of `lower` (topmost first) with `upper`/`work` at `target`.
///
/// The option string must fit in one page (4096 bytes), which bounds the number of layers with
/// absolute paths; the error says so rather than failing with a bare EINVAL.
pub fn mount_overlay(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> io::Result<()> {
    let lowers: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    if opts.len() >= 4096 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "overlay options for {} layers exceed one page; the image has too many layers",
                lower.len()
            ),
        ));
    }
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .map_err(|e| io::Error::other(format!("mount overlay at {}: {e}", target.display())))
}

/// Detaches the mount at `target`; not mounted is fine.
pub fn unmount(target: &Path) -> io::Result<()> {
    match nix::mount::umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(io::Error::other(format!(
            "unmount {}: {e}",
            target.display()
        ))),
    }
}

/// True when `target` is a mount point (listed in /proc/self/mountinfo).
pub fn is_mounted(target: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let t = target.display().to_string();
    info.lines()
        .any(|l| l.split_whitespace().nth(4) == Some(t.as_str()))
}
