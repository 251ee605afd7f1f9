//! The host's cgroup layout and the container's view of it (`/sys/fs/cgroup`).
//!
//! On cgroup v1 the spec never contains a `type: cgroup` mount: libcontainer 0.7.0 turns that into
//! read-write binds of the container's own cgroup directories whatever the options say, which lets
//! root in the container raise its own memory and pids limits (probe §5.2). Instead the generator
//! writes nearly what runc and crun produce themselves: a tmpfs at `/sys/fs/cgroup` and one
//! explicit read-only bind of the container's cgroup directory per hierarchy. All three runtimes
//! create those directories before they mount the rootfs, so the bind sources exist when needed.
//! Unlike runc's, the tmpfs stays writable: see [`super::mounts::readonly_paths`] for why.

use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount as OciMount;

use super::mounts::mount;
use super::{CgroupLayout, SpecError};

/// Where the container sees its cgroups.
pub(crate) const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// v1 controllers that libcgroups 0.7 manages: only in these hierarchies does the container get
/// a directory of its own. (runc and crun also create one under `name=systemd` and in cgroup2 on a
/// hybrid host; libcontainer does not, and binding the host's root there leaks other cgroups.)
const MANAGED_V1: [&str; 12] = [
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
];

/// The other v1 controllers the kernel may print among a cgroup mount's super options.
const UNMANAGED_V1: [&str; 3] = ["rdma", "misc", "debug"];

/// Reads the host's cgroup layout from `/proc/self/mountinfo`.
///
/// `V2` when `/sys/fs/cgroup` itself is cgroup2; otherwise `V1` listing every v1 hierarchy,
/// named ones such as `name=systemd` included (the generator decides which to use).
pub fn detect_cgroup_layout() -> io::Result<CgroupLayout> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    parse_mountinfo(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no cgroup filesystem is mounted at /sys/fs/cgroup",
        )
    })
}

