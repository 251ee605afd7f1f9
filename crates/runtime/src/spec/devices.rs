//! Device nodes and the devices-cgroup allow-list: Docker's defaults, `--device` and
//! `--privileged` (every host device, everything allowed).

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
};

use super::{ContainerSpec, Device, SpecError};

/// Device nodes to create plus the cgroup rules that let the container use them.
pub(super) struct DevicePlan {
    pub devices: Vec<LinuxDevice>,
    pub cgroup: Vec<LinuxDeviceCgroup>,
}

/// `/dev` entries the host-device walk leaves alone: mount points the runtime fills itself, and
/// nodes every runtime creates on its own (`console` for terminals, `ptmx` as a symlink).
const SKIPPED_DIRS: [&str; 7] = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
const SKIPPED_NODES: [&str; 2] = ["console", "ptmx"];

pub(super) fn build(c: &ContainerSpec) -> Result<DevicePlan, SpecError> {
    let mut devices = Vec::new();
    let mut cgroup = if c.privileged {
        devices = host_devices(Path::new("/dev"))?;
        vec![rule(true, None, None, None, "rwm")?]
    } else {
        default_rules()?
    };
    for d in &c.devices {
        for (dev, access) in user_devices(d)? {
            if !c.privileged {
                cgroup.push(rule(
                    true,
                    Some(dev.typ()),
                    Some(dev.major()),
                    Some(dev.minor()),
                    &access,
                )?);
            }
            // A later mapping of the same container path wins; runtimes fail on duplicates.
            devices.retain(|existing: &LinuxDevice| existing.path() != dev.path());
            devices.push(dev);
        }
    }
    Ok(DevicePlan { devices, cgroup })
}

/// Docker's default allow-list (moby `oci/defaults.go`), followed by the rules runc, crun and
/// libcontainer add on their own (full, ptmx, pts, tun), spelled out so that the spec alone
/// describes what the container may use.
fn default_rules() -> Result<Vec<LinuxDeviceCgroup>, SpecError> {
    let c = Some(LinuxDeviceType::C);
    Ok(vec![
        rule(false, None, None, None, "rwm")?,
        rule(true, c, Some(1), Some(5), "rwm")?, // /dev/zero
        rule(true, c, Some(1), Some(3), "rwm")?, // /dev/null
        rule(true, c, Some(1), Some(9), "rwm")?, // /dev/urandom
        rule(true, c, Some(1), Some(8), "rwm")?, // /dev/random
        rule(true, c, Some(5), Some(0), "rwm")?, // /dev/tty
        rule(true, c, Some(5), Some(1), "rwm")?, // /dev/console
        rule(false, c, Some(10), Some(229), "rwm")?, // /dev/fuse
        rule(true, c, Some(1), Some(7), "rwm")?, // /dev/full
        rule(true, c, Some(5), Some(2), "rwm")?, // /dev/ptmx
        rule(true, c, Some(136), None, "rwm")?,  // /dev/pts/*
        rule(true, c, Some(10), Some(200), "rwm")?, // /dev/net/tun
    ])
}

fn rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Result<LinuxDeviceCgroup, SpecError> {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access);
    if let Some(t) = typ {
        b = b.typ(t);
    }
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    Ok(b.build()?)
}

