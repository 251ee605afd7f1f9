//! Container networking: the network driver trait and its bridge implementation (netlink), IPAM,
//! the nftables firewall (NAT, published ports, isolation), the embedded DNS server of user
//! networks, and the CNI plugin invoker. The engine owns the state; this crate does the host work.

pub mod bridge;
pub mod cni;
pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod macvlan;
pub mod ports;
mod rules;

use std::path::Path;

pub use bridge::Attachment;
pub use ipam::Cidr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Sys(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// How a container is networked, from `HostConfig.NetworkMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Only a loopback interface.
    None,
    /// The host's namespace.
    Host,
    /// Another container's namespace.
    Container(String),
    /// A network by name or id (`bridge` is the default one).
    Network(String),
}

impl Mode {
    pub fn parse(mode: &str) -> Mode {
        match mode {
            "none" => Mode::None,
            "host" => Mode::Host,
            "" | "default" => Mode::Network("bridge".into()),
            m => match m.strip_prefix("container:") {
                Some(c) => Mode::Container(c.to_string()),
                None => Mode::Network(m.to_string()),
            },
        }
    }
}

/// What a driver needs to know about one network.
#[derive(Debug, Clone)]
pub struct NetworkSpec {
    pub bridge: String,
    pub subnet: Cidr,
    pub gateway: Option<std::net::Ipv4Addr>,
    /// Dual stack: the bridge's IPv6 gateway address with the subnet's prefix length.
    pub gateway6: Option<ipam::Cidr6>,
    pub mtu: Option<u32>,
}

/// A network driver: makes a network exist on the host and connects endpoints to it. Every
/// method is idempotent (teardown of what is already gone succeeds).
pub trait NetworkDriver: Send + Sync {
    fn name(&self) -> &'static str;
    fn create(&self, net: &NetworkSpec) -> Result<()>;
    fn delete(&self, net: &NetworkSpec) -> Result<()>;
    fn attach(&self, net: &NetworkSpec, ep: &Attachment) -> Result<()>;
    fn detach(&self, net: &NetworkSpec, host_if: &str) -> Result<()>;
}

/// Linux bridge + veth pairs.
pub struct BridgeDriver;

impl NetworkDriver for BridgeDriver {
    fn name(&self) -> &'static str {
        "bridge"
    }
    fn create(&self, net: &NetworkSpec) -> Result<()> {
        let gw = net.gateway.map(|g| Cidr::new(g, net.subnet.prefix));
        bridge::ensure_bridge(&net.bridge, gw, net.gateway6, net.mtu)
    }
    fn delete(&self, net: &NetworkSpec) -> Result<()> {
        bridge::delete_link(&net.bridge)
    }
    fn attach(&self, _net: &NetworkSpec, ep: &Attachment) -> Result<()> {
        bridge::attach(ep)
    }
    fn detach(&self, _net: &NetworkSpec, host_if: &str) -> Result<()> {
        bridge::delete_link(host_if)
    }
}

/// Records nothing and touches nothing: `host`/`null` networks, and the conformance tests.
pub struct NullDriver;

impl NetworkDriver for NullDriver {
    fn name(&self) -> &'static str {
        "null"
    }
    fn create(&self, _: &NetworkSpec) -> Result<()> {
        Ok(())
    }
    fn delete(&self, _: &NetworkSpec) -> Result<()> {
        Ok(())
    }
    fn attach(&self, _: &NetworkSpec, _: &Attachment) -> Result<()> {
        Ok(())
    }
    fn detach(&self, _: &NetworkSpec, _: &str) -> Result<()> {
        Ok(())
    }
}

/// Pins a fresh network namespace at `path` (kept if it exists) with loopback up.
pub fn create_netns(path: &Path) -> Result<()> {
    pouch_sys::netns::create(path).map_err(|e| Error::Sys(format!("create netns: {e}")))?;
    bridge::loopback_up(path)
}

/// Unpins a namespace; missing is fine.
pub fn remove_netns(path: &Path) -> Result<()> {
    pouch_sys::netns::remove(path).map_err(|e| Error::Sys(format!("remove netns: {e}")))
}

/// Host-wide lock around choosing subnets and creating bridges, so daemons starting side by side
/// never pick the same subnet.
pub fn host_lock() -> Result<HostLock> {
    use nix::fcntl::{Flock, FlockArg};
    let dir = Path::new("/run/pouch-net");
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Sys(format!("create {}: {e}", dir.display())))?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("subnets.lock"))
        .map_err(|e| Error::Sys(format!("open the subnet lock: {e}")))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map(HostLock)
        .map_err(|(_, e)| Error::Sys(format!("take the subnet lock: {e}")))
}

pub struct HostLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

/// Addresses assigned to host interfaces, as CIDRs (from /proc/net/fib_trie is overkill: the
/// route table has every connected network).
pub fn host_networks() -> Vec<Cidr> {
    ipam::host_routes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_docker() {
        assert_eq!(Mode::parse(""), Mode::Network("bridge".into()));
        assert_eq!(Mode::parse("none"), Mode::None);
        assert_eq!(Mode::parse("host"), Mode::Host);
        assert_eq!(Mode::parse("container:abc"), Mode::Container("abc".into()));
        assert_eq!(Mode::parse("mynet"), Mode::Network("mynet".into()));
    }

    /// Conformance: every driver tolerates teardown of what does not exist.
    #[test]
    fn drivers_tear_down_idempotently() {
        let spec = NetworkSpec {
            bridge: "pouchnotthere0".into(),
            subnet: "10.254.254.0/24".parse().unwrap(),
            gateway: None,
            gateway6: None,
            mtu: None,
        };
        let drivers: Vec<Box<dyn NetworkDriver>> =
            vec![Box::new(NullDriver), Box::new(BridgeDriver)];
        for d in drivers {
            d.detach(&spec, "vpnotthere0").unwrap();
            d.delete(&spec).unwrap();
        }
    }
}