/// The parsing half of [`detect_cgroup_layout`], separate so it can be tested on fixed input.
pub(super) fn parse_mountinfo(text: &str) -> Option<CgroupLayout> {
    let mut v1: Vec<(String, PathBuf)> = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split(' ').nth(4).map(unescape) else {
            continue;
        };
        let mut right = right.split(' ');
        let (Some(fs_type), Some(_source), Some(super_opts)) =
            (right.next(), right.next(), right.next())
        else {
            continue;
        };
        match fs_type {
            "cgroup2" if mount_point == Path::new(CGROUP_ROOT) => return Some(CgroupLayout::V2),
            "cgroup" => {
                let name = super_opts
                    .split(',')
                    .filter(|o| {
                        MANAGED_V1.contains(o) || UNMANAGED_V1.contains(o) || o.starts_with("name=")
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                if name.is_empty() {
                    continue;
                }
                // A hierarchy can be mounted more than once; the one below /sys/fs/cgroup is
                // the canonical mount point.
                let canonical = mount_point.starts_with(CGROUP_ROOT);
                match v1.iter_mut().find(|(n, _)| *n == name) {
                    Some(entry) if canonical && !entry.1.starts_with(CGROUP_ROOT) => {
                        entry.1 = mount_point
                    }
                    Some(_) => {}
                    None => v1.push((name, mount_point)),
                }
            }
            _ => {}
        }
    }
    (!v1.is_empty()).then_some(CgroupLayout::V1 { controllers: v1 })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, …).
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes.get(i + 1..i + 4).filter(|d| {
            bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)) && d[0] <= b'3'
        });
        if let Some(d) = escape {
            out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Rejects cgroup paths that would escape or be the hierarchy root: the path is joined onto host
/// mount points to find bind sources, and a container owning `/` would see every other cgroup.
pub(super) fn validate_cgroups_path(path: &str) -> Result<(), SpecError> {
    let valid = path.strip_prefix('/').is_some_and(|rest| {
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        !rest.is_empty() && rest.split('/').all(|s| !matches!(s, "" | "." | ".."))
    });
    if valid {
        Ok(())
    } else {
        Err(SpecError::CgroupsPath(path.to_string()))
    }
}

/// The mounts that make up `/sys/fs/cgroup` in the container. Privileged containers get them
/// read-write, as Docker gives them.
pub(super) fn mounts(
    layout: &CgroupLayout,
    cgroups_path: &str,
    privileged: bool,
) -> Result<Vec<OciMount>, SpecError> {
    let access = if privileged { "rw" } else { "ro" };
    let hierarchies = match layout {
        CgroupLayout::V2 => {
            return Ok(vec![mount(
                CGROUP_ROOT,
                "cgroup",
                "cgroup",
                &[access, "nosuid", "noexec", "nodev"],
            )?]);
        }
        CgroupLayout::V1 { controllers } => controllers,
    };
    let mut out = vec![mount(
        CGROUP_ROOT,
        "tmpfs",
        "tmpfs",
        &["nosuid", "noexec", "nodev", "mode=755"],
    )?];
    let relative = cgroups_path.trim_start_matches('/');
    for (name, mount_point) in hierarchies {
        let controllers: Vec<&str> = name.split(',').filter(|c| MANAGED_V1.contains(c)).collect();
        if controllers.is_empty() {
            continue;
        }
        let source = mount_point.join(relative);
        let joined = controllers.join(",");
        // Docker symlinks each co-mounted controller (cpu -> cpu,cpuacct); OCI has no symlink
        // mounts, so the same directory is bound under each name instead.
        let mut names = vec![joined.clone()];
        if controllers.len() > 1 {
            names.extend(
                controllers
                    .iter()
                    .filter(|c| !hierarchies.iter().any(|(n, _)| n == *c))
                    .map(|c| c.to_string()),
            );
        }
        for dest_name in names {
            out.push(mount(
                format!("{CGROUP_ROOT}/{dest_name}"),
                "bind",
                source.clone(),
                &["rbind", access, "nosuid", "nodev", "noexec"],
            )?);
        }
    }
    Ok(out)
}

/// Whether the kernel accounts swap for the memory controller (`memory.memsw.*` on v1,
/// `memory.swap.*` on v2). Without it a memory+swap limit cannot be written.
pub fn swap_limit_supported(layout: &CgroupLayout) -> bool {
    match layout {
        CgroupLayout::V2 => {
            Path::new(CGROUP_ROOT).join("memory.swap.current").exists()
                || std::fs::read_dir(CGROUP_ROOT).is_ok_and(|mut d| {
                    d.any(|e| e.is_ok_and(|e| e.path().join("memory.swap.max").exists()))
                })
        }
        CgroupLayout::V1 { .. } => v1_mount(layout, "memory")
            .is_some_and(|mp| mp.join("memory.memsw.limit_in_bytes").exists()),
    }
}

/// What the host's cgroups can enforce, for the limits a container may ask for. Docker checks
/// the same files (moby `pkg/sysinfo`); where Docker only warns and drops a limit, pouch refuses
/// the container instead, so a limit that was asked for is never silently absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HostSupport {
    pub swap: bool,
    pub swappiness: bool,
    pub oom_kill_disable: bool,
    pub blkio_weight: bool,
    pub blkio_throttle: bool,
    pub cpuset: bool,
}

impl HostSupport {
    /// Everything available (what tests of the generator assume).
    #[cfg(test)]
    pub(super) const ALL: HostSupport = HostSupport {
        swap: true,
        swappiness: true,
        oom_kill_disable: true,
        blkio_weight: true,
        blkio_throttle: true,
        cpuset: true,
    };
}

/// The v1 mount point of the hierarchy holding `controller`.
pub(crate) fn v1_mount<'a>(layout: &'a CgroupLayout, controller: &str) -> Option<&'a Path> {
    match layout {
        CgroupLayout::V2 => None,
        CgroupLayout::V1 { controllers } => controllers
            .iter()
            .find(|(name, _)| name.split(',').any(|c| c == controller))
            .map(|(_, mp)| mp.as_path()),
    }
}

