//! Sysctls: only namespaced ones, and only for namespaces the container owns, because anything
//! else would change the host (or another container) rather than the container itself.

use std::collections::HashMap;
use std::path::Path;

use super::{ContainerSpec, SpecError};

/// Docker's defaults for a container with a network namespace of its own: ping without
/// `CAP_NET_RAW` and ports below 1024 without `CAP_NET_BIND_SERVICE` (both are per-netns).
const NET_DEFAULTS: [(&str, &str); 2] = [
    ("net.ipv4.ping_group_range", "0 2147483647"),
    ("net.ipv4.ip_unprivileged_port_start", "0"),
];

/// Which namespace a sysctl belongs to, or `None` when it is global to the kernel.
fn namespace_of(name: &str) -> Option<&'static str> {
    if name.starts_with("kernel.msg")
        || name.starts_with("kernel.shm")
        || name == "kernel.sem"
        || name.starts_with("fs.mqueue.")
    {
        Some("ipc")
    } else if name.starts_with("net.") {
        Some("network")
    } else {
        None
    }
}

/// Validates the requested sysctls and adds Docker's network defaults (requested values win).
pub(super) fn build(c: &ContainerSpec) -> Result<HashMap<String, String>, SpecError> {
    let mut out = HashMap::new();
    for (name, value) in &c.sysctls {
        let Some(namespace) = namespace_of(name) else {
            return Err(SpecError::SysctlNotNamespaced(name.clone()));
        };
        let mode = if namespace == "ipc" {
            &c.namespaces.ipc
        } else {
            &c.namespaces.net
        };
        if !mode.is_own() {
            return Err(SpecError::SysctlSharedNamespace {
                name: name.clone(),
                namespace,
            });
        }
        out.insert(name.clone(), value.clone());
    }
    if c.namespaces.net.is_own() {
        for (name, value) in NET_DEFAULTS {
            // ping_group_range cannot be set from a user namespace (moby skips it there): its
            // gids must be mapped, and the full range is not.
            if name == "net.ipv4.ping_group_range" && (in_user_namespace() || c.user_ns.is_some()) {
                continue;
            }
            if sysctl_exists(name) {
                out.entry(name.to_string())
                    .or_insert_with(|| value.to_string());
            }
        }
    }
    Ok(out)
}

/// Older kernels lack some of the defaults; asking the runtime to write them would fail.
fn sysctl_exists(name: &str) -> bool {
    Path::new("/proc/sys").join(name.replace('.', "/")).exists()
}

/// True when pouch itself runs in a user namespace (the uid map is not the identity map).
fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::super::NsMode;
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn namespaced_sysctls_pass_and_defaults_are_added() {
        let mut c = sample();
        c.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        c.sysctls.insert("kernel.shmmax".into(), "1000000".into());
        c.sysctls.insert("fs.mqueue.msg_max".into(), "20".into());
        c.sysctls
            .insert("net.ipv4.ip_unprivileged_port_start".into(), "80".into());
        let got = build(&c).unwrap();
        assert_eq!(got["net.ipv4.ip_forward"], "1");
        assert_eq!(got["kernel.shmmax"], "1000000");
        assert_eq!(got["net.ipv4.ip_unprivileged_port_start"], "80");
        if sysctl_exists("net.ipv4.ping_group_range") && !in_user_namespace() {
            assert_eq!(got["net.ipv4.ping_group_range"], "0 2147483647");
        }
        // A remapped container cannot map the whole gid range.
        c.user_ns = Some(Default::default());
        let got = build(&c).unwrap();
        assert!(!got.contains_key("net.ipv4.ping_group_range"));
        assert_eq!(got["net.ipv4.ip_unprivileged_port_start"], "80");
    }

    #[test]
    fn host_level_sysctls_are_refused() {
        for name in [
            "kernel.panic",
            "vm.swappiness",
            "fs.file-max",
            "kernel.hostname",
        ] {
            let mut c = sample();
            c.sysctls.insert(name.into(), "1".into());
            let err = build(&c).unwrap_err();
            assert!(matches!(err, SpecError::SysctlNotNamespaced(_)), "{name}");
            assert!(err.to_string().contains("is not namespaced"));
        }
    }

    #[test]
    fn net_sysctls_need_an_own_network_namespace() {
        for mode in [NsMode::Host, NsMode::Path("/proc/9/ns/net".into())] {
            let mut c = sample();
            c.namespaces.net = mode;
            assert!(!build(&c).unwrap().contains_key("net.ipv4.ping_group_range"));
            c.sysctls.insert("net.core.somaxconn".into(), "1024".into());
            let err = build(&c).unwrap_err();
            assert_eq!(
                err.to_string(),
                "sysctl \"net.core.somaxconn\" is not allowed: the container does not have its own network namespace"
            );
        }
    }

    #[test]
    fn ipc_sysctls_need_an_own_ipc_namespace() {
        let mut c = sample();
        c.namespaces.ipc = NsMode::Host;
        c.sysctls
            .insert("kernel.sem".into(), "250 32000 32 128".into());
        assert!(matches!(
            build(&c),
            Err(SpecError::SysctlSharedNamespace {
                namespace: "ipc",
                ..
            })
        ));
    }
}
