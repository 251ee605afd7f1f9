//! Facts about the host that `/info` and `/version` report, read from the kernel each time.

use std::io;
use std::path::Path;

/// `uname -r`.
pub fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The host name, for `/info`'s `Name`.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Online CPUs.
pub fn cpu_count() -> i64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1)
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
pub fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| parse_meminfo_total(&s))
        .unwrap_or(0)
}

fn parse_meminfo_total(s: &str) -> Option<i64> {
    let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `PRETTY_NAME` (and `VERSION_ID`) from os-release.
pub fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let pretty = field("PRETTY_NAME");
    (
        if pretty.is_empty() {
            "Linux".into()
        } else {
            pretty
        },
        field("VERSION_ID"),
    )
}

/// Which cgroup layout the host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// Legacy or hybrid: controllers on v1 hierarchies (possibly with cgroup2 at `unified`).
    V1,
    /// Unified: `/sys/fs/cgroup` itself is cgroup2.
    V2,
}

/// Detects the layout from the filesystem type mounted at `/sys/fs/cgroup`.
pub fn cgroup_version() -> io::Result<CgroupVersion> {
    let st = nix::sys::statfs::statfs(Path::new("/sys/fs/cgroup")).map_err(io::Error::from)?;
    Ok(
        if st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC {
            CgroupVersion::V2
        } else {
            CgroupVersion::V1
        },
    )
}

/// True when the kernel lists `overlay` in `/proc/filesystems` (the module may still autoload).
pub fn has_overlayfs() -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .map(|s| {
            s.lines()
                .any(|l| l.split_whitespace().last() == Some("overlay"))
        })
        .unwrap_or(false)
}

/// Whether IPv4 forwarding is on.
pub fn ipv4_forwarding() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

/// Open file descriptors of this process.
pub fn open_fds() -> i64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as i64)
        .unwrap_or(0)
}

/// Go's name for this machine's architecture (`amd64`, `arm64`, …), as image platforms use.
pub fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_total_in_bytes() {
        assert_eq!(
            parse_meminfo_total("MemTotal:  1024 kB\nMemFree: 1 kB\n"),
            Some(1024 * 1024)
        );
        assert_eq!(parse_meminfo_total("nothing"), None);
    }

    #[test]
    fn host_facts_are_plausible() {
        assert!(cpu_count() >= 1);
        assert!(mem_total() > 0);
        assert!(!kernel_version().is_empty());
        assert!(cgroup_version().is_ok());
    }
}
