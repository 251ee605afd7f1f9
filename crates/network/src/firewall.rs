//! NAT, port publishing and isolation in one nftables table owned by this daemon. The whole table
//! is rendered from the engine's state (as libnftables JSON, see `rules`) and replaced in one
//! atomic batch, so applying it is idempotent and a restarted daemon simply renders it again.
//!
//! Coexistence with docker: docker's `FORWARD` policy is DROP, and an accept in our table cannot
//! overrule a drop in another table's chain, so bridged and forwarded traffic of our bridges is
//! also accepted in docker's `DOCKER-USER` chain when that chain exists (rules tagged with a
//! comment naming our table, removed by that tag). Isolation between our networks is decided
//! first, in our own forward chain, which runs before docker's.

use std::net::Ipv4Addr;

use crate::ipam::Cidr;
use crate::{Error, Result, rules};

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

/// `table ip <name>` (and `ip6`) through libnftables' JSON interface.
pub struct Nftables {
    pub table: String,
}

/// Runs one nftables JSON document, returning nft's JSON output.
fn nft(doc: &nftables::schema::Nftables) -> std::io::Result<String> {
    let json = serde_json::to_string(doc).map_err(std::io::Error::other)?;
    pouch_sys::nft::run_json(&json)
}

impl Nftables {
    /// The comment on our rules in chains that are not ours.
    fn tag(&self) -> String {
        format!("pouch:{}", self.table)
    }

    /// Our accepts in docker's DOCKER-USER chain, or `None` when there is no such chain.
    fn docker_user_rules(&self) -> Result<Option<Vec<rules::Tagged>>> {
        match nft(&rules::list_docker_user()) {
            // no docker (or not iptables-nft): nothing to coexist with
            Err(_) => Ok(None),
            Ok(listing) => rules::tagged(&listing, &self.tag()).map(Some),
        }
    }

    /// Our accept rules in docker's DOCKER-USER chain: dropped, then re-added for `bridges`.
    fn docker_user(&self, bridges: &[&str]) -> Result<()> {
        let Some(old) = self.docker_user_rules()? else {
            return Ok(());
        };
        if old.is_empty() && bridges.is_empty() {
            return Ok(());
        }
        let stale: Vec<u32> = old.iter().map(|r| r.handle).collect();
        let tag = self.tag();
        let echo = nft(&rules::docker_user(&tag, &stale, bridges)?)
            .map_err(|e| Error::Sys(format!("docker's DOCKER-USER chain: {e}")))?;
        // nft echoes each rule it inserted with its handle: all of them must be there.
        let made = rules::tagged(&echo, &tag)?;
        if !rules::accepts_cover(&made, bridges) {
            return Err(Error::Sys(format!(
                "docker's DOCKER-USER chain: nft confirmed {} of {} accepts",
                made.len(),
                2 * bridges.len()
            )));
        }
        Ok(())
    }
}

impl Firewall for Nftables {
    fn in_place(&self, bridges: &[&str]) -> bool {
        match self.docker_user_rules() {
            Ok(Some(ours)) => rules::accepts_cover(&ours, bridges),
            Ok(None) => true,
            Err(_) => false,
        }
    }

    fn apply(&self, ruleset: &Ruleset) -> Result<()> {
        nft(&rules::render(&self.table, ruleset)?)
            .map_err(|e| Error::Sys(format!("nftables table {}: {e}", self.table)))?;
        let bridges: Vec<&str> = ruleset.networks.iter().map(|n| n.bridge.as_str()).collect();
        self.docker_user(&bridges)
    }

