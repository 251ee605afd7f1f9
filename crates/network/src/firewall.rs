//! NAT, port publishing and isolation in one nftables table owned by this daemon. The whole table
//! is rendered from the engine's state and replaced in one atomic batch, so applying it is
//! idempotent and a restarted daemon simply renders it again.
//!
//! Coexistence with docker: docker's `FORWARD` policy is DROP, and an accept in our table cannot
//! overrule a drop in another table's chain, so bridged and forwarded traffic of our bridges is
//! also accepted in docker's `DOCKER-USER` chain when that chain exists (rules tagged with a
//! comment naming our table, removed by that tag). Isolation between our networks is decided
//! first, in our own forward chain, which runs before docker's.

use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::ipam::Cidr;
use crate::{Error, Result};

/// One network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwNetwork {
    pub bridge: String,
    pub subnet: Cidr,
    /// No traffic in or out of the network except to its own members (and the gateway).
    pub internal: bool,
    /// Masquerade traffic leaving the network.
    pub masquerade: bool,
    /// Dual stack: the IPv6 subnet.
    pub subnet6: Option<crate::ipam::Cidr6>,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    /// `None` publishes on every local address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub proto: String,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub networks: Vec<FwNetwork>,
    pub ports: Vec<PortMap>,
}

/// The firewall driver: a real nftables table or nothing at all (tests, hosts without nftables).
pub trait Firewall: Send + Sync {
    fn apply(&self, rules: &Ruleset) -> Result<()>;
    fn remove(&self) -> Result<()>;
    /// Whether rules that live outside our own table (docker's DOCKER-USER accepts) are still in
    /// place for `bridges`; false asks for `apply` again (docker started after pouchd).
    fn in_place(&self, _bridges: &[&str]) -> bool {
        true
    }
}

/// Does nothing; for a host without nftables, where the bridge still works without NAT.
pub struct NoFirewall;

impl Firewall for NoFirewall {
    fn apply(&self, _: &Ruleset) -> Result<()> {
        Ok(())
    }
    fn remove(&self) -> Result<()> {
        Ok(())
    }
}

/// `table ip <name>` through libnftables.
pub struct Nftables {
    pub table: String,
}

impl Nftables {
    fn tag(&self) -> String {
        format!("pouch:{}", self.table)
    }

    /// Our accept rules in docker's DOCKER-USER chain: dropped, then re-added for `bridges`.
    fn docker_user(&self, bridges: &[&str]) -> Result<()> {
        let Ok(listing) = pouch_sys::nft::run_with(
            "list chain ip filter DOCKER-USER",
            pouch_sys::nft::OUTPUT_HANDLE,
        ) else {
            return Ok(()); // no docker (or not iptables-nft): nothing to coexist with
        };
        let tag = self.tag();
        let mut cmds = String::new();
        for l in listing.lines() {
            if l.contains(&format!("comment \"{tag}\""))
                && let Some(h) = l.rsplit("# handle ").next()
                && let Ok(h) = h.trim().parse::<u64>()
            {
                let _ = writeln!(cmds, "delete rule ip filter DOCKER-USER handle {h}");
            }
        }
        for b in bridges {
            for dir in ["iifname", "oifname"] {
                let _ = writeln!(
                    cmds,
                    "insert rule ip filter DOCKER-USER {dir} \"{b}\" counter accept comment \"{tag}\""
                );
            }
        }
        if cmds.is_empty() {
            return Ok(());
        }
        pouch_sys::nft::run(&cmds)
            .map(|_| ())
            .map_err(|e| Error::Sys(format!("docker's DOCKER-USER chain: {e}")))
    }
}

impl Firewall for Nftables {
    fn in_place(&self, bridges: &[&str]) -> bool {
        match pouch_sys::nft::run("list chain ip filter DOCKER-USER") {
            Ok(l) => l.matches(&format!("comment \"{}\"", self.tag())).count() >= 2 * bridges.len(),
            Err(_) => true,
        }
    }

    fn apply(&self, rules: &Ruleset) -> Result<()> {
        pouch_sys::nft::run(&render(&self.table, rules))
            .map_err(|e| Error::Sys(format!("nftables table {}: {e}", self.table)))?;
        let bridges: Vec<&str> = rules.networks.iter().map(|n| n.bridge.as_str()).collect();
        self.docker_user(&bridges)
    }

