//! Published ports: docker's `PortBindings` (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`)
//! and `-P` (every exposed port on a random host port) turned into concrete bindings, with host
//! ports chosen when none or a range was asked for, and held for as long as they are published
//! (`reserve.rs`).

mod reserve;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

pub use reserve::Reservation;

/// One binding as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub container_port: u16,
    pub proto: String,
    pub host_ip: Option<Ipv4Addr>,
    /// Inclusive range; (0, 0) for any.
    pub host_ports: (u16, u16),
}

/// One binding as made: what inspect reports and the firewall publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub container_port: u16,
    pub proto: String,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
}

fn split_port(key: &str) -> Result<(u16, String)> {
    let (p, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(Error::Invalid(format!("invalid protocol in port {key}")));
    }
    let port = p
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::Invalid(format!("invalid container port {key}")))?;
    Ok((port, proto))
}

fn host_range(s: &str) -> Result<(u16, u16)> {
    let bad = || Error::Invalid(format!("invalid host port {s}"));
    if s.is_empty() {
        return Ok((0, 0));
    }
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// The requests of a container: its `PortBindings`, plus with `-P` every exposed port not bound.
pub fn requests(
    bindings: Option<&Value>,
    exposed: Option<&BTreeMap<String, Value>>,
    publish_all: bool,
) -> Result<Vec<PortRequest>> {
    let mut out = Vec::new();
    if let Some(obj) = bindings.and_then(|b| b.as_object()) {
        for (key, list) in obj {
            let (port, proto) = split_port(key)?;
            let list = list.as_array().cloned().unwrap_or_default();
            let list = if list.is_empty() {
                vec![Value::Null]
            } else {
                list
            };
            for b in list {
                let ip = b["HostIp"].as_str().unwrap_or("");
                let host_ip = match ip {
                    "" | "0.0.0.0" => None,
                    ip => Some(ip.parse::<Ipv4Addr>().map_err(|_| {
                        Error::Invalid(format!("invalid host IP {ip}: only IPv4 is published"))
                    })?),
                };
                out.push(PortRequest {
                    container_port: port,
                    proto: proto.clone(),
                    host_ip,
                    host_ports: host_range(b["HostPort"].as_str().unwrap_or(""))?,
                });
            }
        }
    }
    if publish_all {
        for key in exposed
            .map(|e| e.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let (port, proto) = split_port(&key)?;
            if !out
                .iter()
                .any(|r| r.container_port == port && r.proto == proto)
            {
                out.push(PortRequest {
                    container_port: port,
                    proto,
                    host_ip: None,
                    host_ports: (0, 0),
                });
            }
        }
    }
    Ok(out)
}

/// Why a host port could not be published, worded as dockerd words it (clients show the text).
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Another container of this daemon publishes the same address (dockerd's port allocator).
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    Allocated { ip: Ipv4Addr, port: u16 },
    /// The kernel refused the bind: a host process, or another engine, holds the address.
    #[error("Error starting userland proxy: listen {net} {addr}: bind: {reason}")]
    Bind {
        net: String,
        addr: SocketAddr,
        reason: String,
        #[source]
        source: std::io::Error,
    },
    /// No port of the range (or of the ephemeral range) can be held.
    #[error("all ports are allocated")]
    AllAllocated,
    #[error("choose a host port: {0}")]
    Sys(String),
}

/// Chooses host ports and holds them (see [`Reservation`]). A fixed port is taken as asked:
/// refused as "already allocated" when `taken` (what this daemon's other containers publish)
/// has the same address, and with the kernel's answer when anything else holds it. A range
/// yields its first port that can be held; none yields a free port of the ephemeral range.
pub fn allocate(
    reqs: &[PortRequest],
    taken: &[PortBinding],
) -> std::result::Result<(Vec<PortBinding>, Reservation), PortError> {
    let mut out: Vec<PortBinding> = Vec::new();
    let mut held = Reservation::default();
    for r in reqs {
        // Exactly this address (dockerd's allocator keys ports by the address as written).
        let same = |p: u16, out: &[PortBinding]| {
            taken
                .iter()
                .chain(out)
                .any(|b| b.host_port == p && b.proto == r.proto && b.host_ip == r.host_ip)
        };
        // Any address this one overlaps: a port to skip when choosing.
        let overlaps = |p: u16, out: &[PortBinding]| {
            taken.iter().chain(out).any(|b| {
                b.host_port == p
                    && b.proto == r.proto
                    && (b.host_ip.is_none() || r.host_ip.is_none() || b.host_ip == r.host_ip)
            })
        };
        let (port, res) = match r.host_ports {
            (0, 0) => reserve::hold_any(r.host_ip, &r.proto, |p| overlaps(p, &out))?,
            (a, b) if a == b => {
                if same(a, &out) {
                    return Err(PortError::Allocated {
                        ip: r.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                        port: a,
                    });
                }
                (a, reserve::hold(r.host_ip, a, &r.proto)?)
            }
            (a, b) => {
                let mut found = None;
                for p in (a..=b).filter(|p| !overlaps(*p, &out)) {
                    match reserve::hold(r.host_ip, p, &r.proto) {
                        Ok(res) => {
                            found = Some((p, res));
                            break;
                        }
                        Err(e) if reserve::in_use(&e) => continue,
                        Err(e) => return Err(e),
                    }
                }
                found.ok_or(PortError::AllAllocated)?
            }
        };
        held.extend(res);
        out.push(PortBinding {
            container_port: r.container_port,
            proto: r.proto.clone(),
            host_ip: r.host_ip,
            host_port: port,
        });
    }
    Ok((out, held))
}

/// Holds ports already chosen (a running container's, when pouchd starts again): what can be
/// held, and each binding that could not be with why.
pub fn reserve(bound: &[PortBinding]) -> (Reservation, Vec<(PortBinding, PortError)>) {
    let mut held = Reservation::default();
    let mut failed = Vec::new();
    for b in bound {
        match reserve::hold(b.host_ip, b.host_port, &b.proto) {
            Ok(r) => held.extend(r),
            Err(e) => failed.push((b.clone(), e)),
        }
    }
    (held, failed)
}

/// `NetworkSettings.Ports` in docker's shape: every exposed or published port, with its bindings.
pub fn settings_ports(bound: &[PortBinding], exposed: Option<&BTreeMap<String, Value>>) -> Value {
    let mut m = serde_json::Map::new();
    for k in exposed
        .map(|e| e.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let k = if k.contains('/') {
            k
        } else {
            format!("{k}/tcp")
        };
        m.insert(k, Value::Null);
    }
    for b in bound {
        let k = format!("{}/{}", b.container_port, b.proto);
        let entry = m.entry(k).or_insert(Value::Null);
        if entry.is_null() {
            *entry = Value::Array(Vec::new());
        }
        if let Value::Array(a) = entry {
            a.push(serde_json::json!({
                "HostIp": b.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                "HostPort": b.host_port.to_string(),
            }));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::net::{TcpListener, TcpStream, UdpSocket};

    /// A port nothing holds right now (the kernel's pick, released).
    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap()
    }

    fn req(host_ip: Option<Ipv4Addr>, port: u16, proto: &str) -> PortRequest {
        PortRequest {
            container_port: 80,
            proto: proto.into(),
            host_ip,
            host_ports: (port, port),
        }
    }

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    #[test]
    fn requests_and_allocation() {
        let fixed = free_port();
        let b = json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": fixed.to_string()}], "53/udp": [{"HostIp": "", "HostPort": ""}]});
        let mut exposed = BTreeMap::new();
        exposed.insert("443/tcp".to_string(), json!({}));
        let r = requests(Some(&b), Some(&exposed), true).unwrap();
        assert_eq!(r.len(), 3);
        let (got, held) = allocate(&r, &[]).unwrap();
        let web = got.iter().find(|g| g.container_port == 80).unwrap();
        assert_eq!(
            (web.host_ip, web.host_port),
            (Some(Ipv4Addr::LOCALHOST), fixed)
        );
        assert!(got.iter().all(|g| g.host_port != 0));
        assert!(held.len() >= 3, "{held:?}");
        let web_req: Vec<_> = r
            .iter()
            .filter(|x| x.container_port == 80)
            .cloned()
            .collect();
        let again = allocate(&web_req, &got).unwrap_err();
        assert_eq!(
            again.to_string(),
            format!("Bind for 127.0.0.1:{fixed} failed: port is already allocated")
        );
        let s = settings_ports(&got, Some(&exposed));
        assert_eq!(s["80/tcp"][0]["HostPort"], fixed.to_string());
        assert!(requests(Some(&json!({"80/icmp": []})), None, false).is_err());
    }

    /// While held, no other socket gets the port (not even one with SO_REUSEADDR, which std's
    /// listener sets), on any address of either family; released, it is free again.
    #[test]
    fn a_held_port_refuses_every_other_socket() {
        let p = free_port();
        let (_, held) = allocate(&[req(None, p, "tcp")], &[]).unwrap();
        assert!(TcpListener::bind(("127.0.0.1", p)).is_err());
        assert!(TcpListener::bind(("0.0.0.0", p)).is_err());
        if held.len() == 2 {
            assert!(TcpListener::bind(("::1", p)).is_err());
        }
        // Another protocol's port of the same number is another port.
        drop(UdpSocket::bind(("127.0.0.1", p)).unwrap());
        drop(held);
        drop(TcpListener::bind(("127.0.0.1", p)).unwrap());

        let (_, held) = allocate(&[req(Some(Ipv4Addr::LOCALHOST), p, "udp")], &[]).unwrap();
        assert!(UdpSocket::bind(("127.0.0.1", p)).is_err());
        assert!(UdpSocket::bind(("0.0.0.0", p)).is_err());
        drop(held);
        drop(UdpSocket::bind(("0.0.0.0", p)).unwrap());
    }

    #[test]
    fn taken_ports_are_refused_in_dockerds_words() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        let e = allocate(&[req(Some(Ipv4Addr::LOCALHOST), p, "tcp")], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Error starting userland proxy: listen tcp4 127.0.0.1:{p}: bind: address already in use"
            )
        );
        let e = allocate(&[req(None, p, "tcp")], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Error starting userland proxy: listen tcp4 0.0.0.0:{p}: bind: address already in use"
            )
        );
        let u = UdpSocket::bind("0.0.0.0:0").unwrap();
        let q = u.local_addr().unwrap().port();
        let e = allocate(&[req(None, q, "udp")], &[]).unwrap_err();
        assert!(
            e.to_string().ends_with(&format!(
                "listen udp4 0.0.0.0:{q}: bind: address already in use"
            )),
            "{e}"
        );
        // Published by another container at the same address: the allocator's answer; at an
        // overlapping one, the kernel's (as dockerd: its allocator keys by the address).
        let r = free_port();
        let (mine, _held) = allocate(&[req(None, r, "tcp")], &[]).unwrap();
        let e = allocate(&[req(None, r, "tcp")], &mine).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Bind for 0.0.0.0:{r} failed: port is already allocated")
        );
        let e = allocate(&[req(Some(Ipv4Addr::LOCALHOST), r, "tcp")], &mine).unwrap_err();
        assert!(reserve::in_use(&e), "{e}");
    }

    /// A server's connections lingering in TIME_WAIT do not keep its port from being published.
    #[test]
    fn time_wait_does_not_block_a_port() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        let c = TcpStream::connect(("127.0.0.1", p)).unwrap();
        let (a, _) = l.accept().unwrap();
        drop(a); // the server closes first: its side goes to TIME_WAIT
        drop(c);
        drop(l);
        let (_, held) = allocate(&[req(Some(Ipv4Addr::LOCALHOST), p, "tcp")], &[]).unwrap();
        assert!(TcpListener::bind(("127.0.0.1", p)).is_err());
        drop(held);
    }

    #[test]
    fn random_and_ranged_ports_are_held_and_distinct() {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        let mut it = range.split_whitespace().map(|n| n.parse::<u16>().unwrap());
        let (lo, hi) = (it.next().unwrap(), it.next().unwrap());
        let any = PortRequest {
            container_port: 80,
            proto: "tcp".into(),
            host_ip: None,
            host_ports: (0, 0),
        };
        let (got, _held) = allocate(&vec![any; 20], &[]).unwrap();
        let mut ports: Vec<u16> = got.iter().map(|b| b.host_port).collect();
        assert!(ports.iter().all(|p| (lo..=hi).contains(p)), "{ports:?}");
        for p in &ports {
            assert!(
                TcpListener::bind(("127.0.0.1", *p)).is_err(),
                "{p} is not held"
            );
        }
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 20);

        // A range skips what a host process holds.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        let ranged = PortRequest {
            host_ports: (p, p.saturating_add(40)),
            host_ip: Some(Ipv4Addr::LOCALHOST),
            ..req(None, 0, "tcp")
        };
        let (got, _held) = allocate(&[ranged], &[]).unwrap();
        assert!(
            got[0].host_port > p && got[0].host_port <= p + 40,
            "{got:?}"
        );
    }

    /// Thousands of publish/release cycles leave no socket behind: each fixed-port cycle would
    /// fail on the previous one's socket, and the process's descriptors stay where they were.
    #[test]
    fn reservations_do_not_leak() {
        let p = free_port();
        let before = open_fds();
        for _ in 0..3000 {
            let (_, held) = allocate(&[req(None, p, "tcp"), req(None, p, "udp")], &[]).unwrap();
            assert!(!held.is_empty());
        }
        let any = PortRequest {
            host_ports: (0, 0),
            ..req(Some(Ipv4Addr::LOCALHOST), 0, "udp")
        };
        for _ in 0..2000 {
            allocate(std::slice::from_ref(&any), &[]).unwrap();
        }
        // Other tests of this binary open descriptors meanwhile: a leak would be thousands.
        let after = open_fds();
        assert!(
            after < before + 64,
            "{before} descriptors before, {after} after"
        );
        drop(TcpListener::bind(("0.0.0.0", p)).unwrap());
    }
}