/// Resolves one `--device`: a node, or a directory whose nodes are all mapped (moby's
/// `DevicesFromPath`). Returns each node with its cgroup access string.
fn user_devices(d: &Device) -> Result<Vec<(LinuxDevice, String)>, SpecError> {
    let access = if d.cgroup_permissions.is_empty() {
        "rwm".to_string()
    } else {
        d.cgroup_permissions.clone()
    };
    let valid = access.chars().all(|ch| "rwm".contains(ch))
        && ['r', 'w', 'm']
            .iter()
            .all(|c| access.matches(*c).count() <= 1);
    if !valid {
        return Err(SpecError::DeviceMode {
            path: d.path_on_host.clone(),
            mode: d.cgroup_permissions.clone(),
        });
    }
    let container_base = if d.path_in_container.is_empty() {
        d.path_on_host.clone()
    } else {
        PathBuf::from(&d.path_in_container)
    };
    if !container_base.is_absolute() {
        return Err(SpecError::NotAbsolute {
            what: "device path in the container",
            path: container_base,
        });
    }
    let device_err = |source| SpecError::Device {
        path: d.path_on_host.clone(),
        source,
    };
    let resolved = std::fs::canonicalize(&d.path_on_host).map_err(device_err)?;
    let meta = std::fs::metadata(&resolved).map_err(device_err)?;
    if meta.is_dir() {
        let mut found = Vec::new();
        for (host_path, meta) in list_files(&resolved).map_err(device_err)? {
            let rel = host_path.strip_prefix(&resolved).unwrap_or(&host_path);
            if let Some(dev) = linux_device(container_base.join(rel), &meta)? {
                found.push((dev, access.clone()));
            }
        }
        return Ok(found);
    }
    match linux_device(container_base, &meta)? {
        Some(dev) => Ok(vec![(dev, access)]),
        None => Err(SpecError::NotADevice {
            path: d.path_on_host.clone(),
        }),
    }
}

/// Every device node under the host's `/dev`, for privileged containers (containerd's
/// `HostDevices`).
fn host_devices(root: &Path) -> Result<Vec<LinuxDevice>, SpecError> {
    let files = list_files(root)
        .map_err(|e| SpecError::io(format!("listing host devices in {}", root.display()), e))?;
    let mut out = Vec::new();
    for (path, meta) in files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.parent() == Some(root) && SKIPPED_NODES.contains(&name) {
            continue;
        }
        if let Some(dev) = linux_device(path, &meta)? {
            out.push(dev);
        }
    }
    Ok(out)
}

/// Every non-directory below `dir`, depth first, without following symlinks and without the
/// runtime-managed directories in [`SKIPPED_DIRS`]. Entries that vanish meanwhile are skipped.
fn list_files(dir: &Path) -> io::Result<Vec<(PathBuf, Metadata)>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if !meta.is_dir() {
                out.push((path, meta));
            } else if !path
                .file_name()
                .is_some_and(|n| SKIPPED_DIRS.iter().any(|s| n == *s))
            {
                pending.push(path);
            }
        }
    }
    Ok(out)
}

