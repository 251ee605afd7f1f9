//! OCI runtime spec generation: a container's resolved settings ([`ContainerSpec`]) become the
//! `config.json` that the embedded libcontainer, runc or crun execute.
//!
//! The output reproduces what Docker generates (moby `oci/defaults.go` and
//! `daemon/oci_linux.go`): the same default mounts, masked and read-only paths, capabilities,
//! device allow-list, namespaces, sysctl rules and resource semantics, so that images behave as
//! they do under Docker. Validation errors carry Docker's wording where Docker has one.
//!
//! One deliberate difference: on cgroup v1 the spec has no `type: cgroup` mount. libcontainer
//! 0.7.0 would bind the container's cgroup directories read-write and let the container lift its
//! own limits; the explicit read-only binds in [`cgroups`] give the view runc and crun give.
//!
//! Generation reads a little host state, all of it cheap: device nodes for `--device` and
//! `--privileged`, `cap_last_cap`, whether swap accounting and a few sysctls exist.

mod bundle;
mod caps;
mod cgroups;
mod devices;
mod error;
mod live;
mod mounts;
mod namespaces;
mod process;
mod resources;
mod seccomp;
mod sysctl;
mod types;

#[cfg(test)]
mod runtime_tests;

use oci_spec::runtime::{Linux, LinuxResources, Root, Spec};

pub use bundle::write_bundle;
pub use caps::default_capabilities;
pub use cgroups::{detect_cgroup_layout, swap_limit_supported};
pub use error::SpecError;
pub use live::{CgroupWrite, cgroup_dir, cgroup_writes};
pub use mounts::{default_masked_paths, default_readonly_paths};
pub use seccomp::Seccomp;
pub use types::{
    BlkioThrottle, CgroupLayout, ContainerSpec, Device, Mount, Namespaces, NsMode, Resources,
    Rlimit, User, UserNs,
};