/// Reads what this host supports (a few `stat`s).
pub(super) fn host_support(layout: &CgroupLayout) -> HostSupport {
    let weight_scheduler = block_scheduler_with_weights();
    match layout {
        CgroupLayout::V2 => {
            let controllers =
                std::fs::read_to_string(Path::new(CGROUP_ROOT).join("cgroup.controllers"))
                    .unwrap_or_default();
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            HostSupport {
                swap: swap_limit_supported(layout),
                // cgroup v2 has neither a swappiness knob nor a way to turn the OOM killer off.
                swappiness: false,
                oom_kill_disable: false,
                blkio_weight: has("io") && weight_scheduler,
                blkio_throttle: has("io"),
                cpuset: has("cpuset"),
            }
        }
        CgroupLayout::V1 { .. } => {
            let mem = v1_mount(layout, "memory");
            let blkio = v1_mount(layout, "blkio");
            let mem_file = |f: &str| mem.is_some_and(|m| m.join(f).exists());
            let blkio_file = |f: &str| blkio.is_some_and(|b| b.join(f).exists());
            HostSupport {
                swap: swap_limit_supported(layout),
                swappiness: mem_file("memory.swappiness"),
                oom_kill_disable: mem_file("memory.oom_control"),
                // CFQ's `blkio.weight` sits at the root; BFQ's only below it and only counts
                // when some disk runs the BFQ scheduler.
                blkio_weight: blkio_file("blkio.weight") || (blkio.is_some() && weight_scheduler),
                blkio_throttle: blkio_file("blkio.throttle.read_bps_device"),
                cpuset: v1_mount(layout, "cpuset").is_some(),
            }
        }
    }
}

