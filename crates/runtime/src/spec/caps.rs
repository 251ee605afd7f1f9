//! Capabilities: Docker's default set, `--cap-add`/`--cap-drop`/`ALL` handling and privileged
//! mode, exactly as moby's `oci/caps` computes them.

use std::collections::HashSet;
use std::str::FromStr;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, LinuxCapabilitiesBuilder};

use super::SpecError;

/// Every capability the OCI types know, with its kernel number (for the `cap_last_cap` check).
const ALL_CAPS: [(&str, u32); 41] = [
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_DAC_READ_SEARCH", 2),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_LINUX_IMMUTABLE", 9),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_BROADCAST", 11),
    ("CAP_NET_ADMIN", 12),
    ("CAP_NET_RAW", 13),
    ("CAP_IPC_LOCK", 14),
    ("CAP_IPC_OWNER", 15),
    ("CAP_SYS_MODULE", 16),
    ("CAP_SYS_RAWIO", 17),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_SYS_PTRACE", 19),
    ("CAP_SYS_PACCT", 20),
    ("CAP_SYS_ADMIN", 21),
    ("CAP_SYS_BOOT", 22),
    ("CAP_SYS_NICE", 23),
    ("CAP_SYS_RESOURCE", 24),
    ("CAP_SYS_TIME", 25),
    ("CAP_SYS_TTY_CONFIG", 26),
    ("CAP_MKNOD", 27),
    ("CAP_LEASE", 28),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_AUDIT_CONTROL", 30),
    ("CAP_SETFCAP", 31),
    ("CAP_MAC_OVERRIDE", 32),
    ("CAP_MAC_ADMIN", 33),
    ("CAP_SYSLOG", 34),
    ("CAP_WAKE_ALARM", 35),
    ("CAP_BLOCK_SUSPEND", 36),
    ("CAP_AUDIT_READ", 37),
    ("CAP_PERFMON", 38),
    ("CAP_BPF", 39),
    ("CAP_CHECKPOINT_RESTORE", 40),
];

/// Docker's default capability set, in moby's order (`oci/caps/defaults.go`).
const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's default capability set (14 names, `CAP_`-prefixed as Docker reports them).
pub fn default_capabilities() -> Vec<String> {
    DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
}

/// The capabilities `--privileged` and `--cap-add ALL` grant: those this kernel knows and this
/// process may pass on (its bounding set, which the shim and runtime inherit). Asking a runtime
/// for more makes container creation fail (`unable to apply caps`), for instance when pouchd
/// itself runs with a reduced bounding set.
fn grantable_capabilities() -> Vec<&'static str> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(u32::MAX);
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| bounding_set(&status))
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .filter(|(_, n)| *n <= last && bounding & (1u64 << n) != 0)
        .map(|(name, _)| *name)
        .collect()
}

/// The `CapBnd` mask from `/proc/<pid>/status`.
fn bounding_set(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Upper-cases, adds the `CAP_` prefix (except for `ALL`), validates and de-duplicates, like
/// moby's `NormalizeLegacyCapabilities`.
fn normalize(names: &[String]) -> Result<Vec<String>, SpecError> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let upper = name.trim().to_ascii_uppercase();
        let cap = if upper == "ALL" || upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        if cap != "ALL" && !ALL_CAPS.iter().any(|(known, _)| *known == cap) {
            return Err(SpecError::UnknownCapability(name.clone()));
        }
        if !out.contains(&cap) {
            out.push(cap);
        }
    }
    Ok(out)
}

/// The capability list of the container process, following moby's `TweakCapabilities`:
/// privileged gets every grantable capability; `--cap-add ALL` gets every grantable capability
/// minus the drops; `--cap-drop ALL` gets only the adds; otherwise defaults minus drops plus adds.
pub(super) fn effective_capability_names(
    privileged: bool,
    cap_add: &[String],
    cap_drop: &[String],
) -> Result<Vec<String>, SpecError> {
    if privileged {
        return Ok(grantable_capabilities()
            .into_iter()
            .map(String::from)
            .collect());
    }
    let adds = normalize(cap_add)?;
    let drops = normalize(cap_drop)?;
    let all = "ALL".to_string();
    let names: Vec<String> = if adds.contains(&all) {
        grantable_capabilities()
            .into_iter()
            .map(String::from)
            .filter(|c| !drops.contains(c))
            .collect()
    } else if drops.contains(&all) {
        adds
    } else {
        let mut names: Vec<String> = DEFAULT_CAPS
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drops.contains(c))
            .collect();
        for add in adds {
            if !names.contains(&add) {
                names.push(add);
            }
        }
        names
    };
    Ok(names)
}

