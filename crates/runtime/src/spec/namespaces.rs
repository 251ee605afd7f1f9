//! Namespaces and the UTS settings that depend on them.

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType};

use super::{CgroupLayout, ContainerSpec, NsMode, SpecError};

/// The namespace list in Docker's order. `Host` leaves a namespace out (the process stays in the
/// runtime's); `Path` joins an existing one. The cgroup namespace follows Docker's default
/// cgroupns mode: private on cgroup v2, the host's on v1.
pub(super) fn build(c: &ContainerSpec) -> Result<Vec<LinuxNamespace>, SpecError> {
    let ns = &c.namespaces;
    let mut wanted = vec![
        (LinuxNamespaceType::Mount, &NsMode::Private),
        (LinuxNamespaceType::Network, &ns.net),
        (LinuxNamespaceType::Uts, &ns.uts),
        (LinuxNamespaceType::Pid, &ns.pid),
        (LinuxNamespaceType::Ipc, &ns.ipc),
    ];
    if c.cgroup_layout == CgroupLayout::V2 {
        wanted.push((LinuxNamespaceType::Cgroup, &NsMode::Private));
    }
    let mut out = Vec::with_capacity(wanted.len() + 1);
    if let Some(u) = &c.user_ns {
        let b = LinuxNamespaceBuilder::default().typ(LinuxNamespaceType::User);
        out.push(match &u.path {
            Some(p) => b.path(p.clone()).build()?,
            None => b.build()?,
        });
    }
    for (typ, mode) in wanted {
        let builder = LinuxNamespaceBuilder::default().typ(typ);
        let built = match mode {
            NsMode::Host => continue,
            NsMode::Private => builder.build()?,
            NsMode::Path(path) | NsMode::Owned(path) => {
                if !path.is_absolute() {
                    return Err(SpecError::NotAbsolute {
                        what: "namespace path",
                        path: path.clone(),
                    });
                }
                builder.path(path.clone()).build()?
            }
        };
        out.push(built);
    }
    Ok(out)
}

/// The hostname to set, if any. Docker refuses a hostname with `--uts host` rather than silently
/// renaming the host; with a joined namespace the hostname is applied to the shared namespace,
/// which is how pods give all their containers the sandbox's name.
pub(super) fn hostname(c: &ContainerSpec) -> Result<Option<String>, SpecError> {
    if c.hostname.is_empty() && c.domainname.is_empty() {
        return Ok(None);
    }
    if c.namespaces.uts == NsMode::Host {
        return Err(SpecError::HostnameWithSharedUts);
    }
    Ok((!c.hostname.is_empty()).then(|| c.hostname.clone()))
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    fn kinds(c: &ContainerSpec) -> Vec<(LinuxNamespaceType, Option<String>)> {
        build(c)
            .unwrap()
            .iter()
            .map(|n| (n.typ(), n.path().as_ref().map(|p| p.display().to_string())))
            .collect()
    }

    #[test]
    fn private_by_default_without_cgroupns_on_v1() {
        use LinuxNamespaceType::*;
        let got: Vec<_> = kinds(&sample()).into_iter().map(|(t, _)| t).collect();
        assert_eq!(got, [Mount, Network, Uts, Pid, Ipc]);
        let mut c = sample();
        c.cgroup_layout = CgroupLayout::V2;
        assert_eq!(kinds(&c).last().unwrap().0, Cgroup);
    }

    #[test]
    fn host_is_omitted_and_path_is_joined() {
        use LinuxNamespaceType::*;
        let mut c = sample();
        c.hostname = String::new();
        c.namespaces.pid = NsMode::Host;
        c.namespaces.uts = NsMode::Host;
        c.namespaces.net = NsMode::Path("/proc/42/ns/net".into());
        assert_eq!(
            kinds(&c),
            [
                (Mount, None),
                (Network, Some("/proc/42/ns/net".to_string())),
                (Ipc, None)
            ]
        );
        c.namespaces.ipc = NsMode::Path("proc/42/ns/ipc".into());
        assert!(matches!(build(&c), Err(SpecError::NotAbsolute { .. })));
    }

    #[test]
    fn hostname_conflicts_with_host_uts() {
        let mut c = sample();
        assert_eq!(hostname(&c).unwrap().as_deref(), Some("c1host"));
        c.namespaces.uts = NsMode::Host;
        let err = hostname(&c).unwrap_err();
        assert_eq!(
            err.to_string(),
            "conflicting options: hostname and the UTS mode"
        );
        c.hostname.clear();
        assert_eq!(hostname(&c).unwrap(), None);
        c.namespaces.uts = NsMode::Path("/proc/1/ns/uts".into());
        c.hostname = "pod".into();
        assert_eq!(hostname(&c).unwrap().as_deref(), Some("pod"));
    }
}
