//! The bridge driver: a Linux bridge per network with the gateway address on it, and one veth
//! pair per container endpoint (host end enslaved to the bridge, the other end in the
//! container's namespace as `ethN`). Everything through netlink; every step is idempotent.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use pouch_sys::netlink::Netlink;

use crate::ipam::Cidr;
use crate::{Error, Result};

/// One container endpoint on a bridge.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The container's pinned network namespace.
    pub netns: PathBuf,
    pub bridge: String,
    /// Host end of the veth pair.
    pub host_if: String,
    /// Name inside the container (`eth0`, …).
    pub container_if: String,
    pub ip: Ipv4Addr,
    pub subnet: Cidr,
    pub gateway: Option<Ipv4Addr>,
    pub mac: [u8; 6],
    pub mtu: Option<u32>,
    /// Whether this endpoint carries the container's default route.
    pub default_route: bool,
    /// Dual stack: the IPv6 address with its prefix length, and the gateway.
    pub ip6: Option<(std::net::Ipv6Addr, u8)>,
    pub gateway6: Option<std::net::Ipv6Addr>,
}

fn nl() -> Result<Netlink> {
    Netlink::open().map_err(|e| Error::Sys(format!("netlink: {e}")))
}

fn sys(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Sys(format!("{what}: {e}"))
}

/// Refuses a bridge name the kernel would refuse (empty, longer than 15 bytes, `.`/`..`, with
/// `/`, `:` or white space), and one starting with `@`, which nftables reads as a set
/// reference and so could not match in the firewall.
fn check_bridge_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name.starts_with('@')
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if bad {
        return Err(Error::Invalid(format!(
            "invalid bridge name {name:?}: up to 15 characters, none of / : @ (first) or white space"
        )));
    }
    Ok(())
}

/// Creates the bridge if missing, puts the gateway address on it and brings it up. Published
/// ports reach containers from the host's loopback, so `route_localnet` is on for the bridge.
pub fn ensure_bridge(
    name: &str,
    gateway: Option<Cidr>,
    gateway6: Option<crate::ipam::Cidr6>,
    mtu: Option<u32>,
) -> Result<()> {
    check_bridge_name(name)?;
    let mut nl = nl()?;
    let idx = match nl.index(name).map_err(sys("list links"))? {
        Some(i) => i,
        None => {
            match nl.add_bridge(name, mtu) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::Sys(format!("create bridge {name}: {e}")));
                }
                _ => {}
            }
            nl.index(name)
                .map_err(sys("list links"))?
                .ok_or_else(|| Error::Sys(format!("bridge {name} vanished after creation")))?
        }
    };
    if let Some(gw) = gateway {
        nl.add_addr(idx, gw.addr, gw.prefix)
            .map_err(sys("add the bridge address"))?;
    }
    if let Some(gw) = gateway6 {
        nl.add_addr6(idx, gw.addr, gw.prefix)
            .map_err(sys("add the bridge's IPv6 address"))?;
    }
    nl.set_link(idx, None, mtu)
        .map_err(sys("set the bridge up"))?;
    let _ = pouch_sys::netns::sysctl(&format!("net/ipv4/conf/{name}/route_localnet"), "1");
    Ok(())
}

/// Deletes a bridge (missing is fine).
pub fn delete_link(name: &str) -> Result<()> {
    nl()?.del_link(name).map_err(sys("delete link"))
}

/// Whether a link of that name exists in the host namespace.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Names of the interfaces enslaved to a bridge.
pub fn bridge_ports(bridge: &str) -> Vec<String> {
    std::fs::read_dir(Path::new("/sys/class/net").join(bridge).join("brif"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Creates the veth pair and configures both ends. On failure the host end is removed again.
pub fn attach(a: &Attachment) -> Result<()> {
    let res = attach_inner(a);
    if res.is_err() {
        let _ = delete_link(&a.host_if);
    }
    res
}

fn attach_inner(a: &Attachment) -> Result<()> {
    let mut nl = nl()?;
    let br = nl
        .index(&a.bridge)
        .map_err(sys("list links"))?
        .ok_or_else(|| Error::Sys(format!("bridge {} does not exist", a.bridge)))?;
    // A veth left by an earlier run of this endpoint would block the name.
    nl.del_link(&a.host_if).map_err(sys("delete stale veth"))?;
    let ns = std::fs::File::open(&a.netns).map_err(sys("open the network namespace"))?;
    nl.add_veth(
        &a.host_if,
        &a.container_if,
        ns.as_raw_fd(),
        Some(a.mac),
        a.mtu,
    )
    .map_err(sys("create veth pair"))?;
    let host = nl
        .index(&a.host_if)
        .map_err(sys("list links"))?
        .ok_or_else(|| Error::Sys(format!("veth {} vanished", a.host_if)))?;
    nl.set_link(host, Some(br), None)
        .map_err(sys("attach veth to the bridge"))?;
    // A container reaching its own published port through a host address comes back on the
    // port it left by.
    let _ = std::fs::write(
        Path::new("/sys/class/net")
            .join(&a.host_if)
            .join("brport/hairpin_mode"),
        "1",
    );
    configure_inside(a)
}

/// Inside the namespace: loopback up, the address on `container_if`, the link up and the
/// default route (when this endpoint carries it).
pub(crate) fn configure_inside(a: &Attachment) -> Result<()> {
    let a = a.clone();
    pouch_sys::netns::run_in(&a.netns.clone(), move || {
        let mut nl = Netlink::open()?;
        if let Some(lo) = nl.index("lo")? {
            nl.set_link(lo, None, None)?;
        }
        let idx = nl
            .index(&a.container_if)?
            .ok_or_else(|| std::io::Error::other(format!("{} missing", a.container_if)))?;
        nl.add_addr(idx, a.ip, a.subnet.prefix)?;
        if let Some((ip6, prefix)) = a.ip6 {
            nl.add_addr6(idx, ip6, prefix)?;
        }
        nl.set_link(idx, None, None)?;
        if a.default_route
            && let Some(gw) = a.gateway
        {
            nl.add_default_route(idx, gw)?;
        }
        if a.default_route
            && let Some(gw) = a.gateway6
        {
            nl.add_default_route6(idx, gw)?;
        }
        Ok(())
    })
    .map_err(sys("configure the container interface"))
}

/// Brings loopback up inside a namespace (the runtime does not when the namespace is given).
pub fn loopback_up(netns: &Path) -> Result<()> {
    pouch_sys::netns::run_in(netns, || {
        let mut nl = Netlink::open()?;
        if let Some(lo) = nl.index("lo")? {
            nl.set_link(lo, None, None)?;
        }
        Ok(())
    })
    .map_err(sys("bring loopback up"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_names_the_kernel_or_nftables_cannot_take_are_refused() {
        for ok in ["pouch0", "br-0123456789a", "x\";}{#", "pfw*"] {
            check_bridge_name(ok).unwrap();
        }
        for bad in [
            "",
            "a-name-of-16-chr",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "a\nb",
            "@set",
        ] {
            let e = check_bridge_name(bad).unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{bad:?}: {e}");
        }
    }
}
