//! Published ports: docker's `PortBindings` (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`)
//! and `-P` (every exposed port on a random host port) turned into concrete bindings, with host
//! ports chosen when none or a range was asked for.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

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

/// Whether the host port is free for `proto` on `ip` (bound and released at once).
fn free(ip: Option<Ipv4Addr>, port: u16, proto: &str) -> bool {
    let ip = ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    match proto {
        "udp" => UdpSocket::bind((ip, port)).is_ok(),
        _ => TcpListener::bind((ip, port)).is_ok(),
    }
}

/// Chooses host ports: a fixed one is taken as asked; a range yields its first free port; none
/// yields a free ephemeral port. `taken` holds ports already published by this daemon.
pub fn allocate(reqs: &[PortRequest], taken: &[PortBinding]) -> Result<Vec<PortBinding>> {
    let mut out: Vec<PortBinding> = Vec::new();
    for r in reqs {
        let used = |p: u16, out: &[PortBinding]| {
            taken.iter().chain(out.iter()).any(|b| {
                b.host_port == p
                    && b.proto == r.proto
                    && (b.host_ip.is_none() || r.host_ip.is_none() || b.host_ip == r.host_ip)
            })
        };
        let port = match r.host_ports {
            (0, 0) => {
                let mut got = None;
                for _ in 0..64 {
                    let p = match r.proto.as_str() {
                        "udp" => UdpSocket::bind((r.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED), 0))
                            .and_then(|s| s.local_addr())
                            .map(|a| a.port()),
                        _ => TcpListener::bind((r.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED), 0))
                            .and_then(|s| s.local_addr())
                            .map(|a| a.port()),
                    }
                    .map_err(|e| Error::Sys(format!("choose a host port: {e}")))?;
                    if !used(p, &out) {
                        got = Some(p);
                        break;
                    }
                }
                got.ok_or_else(|| Error::Sys("no free host port".into()))?
            }
            (a, b) if a == b => {
                if used(a, &out) {
                    return Err(Error::Invalid(format!(
                        "Bind for {}:{a} failed: port is already allocated",
                        r.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
                    )));
                }
                a
            }
            (a, b) => (a..=b)
                .find(|p| !used(*p, &out) && free(r.host_ip, *p, &r.proto))
                .ok_or_else(|| Error::Invalid(format!("no free host port in the range {a}-{b}")))?,
        };
        out.push(PortBinding {
            container_port: r.container_port,
            proto: r.proto.clone(),
            host_ip: r.host_ip,
            host_port: port,
        });
    }
    Ok(out)
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

    #[test]
    fn requests_and_allocation() {
        let b = json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": [{"HostIp": "", "HostPort": ""}]});
        let mut exposed = BTreeMap::new();
        exposed.insert("443/tcp".to_string(), json!({}));
        let r = requests(Some(&b), Some(&exposed), true).unwrap();
        assert_eq!(r.len(), 3);
        let got = allocate(&r, &[]).unwrap();
        let web = got.iter().find(|g| g.container_port == 80).unwrap();
        assert_eq!(
            (web.host_ip, web.host_port),
            (Some(Ipv4Addr::LOCALHOST), 8080)
        );
        assert!(got.iter().all(|g| g.host_port != 0));
        let web_req: Vec<_> = r
            .iter()
            .filter(|x| x.container_port == 80)
            .cloned()
            .collect();
        let again = allocate(&web_req, &got);
        assert!(again.unwrap_err().to_string().contains("already allocated"));
        let s = settings_ports(&got, Some(&exposed));
        assert_eq!(s["80/tcp"][0]["HostPort"], "8080");
        assert!(requests(Some(&json!({"80/icmp": []})), None, false).is_err());
    }
}