    fn remove(&self) -> Result<()> {
        let mut errs = Vec::new();
        if let Err(e) = self.docker_user(&[]) {
            errs.push(e.to_string());
        }
        if let Err(e) = nft(&rules::remove(&self.table)) {
            errs.push(format!("nftables table {}: {e}", self.table));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::Sys(errs.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bridge names that are nft syntax: one ends a string, a statement and a block; one would
    /// turn every rule that names it into `… "x" accept` (the rest a comment); one would be a
    /// wildcard matching every interface whose name starts with `pfw`.
    const HOSTILE: [&str; 3] = ["q\"; }\n{drop", "x\" accept;#", "pfw*"];

    fn ruleset(bridges: &[&str]) -> Ruleset {
        Ruleset {
            networks: bridges
                .iter()
                .enumerate()
                .map(|(i, b)| FwNetwork {
                    bridge: b.to_string(),
                    subnet: format!("10.254.{}.0/24", 77 + i).parse().unwrap(),
                    internal: false,
                    masquerade: true,
                    subnet6: None,
                })
                .collect(),
            ports: vec![PortMap {
                host_ip: None,
                host_port: 40999,
                proto: "tcp".into(),
                container_ip: Ipv4Addr::new(10, 254, 77, 2),
                container_port: 80,
            }],
        }
    }

    /// Our table's rules as nft lists them: (chain, expr) of each.
    fn listed(table: &str) -> Vec<(String, serde_json::Value)> {
        let out = pouch_sys::nft::run_with(
            &format!("list table ip {table}"),
            pouch_sys::nft::OUTPUT_JSON,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o.get("rule"))
            .map(|r| (r["chain"].as_str().unwrap().to_string(), r["expr"].clone()))
            .collect()
    }

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
        let bridge = format!("pfw{}", std::process::id() % 100000);
        let r = ruleset(&[&bridge]);
        for (fw, real) in fws {
            fw.apply(&r).unwrap();
            fw.apply(&r).unwrap();
            if real {
                let l = pouch_sys::nft::run(&format!("list table ip {table}")).unwrap();
                assert_eq!(l.matches("dport 40999").count(), 1, "{l}");
            }
            assert!(fw.in_place(&[&bridge]));
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
                    assert!(!fw.in_place(&[&bridge]), "no accepts after remove: {l}");
                }
            }
        }
    }

    /// Against real nftables: a bridge name full of nft syntax installs exactly the rules a
    /// plain name does, with the name as the matched value, in our table and in DOCKER-USER.
    #[test]
    fn a_hostile_bridge_name_is_only_a_matched_value() {
        if !(pouch_sys::nft::available() && pouch_sys::nft::run("list tables").is_ok()) {
            eprintln!("SKIP: libnftables unavailable or not root");
            return;
        }
        let table = format!("pouch_fwhostile{}", std::process::id());
        let fw = Nftables {
            table: table.clone(),
        };
        for name in HOSTILE {
            fw.apply(&ruleset(&["pfwplain0", "pfwplain1"])).unwrap();
            let plain = listed(&table);
            let applied = fw.apply(&ruleset(&["pfwplain0", name]));
            let hostile = listed(&table);
            let docker_user = pouch_sys::nft::run("list chain ip filter DOCKER-USER").ok();
            let in_place = fw.in_place(&["pfwplain0", name]);
            fw.remove().unwrap();

            applied.unwrap();
            // nft lists an escaped `*` as it was given: escaped.
            let matched = match name.strip_suffix('*') {
                Some(stem) => format!("{stem}\\*"),
                None => name.to_string(),
            };
            let as_text = |v: &[(String, serde_json::Value)]| {
                serde_json::to_string(v)
                    .unwrap()
                    .replace(&serde_json::to_string(&matched).unwrap(), "\"pfwplain1\"")
            };
            assert_eq!(as_text(&plain), as_text(&hostile), "{name:?}");
            assert!(
                hostile
                    .iter()
                    .any(|(c, e)| c == "postrouting" && e[0]["match"]["right"] == *matched),
                "{hostile:?}"
            );
            if let Some(l) = docker_user {
                assert!(in_place, "{l}");
                assert_eq!(l.matches(&format!("pouch:{table}")).count(), 4, "{l}");
            }
        }
    }
}