/// Builds the OCI runtime spec for one container.
///
/// Fails, without touching anything, when the settings are invalid (see
/// [`SpecError::is_invalid_argument`]) or when host devices cannot be read.
pub fn generate(c: &ContainerSpec) -> Result<Spec, SpecError> {
    if !c.rootfs.is_absolute() {
        return Err(SpecError::NotAbsolute {
            what: "rootfs",
            path: c.rootfs.clone(),
        });
    }
    cgroups::validate_cgroups_path(&c.cgroups_path)?;
    let hostname = namespaces::hostname(c)?;
    let process = process::build(c)?;
    let mount_plan = mounts::build(c)?;
    let device_plan = devices::build(c)?;
    let limits = resources::build(&c.resources, &c.cgroup_layout)?;
    let sysctls = sysctl::build(c)?;
    let cap_names = caps::effective_capability_names(c.privileged, &c.cap_add, &c.cap_drop)?;
    let seccomp = seccomp::build(&c.seccomp, c.privileged, &cap_names)?;

    let mut resources = LinuxResources::default();
    resources
        .set_devices(Some(device_plan.cgroup))
        .set_memory(limits.memory)
        .set_cpu(limits.cpu)
        .set_pids(limits.pids)
        .set_block_io(limits.blkio);

    let non_empty = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let mut linux = Linux::default();
    linux
        .set_resources(Some(resources))
        .set_cgroups_path(Some(c.cgroups_path.clone().into()))
        .set_namespaces(Some(namespaces::build(c)?))
        .set_devices((!device_plan.devices.is_empty()).then_some(device_plan.devices))
        .set_masked_paths(non_empty(mounts::masked_paths(c)))
        .set_readonly_paths(non_empty(mounts::readonly_paths(
            c,
            mount_plan.cgroup_v1_tmpfs,
        )))
        .set_sysctl((!sysctls.is_empty()).then_some(sysctls))
        .set_rootfs_propagation(c.rootfs_propagation.clone())
        // Also when joining a pinned user namespace: runc wants the maps it will find there.
        .set_uid_mappings(c.user_ns.as_ref().map(|u| id_maps(&u.uid_maps)))
        .set_gid_mappings(c.user_ns.as_ref().map(|u| id_maps(&u.gid_maps)))
        .set_seccomp(seccomp);

    let mut root = Root::default();
    root.set_path(c.rootfs.clone())
        .set_readonly(Some(c.readonly_rootfs));

    let mut spec = Spec::default();
    spec.set_root(Some(root))
        .set_mounts(Some(mount_plan.mounts))
        .set_process(Some(process))
        .set_hostname(hostname)
        .set_domainname((!c.domainname.is_empty()).then(|| c.domainname.clone()))
        .set_annotations((!c.annotations.is_empty()).then(|| {
            c.annotations
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
        .set_linux(Some(linux));
    tracing::debug!(container = %c.id, privileged = c.privileged, "generated oci spec");
    Ok(spec)
}

fn id_maps(maps: &[(u32, u32, u32)]) -> Vec<oci_spec::runtime::LinuxIdMapping> {
    maps.iter()
        .filter_map(|&(container, host, size)| {
            oci_spec::runtime::LinuxIdMappingBuilder::default()
                .container_id(container)
                .host_id(host)
                .size(size)
                .build()
                .ok()
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use oci_spec::runtime::{Capability, LinuxNamespaceType};

    use super::*;

    /// A typical container on a hybrid cgroup v1 host like the CI machines.
    pub(crate) fn sample() -> ContainerSpec {
        let hierarchy = |n: &str, dir: &str| {
            (
                n.to_string(),
                PathBuf::from(format!("/sys/fs/cgroup/{dir}")),
            )
        };
        ContainerSpec {
            id: "c1".into(),
            rootfs: "/var/lib/pouch/snapshots/c1/merged".into(),
            args: vec!["sh".into(), "-c".into(), "true".into()],
            hostname: "c1host".into(),
            cgroups_path: "/pouch/c1".into(),
            cgroup_layout: CgroupLayout::V1 {
                controllers: vec![
                    hierarchy("cpu", "cpu"),
                    hierarchy("cpuacct", "cpuacct"),
                    hierarchy("memory", "memory"),
                    hierarchy("pids", "pids"),
                    hierarchy("name=systemd", "systemd"),
                ],
            },
            ..Default::default()
        }
    }

    fn linux(spec: &Spec) -> &Linux {
        spec.linux().as_ref().unwrap()
    }

    fn cap_names(set: &Option<oci_spec::runtime::Capabilities>) -> Vec<String> {
        let mut v: Vec<String> = set
            .as_ref()
            .unwrap()
            .iter()
            .map(|c: &Capability| format!("CAP_{c}"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn default_spec_has_dockers_essentials() {
        let spec = generate(&sample()).unwrap();
        let process = spec.process().as_ref().unwrap();
        let caps = process.capabilities().as_ref().unwrap();
        let mut expected = default_capabilities();
        expected.sort();
        assert_eq!(cap_names(caps.bounding()), expected);
        assert_eq!(cap_names(caps.effective()), expected);
        assert_eq!(cap_names(caps.permitted()), expected);
        assert!(caps.inheritable().as_ref().unwrap().is_empty());
        assert!(caps.ambient().as_ref().unwrap().is_empty());
        assert_eq!(process.rlimits(), &None);
        assert_eq!(process.no_new_privileges(), None);
        assert_eq!(process.terminal(), Some(false));

        let root = spec.root().as_ref().unwrap();
        assert_eq!(root.path(), Path::new("/var/lib/pouch/snapshots/c1/merged"));
        assert_eq!(root.readonly(), Some(false));
        assert_eq!(spec.hostname().as_deref(), Some("c1host"));

        let l = linux(&spec);
        assert_eq!(l.cgroups_path().as_deref(), Some(Path::new("/pouch/c1")));
        assert_eq!(l.masked_paths().as_ref().unwrap().len(), 11);
        assert_eq!(l.readonly_paths().as_ref().unwrap().len(), 5);
        assert!(l.devices().is_none());
        let rules = l.resources().as_ref().unwrap().devices().as_ref().unwrap();
        assert!(!rules[0].allow() && rules[0].typ().is_none() && rules[0].major().is_none());
        assert!(l.seccomp().is_some(), "docker's default seccomp profile");

        // No cgroup-type mount on v1; one read-only bind per managed controller, none for
        // name=systemd; /dev/shm with Docker's 64 MiB.
        let mounts = spec.mounts().as_ref().unwrap();
        assert!(mounts.iter().all(|m| m.typ().as_deref() != Some("cgroup")));
        let binds: Vec<_> = mounts
            .iter()
            .filter(|m| {
                m.destination().starts_with("/sys/fs/cgroup")
                    && m.destination() != Path::new("/sys/fs/cgroup")
            })
            .map(|m| {
                assert!(m.options().as_ref().unwrap().contains(&"ro".to_string()));
                m.destination().display().to_string()
            })
            .collect();
        assert_eq!(
            binds,
            [
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/cpuacct",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/pids"
            ]
        );
        let shm = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/dev/shm"))
            .unwrap();
        assert!(
            shm.options()
                .as_ref()
                .unwrap()
                .contains(&"size=65536k".to_string())
        );

        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["linux"]["namespaces"].as_array().unwrap().len(), 5);
        assert!(json["process"].get("rlimits").is_none());
    }

    #[test]
    fn privileged_spec() {
        let mut c = sample();
        c.privileged = true;
        c.cap_drop = vec!["ALL".into()];
        let spec = generate(&c).unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert!(cap_names(caps.bounding()).contains(&"CAP_SYS_ADMIN".to_string()));
        let l = linux(&spec);
        assert!(l.masked_paths().is_none());
        assert!(l.readonly_paths().is_none());
        assert!(l.seccomp().is_none());
        assert!(!l.devices().as_ref().unwrap().is_empty());
        let rules = l.resources().as_ref().unwrap().devices().as_ref().unwrap();
        assert_eq!(rules.len(), 1);
        assert!(rules[0].allow());
        for m in spec.mounts().as_ref().unwrap() {
            let opts = m.options().clone().unwrap_or_default();
            if m.destination() == Path::new("/sys") || m.destination().starts_with("/sys/fs/cgroup")
            {
                assert!(!opts.contains(&"ro".to_string()), "{m:?}");
            }
        }
    }

    #[test]
    fn cgroup_v2_uses_a_cgroup_mount_and_namespace() {
        let mut c = sample();
        c.cgroup_layout = CgroupLayout::V2;
        let spec = generate(&c).unwrap();
        let cg: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|m| m.destination().starts_with("/sys/fs/cgroup"))
            .collect();
        assert_eq!(cg.len(), 1);
        assert_eq!(cg[0].typ().as_deref(), Some("cgroup"));
        let l = linux(&spec);
        assert!(
            l.namespaces()
                .as_ref()
                .unwrap()
                .iter()
                .any(|n| n.typ() == LinuxNamespaceType::Cgroup)
        );
        assert!(
            !l.readonly_paths()
                .as_ref()
                .unwrap()
                .contains(&"/sys/fs/cgroup".to_string())
        );
    }

    #[test]
    fn resources_reach_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("memory.memsw.limit_in_bytes"), "").unwrap();
        let mut c = sample();
        c.cgroup_layout = CgroupLayout::V1 {
            controllers: vec![("memory".into(), dir.path().to_path_buf())],
        };
        c.resources.memory = Some(64 << 20);
        c.resources.pids_limit = Some(20);
        c.resources.cpu_shares = Some(512);
        let spec = generate(&c).unwrap();
        let r = linux(&spec).resources().as_ref().unwrap();
        let mem = r.memory().unwrap();
        assert_eq!((mem.limit(), mem.swap()), (Some(64 << 20), Some(128 << 20)));
        assert_eq!(r.pids().unwrap().limit(), 20);
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(512));
    }

    #[test]
    fn settings_are_copied() {
        let mut c = sample();
        c.readonly_rootfs = true;
        c.domainname = "example.org".into();
        c.annotations = BTreeMap::from([("io.pouch.x".to_string(), "1".to_string())]);
        let spec = generate(&c).unwrap();
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
        assert_eq!(spec.domainname().as_deref(), Some("example.org"));
        assert_eq!(spec.annotations().as_ref().unwrap()["io.pouch.x"], "1");
    }

    #[test]
    fn invalid_settings_are_refused_as_invalid_arguments() {
        type Mutation = fn(&mut ContainerSpec);
        let cases: Vec<(Mutation, &str)> = vec![
            (
                |c| c.rootfs = "rootfs".into(),
                "rootfs must be an absolute path",
            ),
            (
                |c| c.cgroups_path = "pouch/c1".into(),
                "invalid cgroups path",
            ),
            (
                |c| c.namespaces.uts = NsMode::Host,
                "conflicting options: hostname and the UTS mode",
            ),
            (|c| c.cap_add = vec!["BOGUS".into()], "unknown capability"),
            (
                |c| {
                    c.sysctls.insert("kernel.panic".into(), "1".into());
                },
                "not namespaced",
            ),
        ];
        for (mutate, message) in cases {
            let mut c = sample();
            mutate(&mut c);
            let err = generate(&c).unwrap_err();
            assert!(err.to_string().contains(message), "{err} vs {message}");
            assert!(err.is_invalid_argument(), "{err}");
        }
    }
}
