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

/// Mounts `source` of type `fstype` at `target` with an fstab-style option string: flag words
/// (`ro`, `nosuid`, `bind`, …) become mount flags, everything else is passed to the filesystem.
pub fn mount_with_options(
    source: &str,
    target: &Path,
    fstype: &str,
    options: &str,
) -> io::Result<()> {
    let (flags, data) = parse_options(options);
    let fstype = (!fstype.is_empty()).then_some(fstype);
    let data = (!data.is_empty()).then_some(data.as_str());
    nix::mount::mount(Some(source), target, fstype, flags, data).map_err(|e| {
        io::Error::other(format!(
            "mount {source} at {} (type {}, options {options:?}): {e}",
            target.display(),
            fstype.unwrap_or("none")
        ))
    })
}

/// Splits an option string into mount flags and the filesystem's own data string.
pub fn parse_options(options: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options.split(',').filter(|o| !o.is_empty()) {
        let (set, clear) = match o {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            other => {
                data.push(other);
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, data.join(","))
}

/// Sets the propagation of the mount at `target` (`shared`, `rslave`, …).
pub fn set_propagation(target: &Path, mode: &str) -> io::Result<()> {
    let flags = match mode {
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .map_err(|e| io::Error::other(format!("make {} {mode}: {e}", target.display())))
}

/// The mount that holds `path`: its mountinfo entry found by device number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_point: PathBuf,
    pub fstype: String,
    pub source: String,
    /// Optional fields such as `shared:12` or `master:3`.
    pub propagation: Vec<String>,
}

/// Finds the mount `path` lives on: the longest mount point that is a prefix of the canonical
/// path and has the same device number.
pub fn mount_of(path: &Path) -> io::Result<MountInfo> {
    use std::os::unix::fs::MetadataExt;
    let canon = std::fs::canonicalize(path)?;
    let dev = std::fs::metadata(&canon)?.dev();
    let (maj, min) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut best: Option<MountInfo> = None;
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let f: Vec<&str> = pre.split(' ').collect();
        if f.len() < 6 || f[2] != format!("{maj}:{min}") {
            continue;
        }
        let mp = PathBuf::from(unescape(f[4]));
        if !canon.starts_with(&mp) {
            continue;
        }
        if best
            .as_ref()
            .is_some_and(|b| b.mount_point.as_os_str().len() > mp.as_os_str().len())
        {
            continue;
        }
        let mut p = post.split(' ');
        best = Some(MountInfo {
            mount_point: mp,
            fstype: p.next().unwrap_or_default().to_string(),
            source: unescape(p.next().unwrap_or_default()),
            propagation: f[6..].iter().map(|s| s.to_string()).collect(),
        });
    }
    best.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no mount found for {}", path.display()),
        )
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