/// Builds the OCI capability sets.
///
/// Inheritable and ambient are explicitly empty (Docker ≥ 23, the CVE-2022-24769 fix): an
/// omitted set would make libcontainer keep whatever the shim happens to have. For a non-root
/// user only the bounding set is filled, as Docker does, so that capabilities come from file
/// capabilities after `execve` exactly as they would on a normal host.
pub(super) fn build(names: &[String], uid: u32) -> Result<LinuxCapabilities, SpecError> {
    let set: Capabilities = names
        .iter()
        .map(|n| {
            // The OCI type parses names without the `CAP_` prefix.
            let bare = n.strip_prefix("CAP_").unwrap_or(n);
            Capability::from_str(bare).map_err(|_| SpecError::UnknownCapability(n.clone()))
        })
        .collect::<Result<_, _>>()?;
    let granted = if uid == 0 {
        set.clone()
    } else {
        HashSet::new()
    };
    Ok(LinuxCapabilitiesBuilder::default()
        .bounding(set)
        .effective(granted.clone())
        .permitted(granted)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_set_is_dockers_fourteen() {
        let caps = default_capabilities();
        assert_eq!(caps.len(), 14);
        assert_eq!(caps[0], "CAP_CHOWN");
        assert!(caps.contains(&"CAP_AUDIT_WRITE".to_string()));
        assert!(!caps.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_NET_ADMIN".to_string()));
    }

    #[test]
    fn add_and_drop_accept_docker_spellings() {
        let got = effective_capability_names(
            false,
            &names(&["net_admin", "CAP_SYS_PTRACE"]),
            &names(&["MKNOD", "cap_net_raw"]),
        )
        .unwrap();
        assert!(got.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(got.contains(&"CAP_SYS_PTRACE".to_string()));
        assert!(!got.contains(&"CAP_MKNOD".to_string()));
        assert!(!got.contains(&"CAP_NET_RAW".to_string()));
        assert_eq!(got.len(), 14);
    }

    #[test]
    fn adding_a_default_does_not_duplicate_it() {
        let got = effective_capability_names(false, &names(&["CHOWN", "chown"]), &[]).unwrap();
        assert_eq!(got.len(), 14);
    }

    #[test]
    fn drop_all_keeps_only_adds() {
        let got =
            effective_capability_names(false, &names(&["NET_BIND_SERVICE"]), &names(&["all"]))
                .unwrap();
        assert_eq!(got, names(&["CAP_NET_BIND_SERVICE"]));
    }

    #[test]
    fn add_all_gives_every_grantable_cap_minus_drops() {
        let got =
            effective_capability_names(false, &names(&["ALL"]), &names(&["SYS_ADMIN"])).unwrap();
        assert!(got.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!got.contains(&"CAP_SYS_ADMIN".to_string()));
        assert_eq!(got.len(), grantable_capabilities().len() - 1);
    }

    #[test]
    fn privileged_gets_every_grantable_cap() {
        let got = effective_capability_names(true, &[], &names(&["ALL"])).unwrap();
        assert_eq!(got.len(), grantable_capabilities().len());
        assert!(got.contains(&"CAP_SYS_ADMIN".to_string()));
    }

    #[test]
    fn the_bounding_set_limits_what_can_be_granted() {
        let status = "Name:\tpouchd\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n";
        let mask = bounding_set(status).unwrap();
        assert_eq!(mask & (1 << 24), 0, "CAP_SYS_RESOURCE is bit 24");
        assert_eq!(mask.count_ones(), 40);
        assert_eq!(bounding_set("Name:\tx\n"), None);
        // On this host: never more than the running process holds.
        let own = std::fs::read_to_string("/proc/self/status").unwrap();
        let own = bounding_set(&own).unwrap();
        for name in grantable_capabilities() {
            let n = ALL_CAPS.iter().find(|(c, _)| *c == name).unwrap().1;
            assert_ne!(own & (1 << n), 0, "{name}");
        }
    }

    #[test]
    fn unknown_capability_is_rejected() {
        let err = effective_capability_names(false, &names(&["FLY"]), &[]).unwrap_err();
        assert_eq!(err.to_string(), "unknown capability: \"FLY\"");
    }

    #[test]
    fn every_table_entry_parses_as_an_oci_capability() {
        let all: Vec<String> = ALL_CAPS.iter().map(|(n, _)| n.to_string()).collect();
        let caps = build(&all, 0).unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), ALL_CAPS.len());
    }

    #[test]
    fn non_root_gets_bounding_only_and_nobody_gets_inheritable() {
        let caps = build(&default_capabilities(), 1000).unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 14);
        assert!(caps.effective().as_ref().unwrap().is_empty());
        assert!(caps.permitted().as_ref().unwrap().is_empty());
        assert!(caps.inheritable().as_ref().unwrap().is_empty());
        assert!(caps.ambient().as_ref().unwrap().is_empty());

        let root = build(&default_capabilities(), 0).unwrap();
        assert_eq!(root.effective().as_ref().unwrap().len(), 14);
        assert_eq!(root.permitted().as_ref().unwrap().len(), 14);
        assert!(root.inheritable().as_ref().unwrap().is_empty());
    }
}