/// The OCI description of a host node placed at `container_path`; `None` when it is not a
/// character or block device. Mode and owner are copied so the node behaves as on the host.
fn linux_device(
    container_path: PathBuf,
    meta: &Metadata,
) -> Result<Option<LinuxDevice>, SpecError> {
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Ok(None);
    };
    let rdev = meta.rdev();
    Ok(Some(
        LinuxDeviceBuilder::default()
            .path(container_path)
            .typ(typ)
            .major(nix::sys::stat::major(rdev) as i64)
            .minor(nix::sys::stat::minor(rdev) as i64)
            .file_mode(meta.permissions().mode() & 0o7777)
            .uid(meta.uid())
            .gid(meta.gid())
            .build()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    fn show(rules: &[LinuxDeviceCgroup]) -> Vec<String> {
        rules
            .iter()
            .map(|r| format!("{}{}", if r.allow() { "+" } else { "-" }, r))
            .collect()
    }

    #[test]
    fn default_allow_list_starts_with_deny_all() {
        let plan = build(&sample()).unwrap();
        assert!(plan.devices.is_empty());
        assert_eq!(
            show(&plan.cgroup),
            [
                "-a *:* rwm",
                "+c 1:5 rwm",
                "+c 1:3 rwm",
                "+c 1:9 rwm",
                "+c 1:8 rwm",
                "+c 5:0 rwm",
                "+c 5:1 rwm",
                "-c 10:229 rwm",
                "+c 1:7 rwm",
                "+c 5:2 rwm",
                "+c 136:* rwm",
                "+c 10:200 rwm",
            ]
        );
    }

    #[test]
    fn a_device_is_created_and_allowed() {
        let mut c = sample();
        c.devices = vec![Device {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/mynull".into(),
            cgroup_permissions: "rw".into(),
        }];
        let plan = build(&c).unwrap();
        assert_eq!(plan.devices.len(), 1);
        let d = &plan.devices[0];
        assert_eq!(d.path(), Path::new("/dev/mynull"));
        assert_eq!((d.typ(), d.major(), d.minor()), (LinuxDeviceType::C, 1, 3));
        assert_eq!(d.file_mode(), Some(0o666));
        assert_eq!(show(&plan.cgroup).last().unwrap(), "+c 1:3 rw");
    }

    #[test]
    fn missing_and_non_device_paths_are_errors() {
        let mut c = sample();
        c.devices = vec![Device {
            path_on_host: "/dev/does-not-exist".into(),
            ..Default::default()
        }];
        let err = build(&c).err().unwrap();
        assert!(matches!(err, SpecError::Device { .. }));
        assert!(err.to_string().contains("\"/dev/does-not-exist\""), "{err}");

        c.devices[0].path_on_host = "/etc/hostname".into();
        assert!(matches!(build(&c), Err(SpecError::NotADevice { .. })));
    }

    #[test]
    fn bad_permissions_are_rejected() {
        for mode in ["rwx", "rr", "rwmm"] {
            let mut c = sample();
            c.devices = vec![Device {
                path_on_host: "/dev/null".into(),
                cgroup_permissions: mode.into(),
                ..Default::default()
            }];
            assert!(
                matches!(build(&c), Err(SpecError::DeviceMode { .. })),
                "{mode}"
            );
        }
    }

    #[test]
    fn privileged_allows_everything_and_copies_host_devices() {
        let mut c = sample();
        c.privileged = true;
        let plan = build(&c).unwrap();
        assert_eq!(show(&plan.cgroup), ["+a *:* rwm"]);
        let paths: Vec<_> = plan.devices.iter().map(|d| d.path().clone()).collect();
        assert!(paths.contains(&PathBuf::from("/dev/null")));
        assert!(!paths.iter().any(|p| p.starts_with("/dev/pts")));
        assert!(!paths.contains(&PathBuf::from("/dev/console")));
        assert!(!paths.contains(&PathBuf::from("/dev/ptmx")));
        let mut dedup = paths.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), paths.len());
    }

    #[test]
    fn a_directory_maps_every_node_inside_with_relative_paths() {
        use pouch_sys::fs::{NodeKind, mknod};
        let dir = tempfile::tempdir().unwrap();
        let snd = dir.path().join("snd");
        std::fs::create_dir_all(snd.join("by-id")).unwrap();
        std::fs::write(snd.join("not-a-device"), "").unwrap();
        let mut c = sample();
        c.devices = vec![Device {
            path_on_host: snd.clone(),
            path_in_container: "/dev/snd".into(),
            cgroup_permissions: String::new(),
        }];
        // Regular files are ignored; a directory without nodes maps to nothing, as in Docker.
        assert!(build(&c).unwrap().devices.is_empty());

        if let Err(e) = mknod(&snd.join("control"), NodeKind::Char, 0o660, 116, 0) {
            eprintln!("skipping the device-node half: mknod needs root ({e})");
            return;
        }
        mknod(&snd.join("by-id/pcm"), NodeKind::Char, 0o660, 116, 3).unwrap();
        let plan = build(&c).unwrap();
        let mut got: Vec<_> = plan
            .devices
            .iter()
            .map(|d| (d.path().display().to_string(), d.major(), d.minor()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("/dev/snd/by-id/pcm".to_string(), 116, 3),
                ("/dev/snd/control".to_string(), 116, 0)
            ]
        );
        assert!(show(&plan.cgroup).contains(&"+c 116:3 rwm".to_string()));
    }
}
