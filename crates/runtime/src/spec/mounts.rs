//! Mounts, masked paths and read-only paths: moby's `oci/defaults.go` plus the changes
//! `daemon/oci_linux.go` makes for privileged containers, `--ipc host`, `--init`, `--shm-size`
//! and user mounts.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount as OciMount, MountBuilder};

use super::cgroups::{self, CGROUP_ROOT};
use super::{CgroupLayout, ContainerSpec, NsMode, SpecError};

/// Docker's `/dev/shm` size when none is asked for.
pub(super) const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// Where `--init` puts the init binary, as Docker does.
pub(super) const INIT_PATH: &str = "/sbin/docker-init";

/// Docker's masked paths: kernel information that must not leak into containers.
const DEFAULT_MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths: kernel knobs under `/proc` that containers may read but not set.
const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The mount list, and whether the cgroup v1 tmpfs at `/sys/fs/cgroup` (with its read-only
/// binds) is part of it.
pub(super) struct MountPlan {
    pub mounts: Vec<OciMount>,
    pub cgroup_v1_tmpfs: bool,
}

/// Default mounts first (in Docker's order), then `--init`, then the extra mounts sorted so that
/// parents come before children. An extra mount replaces every default at or below its
/// destination, so a user's `/dev` also drops `/dev/pts`, `/dev/shm` and `/dev/mqueue` as in
/// Docker.
pub(super) fn build(c: &ContainerSpec) -> Result<MountPlan, SpecError> {
    let mut extra = Vec::with_capacity(c.mounts.len());
    for m in &c.mounts {
        extra.push(extra_mount(m)?);
    }
    extra.sort_by_key(|(dest, _)| dest.components().count());
    let overridden = |dest: &Path| extra.iter().any(|(d, _)| dest.starts_with(d));

    let mut defaults = default_mounts(c)?;
    if let Some(init) = &c.init_path {
        if !init.is_absolute() {
            return Err(SpecError::NotAbsolute {
                what: "init binary path",
                path: init.clone(),
            });
        }
        defaults.push(mount(INIT_PATH, "bind", init.clone(), &["bind", "ro"])?);
    }
    defaults.retain(|m| !overridden(m.destination()));

    let cgroup_v1_tmpfs = matches!(c.cgroup_layout, CgroupLayout::V1 { .. })
        && defaults
            .iter()
            .any(|m| m.destination() == Path::new(CGROUP_ROOT));
    defaults.extend(extra.into_iter().map(|(_, m)| m));
    Ok(MountPlan {
        mounts: defaults,
        cgroup_v1_tmpfs,
    })
}

fn default_mounts(c: &ContainerSpec) -> Result<Vec<OciMount>, SpecError> {
    let sys_options: &[&str] = if c.privileged {
        &["nosuid", "noexec", "nodev"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let mut out = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        if c.user_ns.as_ref().is_some_and(|u| u.path.is_none()) {
            // A user namespace may only mount sysfs for a network namespace it owns. pouchd makes
            // a remapped container's own network namespace inside its user namespace (the
            // pinned `path`); on the host's or another container's network it is not the owner:
            // bind the host's /sys read-only, as docker does.
            mount(
                "/sys",
                "bind",
                "/sys",
                &["rbind", "nosuid", "noexec", "nodev", "ro"],
            )?
        } else {
            mount("/sys", "sysfs", "sysfs", sys_options)?
        },
    ];
    out.extend(cgroups::mounts(
        &c.cgroup_layout,
        &c.cgroups_path,
        c.privileged,
    )?);
    out.push(mount(
        "/dev/mqueue",
        "mqueue",
        "mqueue",
        &["nosuid", "noexec", "nodev"],
    )?);
    out.push(shm_mount(c)?);
    Ok(out)
}

/// `/dev/shm`: the host's with `--ipc host`, otherwise a private tmpfs of `shm_size`.
///
/// A container joining another one's IPC namespace also gets a private tmpfs here; the engine
/// passes the other container's `/dev/shm` as an extra mount when POSIX shm must be shared too.
fn shm_mount(c: &ContainerSpec) -> Result<OciMount, SpecError> {
    if c.namespaces.ipc == NsMode::Host {
        return mount(
            "/dev/shm",
            "bind",
            "/dev/shm",
            &["rbind", "nosuid", "noexec", "nodev"],
        );
    }
    let size = match c.shm_size {
        Some(s) if s > 0 => s,
        _ => DEFAULT_SHM_SIZE,
    };
    let size = if size % 1024 == 0 {
        format!("size={}k", size / 1024)
    } else {
        format!("size={size}")
    };
    mount(
        "/dev/shm",
        "tmpfs",
        "shm",
        &["nosuid", "noexec", "nodev", "mode=1777", &size],
    )
}

/// Validates one extra mount and gives binds the `rbind` flag they need in every runtime.
fn extra_mount(m: &super::Mount) -> Result<(PathBuf, OciMount), SpecError> {
    let destination = PathBuf::from(&m.destination);
    if !destination.is_absolute() {
        return Err(SpecError::NotAbsolute {
            what: "mount destination",
            path: destination,
        });
    }
    if destination.parent().is_none() {
        return Err(SpecError::RootMount(destination));
    }
    let mut options: Vec<&str> = m.options.iter().map(String::as_str).collect();
    if m.kind == "bind" {
        if !Path::new(&m.source).is_absolute() {
            return Err(SpecError::NotAbsolute {
                what: "bind mount source",
                path: m.source.clone().into(),
            });
        }
        if !options.iter().any(|o| *o == "bind" || *o == "rbind") {
            options.insert(0, "rbind");
        }
    }
    let oci = mount(destination.clone(), &m.kind, &m.source, &options)?;
    Ok((destination, oci))
}

/// One OCI mount entry.
pub(super) fn mount(
    destination: impl Into<PathBuf>,
    typ: &str,
    source: impl Into<PathBuf>,
    options: &[&str],
) -> Result<OciMount, SpecError> {
    Ok(MountBuilder::default()
        .destination(destination.into())
        .typ(typ)
        .source(source.into())
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()?)
}

/// Docker's default masked paths, for a container's record (`HostConfig.MaskedPaths`).
pub fn default_masked_paths() -> Vec<String> {
    DEFAULT_MASKED_PATHS.iter().map(|p| p.to_string()).collect()
}

/// Docker's default read-only paths, for a container's record (`HostConfig.ReadonlyPaths`).
pub fn default_readonly_paths() -> Vec<String> {
    DEFAULT_READONLY_PATHS
        .iter()
        .map(|p| p.to_string())
        .collect()
}

/// Masked paths: the caller's list, Docker's defaults, or none at all when privileged.
pub(super) fn masked_paths(c: &ContainerSpec) -> Vec<String> {
    if c.privileged {
        return Vec::new();
    }
    match &c.masked_paths {
        Some(paths) => paths.clone(),
        None => default_masked_paths(),
    }
}

/// Read-only paths: the caller's list or Docker's defaults (none when privileged).
///
/// With the cgroup v1 tmpfs in use, `/sys/fs/cgroup` and anything below it are left out, even
/// when asked for: crun 1.8 turns a read-only path into a recursive bind whose submounts come
/// out read-write, which would undo the read-only cgroup binds and let the container raise its
/// own limits (verified on crun 1.8.1). The binds are read-only by themselves in every runtime;
/// only the tmpfs holding their mount points stays writable, which grants nothing.
pub(super) fn readonly_paths(c: &ContainerSpec, cgroup_v1_tmpfs: bool) -> Vec<String> {
    if c.privileged {
        return Vec::new();
    }
    let mut paths: Vec<String> = match &c.readonly_paths {
        Some(paths) => paths.clone(),
        None => default_readonly_paths(),
    };
    if cgroup_v1_tmpfs {
        paths.retain(|p| !Path::new(p).starts_with(CGROUP_ROOT));
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::super::Mount;
    use super::super::tests::sample;
    use super::*;

    fn dests(plan: &MountPlan) -> Vec<String> {
        plan.mounts
            .iter()
            .map(|m| m.destination().display().to_string())
            .collect()
    }

    fn find<'a>(plan: &'a MountPlan, dest: &str) -> &'a OciMount {
        plan.mounts
            .iter()
            .find(|m| m.destination() == Path::new(dest))
            .unwrap_or_else(|| panic!("no mount at {dest}"))
    }

    fn opts(m: &OciMount) -> Vec<String> {
        m.options().clone().unwrap_or_default()
    }

    #[test]
    fn defaults_follow_docker() {
        let plan = build(&sample()).unwrap();
        let proc = find(&plan, "/proc");
        assert_eq!(proc.typ().as_deref(), Some("proc"));
        assert_eq!(opts(proc), ["nosuid", "noexec", "nodev"]);
        assert_eq!(
            opts(find(&plan, "/dev")),
            ["nosuid", "strictatime", "mode=755", "size=65536k"]
        );
        assert_eq!(
            opts(find(&plan, "/dev/pts")),
            [
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5"
            ]
        );
        assert!(opts(find(&plan, "/sys")).contains(&"ro".to_string()));
        assert_eq!(find(&plan, "/dev/mqueue").typ().as_deref(), Some("mqueue"));
        let shm = find(&plan, "/dev/shm");
        assert_eq!(shm.typ().as_deref(), Some("tmpfs"));
        assert_eq!(
            opts(shm),
            ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
        );
        // Order matters: parents before children, cgroup binds after their tmpfs.
        let d = dests(&plan);
        let pos = |p: &str| d.iter().position(|x| x == p).unwrap();
        assert!(pos("/dev") < pos("/dev/pts"));
        assert!(pos("/sys") < pos("/sys/fs/cgroup"));
        assert!(pos("/sys/fs/cgroup") < pos("/sys/fs/cgroup/memory"));
        assert!(plan.cgroup_v1_tmpfs);
    }

    #[test]
    fn shm_size_and_host_ipc() {
        let mut c = sample();
        c.shm_size = Some(128 * 1024 * 1024);
        assert!(opts(find(&build(&c).unwrap(), "/dev/shm")).contains(&"size=131072k".into()));
        c.shm_size = Some(1000);
        assert!(opts(find(&build(&c).unwrap(), "/dev/shm")).contains(&"size=1000".into()));
        c.namespaces.ipc = NsMode::Host;
        let plan = build(&c).unwrap();
        let shm = find(&plan, "/dev/shm");
        assert_eq!(shm.typ().as_deref(), Some("bind"));
        assert_eq!(shm.source().as_deref(), Some(Path::new("/dev/shm")));
    }

    #[test]
    fn privileged_gets_a_writable_sys() {
        let mut c = sample();
        c.privileged = true;
        let plan = build(&c).unwrap();
        assert!(!opts(find(&plan, "/sys")).contains(&"ro".to_string()));
        assert!(masked_paths(&c).is_empty());
        assert!(readonly_paths(&c, plan.cgroup_v1_tmpfs).is_empty());
    }

    #[test]
    fn extra_mounts_override_defaults_and_get_sorted() {
        let mut c = sample();
        c.mounts = vec![
            Mount {
                destination: "/data/sub".into(),
                source: "/srv/sub".into(),
                kind: "bind".into(),
                options: vec!["ro".into()],
            },
            Mount {
                destination: "/data".into(),
                source: "/srv/data".into(),
                kind: "bind".into(),
                options: vec!["rbind".into()],
            },
            Mount {
                destination: "/dev/shm".into(),
                source: "/run/pouch/other/shm".into(),
                kind: "bind".into(),
                options: vec![],
            },
        ];
        let plan = build(&c).unwrap();
        let d = dests(&plan);
        assert_eq!(d.iter().filter(|x| *x == "/dev/shm").count(), 1);
        let shm = find(&plan, "/dev/shm");
        assert_eq!(shm.typ().as_deref(), Some("bind"));
        assert_eq!(opts(shm), ["rbind"]);
        assert_eq!(opts(find(&plan, "/data/sub")), ["rbind", "ro"]);
        let pos = |p: &str| d.iter().position(|x| x == p).unwrap();
        assert!(pos("/data") < pos("/data/sub"));
    }

    #[test]
    fn a_user_dev_or_cgroup_mount_replaces_everything_below_it() {
        let mut c = sample();
        c.mounts = vec![
            Mount {
                destination: "/dev".into(),
                source: "/dev".into(),
                kind: "bind".into(),
                options: vec![],
            },
            Mount {
                destination: "/sys/fs/cgroup".into(),
                source: "/sys/fs/cgroup".into(),
                kind: "bind".into(),
                options: vec!["ro".into()],
            },
        ];
        let plan = build(&c).unwrap();
        let d = dests(&plan);
        assert!(!d.iter().any(|x| x.starts_with("/dev/")));
        assert!(!d.iter().any(|x| x.starts_with("/sys/fs/cgroup/")));
        assert!(!plan.cgroup_v1_tmpfs);
    }

    #[test]
    fn relative_paths_are_rejected() {
        let mut c = sample();
        c.mounts = vec![Mount {
            destination: "data".into(),
            source: "/srv".into(),
            kind: "bind".into(),
            options: vec![],
        }];
        assert!(matches!(build(&c), Err(SpecError::NotAbsolute { .. })));
        c.mounts[0].destination = "/data".into();
        c.mounts[0].source = "srv".into();
        assert!(matches!(build(&c), Err(SpecError::NotAbsolute { .. })));
        c.mounts[0].destination = "/".into();
        c.mounts[0].source = "/srv".into();
        assert!(matches!(build(&c), Err(SpecError::RootMount(_))));
        c.mounts.clear();
        c.init_path = Some("docker-init".into());
        assert!(matches!(build(&c), Err(SpecError::NotAbsolute { .. })));
    }

    #[test]
    fn init_is_bound_read_only() {
        let mut c = sample();
        c.init_path = Some("/usr/libexec/pouch/init".into());
        let plan = build(&c).unwrap();
        let init = find(&plan, INIT_PATH);
        assert_eq!(
            init.source().as_deref(),
            Some(Path::new("/usr/libexec/pouch/init"))
        );
        assert_eq!(opts(init), ["bind", "ro"]);
    }

    #[test]
    fn masked_and_readonly_paths_default_to_dockers() {
        let c = sample();
        let masked = masked_paths(&c);
        assert_eq!(masked.len(), 11);
        assert!(masked.contains(&"/proc/kcore".to_string()));
        assert!(masked.contains(&"/sys/devices/virtual/powercap".to_string()));
        let ro = readonly_paths(&c, true);
        assert_eq!(
            ro,
            [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]
        );
        let mut c = sample();
        c.masked_paths = Some(vec![]);
        c.readonly_paths = Some(vec!["/proc/sys".into()]);
        assert!(masked_paths(&c).is_empty());
        assert_eq!(readonly_paths(&c, false), ["/proc/sys"]);
    }

    #[test]
    fn the_cgroup_tmpfs_is_never_a_readonly_path() {
        let mut c = sample();
        c.readonly_paths = Some(vec![
            "/proc/sys".into(),
            "/sys/fs/cgroup".into(),
            "/sys/fs/cgroup/memory".into(),
        ]);
        assert_eq!(readonly_paths(&c, true), ["/proc/sys"]);
        // Without our binds (cgroup v2, or a user mount there) the caller's list stands.
        assert_eq!(readonly_paths(&c, false).len(), 3);
    }
}