/// Whether any block device uses a scheduler that honours I/O weights (CFQ or BFQ).
fn block_scheduler_with_weights() -> bool {
    let Ok(dir) = std::fs::read_dir("/sys/block") else {
        return false;
    };
    dir.flatten().any(|d| {
        std::fs::read_to_string(d.path().join("queue/scheduler"))
            .is_ok_and(|s| s.contains("[bfq]") || s.contains("[cfq]"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 12 0:32 /x /mnt/mem\\040copy rw,relatime - cgroup cgroup rw,memory
";

    #[test]
    fn parses_a_hybrid_host() {
        let CgroupLayout::V1 { controllers } = parse_mountinfo(HYBRID).unwrap() else {
            panic!("expected v1");
        };
        assert_eq!(
            controllers,
            vec![
                ("cpu".to_string(), PathBuf::from("/sys/fs/cgroup/cpu")),
                (
                    "cpuacct".to_string(),
                    PathBuf::from("/sys/fs/cgroup/cpuacct")
                ),
                ("memory".to_string(), PathBuf::from("/sys/fs/cgroup/memory")),
                ("pids".to_string(), PathBuf::from("/sys/fs/cgroup/pids")),
                (
                    "name=systemd".to_string(),
                    PathBuf::from("/sys/fs/cgroup/systemd")
                ),
            ]
        );
    }

    #[test]
    fn parses_comounted_controllers_and_escapes() {
        let text = "\
50 31 0:40 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct,clone_children
51 31 0:41 / /cg/a\\040b rw - cgroup cgroup rw,net_cls,net_prio
";
        let CgroupLayout::V1 { controllers } = parse_mountinfo(text).unwrap() else {
            panic!("expected v1");
        };
        assert_eq!(controllers[0].0, "cpu,cpuacct");
        assert_eq!(
            controllers[1],
            ("net_cls,net_prio".into(), "/cg/a b".into())
        );
    }

    #[test]
    fn parses_a_unified_host() {
        let text = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(parse_mountinfo(text), Some(CgroupLayout::V2));
        assert_eq!(parse_mountinfo("1 0 0:1 / / rw - ext4 /dev/sda rw\n"), None);
    }

    #[test]
    fn detects_this_host() {
        // Whatever the host is, detection must succeed on a machine that runs containers.
        detect_cgroup_layout().unwrap();
    }

    #[test]
    fn cgroups_path_must_be_absolute_and_below_the_root() {
        validate_cgroups_path("/pouch/abc").unwrap();
        validate_cgroups_path("/pouch/abc/").unwrap();
        for bad in [
            "",
            "/",
            "//",
            "pouch/abc",
            "/pouch/../etc",
            "/pouch/./x",
            "/a//b",
        ] {
            assert!(validate_cgroups_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    fn v1(names: &[&str]) -> CgroupLayout {
        CgroupLayout::V1 {
            controllers: names
                .iter()
                .map(|n| (n.to_string(), PathBuf::from(format!("/h/{n}"))))
                .collect(),
        }
    }

    #[test]
    fn v1_is_a_tmpfs_plus_one_read_only_bind_per_managed_hierarchy() {
        let layout = v1(&["cpu", "memory", "pids", "name=systemd", "rdma"]);
        let m = mounts(&layout, "/pouch/c1", false).unwrap();
        assert!(m.iter().all(|m| m.typ().as_deref() != Some("cgroup")));
        assert_eq!(m[0].destination(), Path::new("/sys/fs/cgroup"));
        assert_eq!(m[0].typ().as_deref(), Some("tmpfs"));
        let binds: Vec<_> = m[1..]
            .iter()
            .map(|m| {
                assert_eq!(m.typ().as_deref(), Some("bind"));
                let opts = m.options().as_ref().unwrap();
                assert_eq!(opts, &["rbind", "ro", "nosuid", "nodev", "noexec"]);
                (m.destination().clone(), m.source().clone().unwrap())
            })
            .collect();
        assert_eq!(
            binds,
            vec![
                ("/sys/fs/cgroup/cpu".into(), "/h/cpu/pouch/c1".into()),
                ("/sys/fs/cgroup/memory".into(), "/h/memory/pouch/c1".into()),
                ("/sys/fs/cgroup/pids".into(), "/h/pids/pouch/c1".into()),
            ]
        );
    }

    #[test]
    fn comounted_controllers_are_bound_under_each_name() {
        let m = mounts(&v1(&["cpu,cpuacct"]), "/p/c", false).unwrap();
        let dests: Vec<_> = m.iter().map(|m| m.destination().clone()).collect();
        assert_eq!(
            dests,
            vec![
                PathBuf::from("/sys/fs/cgroup"),
                "/sys/fs/cgroup/cpu,cpuacct".into(),
                "/sys/fs/cgroup/cpu".into(),
                "/sys/fs/cgroup/cpuacct".into(),
            ]
        );
        assert!(
            m[1..]
                .iter()
                .all(|m| m.source().as_deref() == Some(Path::new("/h/cpu,cpuacct/p/c")))
        );
    }

    #[test]
    fn privileged_v1_binds_are_writable() {
        let m = mounts(&v1(&["memory"]), "/p/c", true).unwrap();
        assert_eq!(
            m[1].options().as_ref().unwrap(),
            &["rbind", "rw", "nosuid", "nodev", "noexec"]
        );
    }

    #[test]
    fn v2_is_one_cgroup_mount() {
        let m = mounts(&CgroupLayout::V2, "/p/c", false).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].typ().as_deref(), Some("cgroup"));
        assert_eq!(m[0].options().as_ref().unwrap()[0], "ro");
        let m = mounts(&CgroupLayout::V2, "/p/c", true).unwrap();
        assert_eq!(m[0].options().as_ref().unwrap()[0], "rw");
    }

    #[test]
    fn swap_support_follows_the_memsw_file() {
        let dir = tempfile::tempdir().unwrap();
        let layout = CgroupLayout::V1 {
            controllers: vec![("memory".into(), dir.path().to_path_buf())],
        };
        assert!(!swap_limit_supported(&layout));
        std::fs::write(dir.path().join("memory.memsw.limit_in_bytes"), "").unwrap();
        assert!(swap_limit_supported(&layout));
    }
}