    fn remove(&self) -> Result<()> {
        let mut errs = Vec::new();
        if let Err(e) = self.docker_user(&[]) {
            errs.push(e.to_string());
        }
        let t = &self.table;
        if let Err(e) = pouch_sys::nft::run(&format!(
            "table ip {t}\ndelete table ip {t}\ntable ip6 {t}\ndelete table ip6 {t}\n"
        )) {
            errs.push(e.to_string());
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::Sys(errs.join("; ")))
        }
    }
}

/// The batch that replaces the table: create-if-missing, delete, define anew.
pub fn render(table: &str, r: &Ruleset) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "table ip {table}\ndelete table ip {table}\ntable ip {table} {{"
    );
    // Published ports: DNAT for traffic to a local address, from outside and from the host.
    s.push_str("  chain ports {\n");
    for p in &r.ports {
        let daddr = p
            .host_ip
            .map(|ip| format!("ip daddr {ip} "))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "    {daddr}{proto} dport {hp} dnat to {cip}:{cp}",
            proto = p.proto,
            hp = p.host_port,
            cip = p.container_ip,
            cp = p.container_port
        );
    }
    s.push_str("  }\n");
    s.push_str(
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    \
         fib daddr type local jump ports\n  }\n",
    );
    s.push_str(
        "  chain output {\n    type nat hook output priority -100; policy accept;\n    \
         fib daddr type local jump ports\n  }\n",
    );
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for n in &r.networks {
        let (b, sub) = (&n.bridge, n.subnet.network());
        // Host loopback to a published port (route_localnet): the container must answer the
        // bridge address, not 127.0.0.1.
        let _ = writeln!(s, "    oifname \"{b}\" ip saddr 127.0.0.0/8 masquerade");
        // A container reaching its own network's published port through the host: hairpin.
        let _ = writeln!(
            s,
            "    oifname \"{b}\" ip saddr {sub} ct status dnat masquerade"
        );
        if n.masquerade && !n.internal {
            let _ = writeln!(s, "    ip saddr {sub} oifname != \"{b}\" masquerade");
        }
    }
    s.push_str("  }\n");
    // route_localnet lets published ports answer on 127.0.0.1; it must not let a container send
    // to the host's loopback services through its gateway (replies to DNATed loopback
    // connections carry the dnat status and pass).
    s.push_str("  chain input {\n    type filter hook input priority -10; policy accept;\n");
    for n in &r.networks {
        let _ = writeln!(
            s,
            "    iifname \"{}\" ip daddr 127.0.0.0/8 ct status ! dnat drop",
            n.bridge
        );
    }
    s.push_str("  }\n");
    // Isolation runs before docker's filter chains (priority filter - 10).
    s.push_str("  chain forward {\n    type filter hook forward priority -10; policy accept;\n");
    for n in &r.networks {
        let b = &n.bridge;
        if n.internal {
            let _ = writeln!(s, "    iifname \"{b}\" oifname != \"{b}\" drop");
            let _ = writeln!(s, "    oifname \"{b}\" iifname != \"{b}\" drop");
        }
        for o in &r.networks {
            if o.bridge != n.bridge {
                let _ = writeln!(s, "    iifname \"{b}\" oifname \"{}\" drop", o.bridge);
            }
        }
    }
    s.push_str("  }\n}\n");
    // IPv6: masquerade and isolation for dual-stack networks (ports are published on IPv4).
    let _ = writeln!(
        s,
        "table ip6 {table}\ndelete table ip6 {table}\ntable ip6 {table} {{"
    );
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for n in &r.networks {
        if let Some(sub) = n.subnet6
            && n.masquerade
            && !n.internal
        {
            let _ = writeln!(
                s,
                "    ip6 saddr {} oifname != \"{}\" masquerade",
                sub.network(),
                n.bridge
            );
        }
    }
    s.push_str("  }\n");
    s.push_str("  chain forward {\n    type filter hook forward priority -10; policy accept;\n");
    for n in r.networks.iter().filter(|n| n.subnet6.is_some()) {
        let b = &n.bridge;
        if n.internal {
            let _ = writeln!(s, "    iifname \"{b}\" oifname != \"{b}\" drop");
            let _ = writeln!(s, "    oifname \"{b}\" iifname != \"{b}\" drop");
        }
        for o in &r.networks {
            if o.bridge != n.bridge {
                let _ = writeln!(s, "    iifname \"{b}\" oifname \"{}\" drop", o.bridge);
            }
        }
    }
    s.push_str("  }\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Conformance: applying is idempotent and replaces the previous rules; removing twice is
    /// fine. Runs against real nftables when libnftables is there (root), always on the null one.
    #[test]
    fn firewalls_apply_and_remove_idempotently() {
        let table = format!("pouch_fwtest{}", std::process::id());
        let mut fws: Vec<(Box<dyn Firewall>, bool)> = vec![(Box::new(NoFirewall), false)];
        if pouch_sys::nft::available() && pouch_sys::nft::run("list tables").is_ok() {
            fws.push((
                Box::new(Nftables {
                    table: table.clone(),
                }),
                true,
            ));
        } else {
            eprintln!("SKIP nftables conformance: libnftables unavailable or not root");
        }
        let r = Ruleset {
            networks: vec![FwNetwork {
                bridge: format!("pfw{}", std::process::id() % 100000),
                subnet: "10.254.77.0/24".parse().unwrap(),
                internal: false,
                masquerade: true,
                subnet6: None,
            }],
            ports: vec![PortMap {
                host_ip: None,
                host_port: 40999,
                proto: "tcp".into(),
                container_ip: Ipv4Addr::new(10, 254, 77, 2),
                container_port: 80,
            }],
        };
        for (fw, real) in fws {
            fw.apply(&r).unwrap();
            fw.apply(&r).unwrap();
            if real {
                let l = pouch_sys::nft::run(&format!("list table ip {table}")).unwrap();
                assert_eq!(l.matches("dport 40999").count(), 1, "{l}");
            }
            let mut r2 = r.clone();
            r2.ports.clear();
            fw.apply(&r2).unwrap();
            if real {
                let l = pouch_sys::nft::run(&format!("list table ip {table}")).unwrap();
                assert!(!l.contains("dport 40999"), "{l}");
            }
            fw.remove().unwrap();
            fw.remove().unwrap();
            if real {
                assert!(pouch_sys::nft::run(&format!("list table ip {table}")).is_err());
                if let Ok(l) = pouch_sys::nft::run("list chain ip filter DOCKER-USER") {
                    assert!(!l.contains(&format!("pouch:{table}")), "{l}");
                }
            }
        }
    }

    #[test]
    fn renders_nat_ports_and_isolation() {
        let r = Ruleset {
            networks: vec![
                FwNetwork {
                    bridge: "pb0".into(),
                    subnet: "10.5.0.1/24".parse().unwrap(),
                    internal: false,
                    masquerade: true,
                    subnet6: None,
                },
                FwNetwork {
                    bridge: "pb1".into(),
                    subnet: "10.6.0.0/24".parse().unwrap(),
                    internal: true,
                    masquerade: true,
                    subnet6: Some("fd00:6::/64".parse().unwrap()),
                },
            ],
            ports: vec![PortMap {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 8080,
                proto: "tcp".into(),
                container_ip: Ipv4Addr::new(10, 5, 0, 2),
                container_port: 80,
            }],
        };
        let s = render("pt", &r);
        assert!(s.starts_with("table ip pt\ndelete table ip pt\n"), "{s}");
        assert!(
            s.contains("ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.5.0.2:80"),
            "{s}"
        );
        assert!(
            s.contains("ip saddr 10.5.0.0/24 oifname != \"pb0\" masquerade"),
            "{s}"
        );
        assert!(
            !s.contains("ip saddr 10.6.0.0/24 oifname != \"pb1\" masquerade"),
            "{s}"
        );
        assert!(s.contains("iifname \"pb0\" oifname \"pb1\" drop"), "{s}");
        assert!(s.contains("iifname \"pb1\" oifname != \"pb1\" drop"), "{s}");
        assert!(s.contains("table ip6 pt {"), "{s}");
        assert!(
            s.contains("iifname \"pb0\" ip daddr 127.0.0.0/8 ct status ! dnat drop"),
            "{s}"
        );
        assert!(
            !s.contains("ip6 saddr fd00:6::/64"),
            "internal: no masquerade: {s}"
        );
    }
}
