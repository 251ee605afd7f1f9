//! The embedded DNS server of a user-defined network: answers A queries for the names and
//! aliases of the network's containers and forwards everything else to the host's resolvers. It
//! listens on the network's gateway address (UDP port 53), which every member reaches directly.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// What every server answers from, shared by all of a daemon's networks: each network's names,
/// and which networks each client address belongs to. A client sees the names of all networks
/// its container is on, whichever gateway it asks (as with docker's embedded DNS).
#[derive(Debug, Default)]
pub struct Registry {
    /// network id → name → addresses (both families on dual-stack networks)
    pub names: HashMap<String, HashMap<String, Vec<IpAddr>>>,
    /// client address → its container's network ids
    pub clients: HashMap<Ipv4Addr, Vec<String>>,
}

impl Registry {
    pub fn lookup(&self, client: Ipv4Addr, name: &str) -> Option<Vec<IpAddr>> {
        let mut out: Vec<IpAddr> = Vec::new();
        for net in self.clients.get(&client)? {
            if let Some(ips) = self.names.get(net).and_then(|m| m.get(name)) {
                for ip in ips {
                    if !out.contains(ip) {
                        out.push(*ip);
                    }
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

pub type Records = Arc<RwLock<Registry>>;

/// A running server; dropping it stops it.
pub struct DnsServer {
    task: JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsServer {
    /// Binds `addr:53` and serves until dropped.
    pub async fn start(
        addr: Ipv4Addr,
        upstream: Vec<SocketAddr>,
        recs: Records,
    ) -> std::io::Result<DnsServer> {
        let sock = Arc::new(UdpSocket::bind((addr, 53)).await?);
        let upstream = Arc::new(upstream);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                let q = buf[..n].to_vec();
                let client = match peer.ip() {
                    std::net::IpAddr::V4(v4) => v4,
                    std::net::IpAddr::V6(_) => continue,
                };
                let local = answer(&q, client, &recs);
                let sock = sock.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let reply = match local {
                        Some(r) => Some(r),
                        None => forward(&q, &upstream).await.or_else(|| servfail(&q)),
                    };
                    if let Some(r) = reply {
                        let _ = sock.send_to(&r, peer).await;
                    }
                });
            }
        });
        Ok(DnsServer { task })
    }
}

/// The host's resolvers from a resolv.conf text (port 53).
pub fn upstream_from(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("nameserver"))
                .then(|| f.next())
                .flatten()
                .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .collect()
}

async fn forward(q: &[u8], upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstream {
        let bind: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(s) = UdpSocket::bind(bind).await else {
            continue;
        };
        if s.send_to(q, up).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut buf)).await
        {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

/// The question's name (lower case, no trailing dot), type, and where the question ends.
fn question(q: &[u8]) -> Option<(String, u16, usize)> {
    if q.len() < 12 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    Some((labels.join("."), qtype, i + 4))
}

/// A local answer for names we know (A records; an empty answer for their other types), or
/// `None` to forward.
fn answer(q: &[u8], client: Ipv4Addr, recs: &Records) -> Option<Vec<u8>> {
    let (name, qtype, end) = question(q)?;
    let ips = recs
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .lookup(client, &name)?;
    // A (1) and AAAA (28) get the addresses of their family; other types an empty answer.
    let ips: Vec<IpAddr> = ips
        .into_iter()
        .filter(|ip| (qtype == 1 && ip.is_ipv4()) || (qtype == 28 && ip.is_ipv6()))
        .collect();
    let mut r = Vec::with_capacity(end + 28 * ips.len());
    r.extend_from_slice(&q[0..2]);
    let rd = q[2] & 1;
    r.extend_from_slice(&[0x84 | rd, 0x80]); // response, authoritative, RD copied, RA
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&(ips.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&q[12..end]);
    for ip in ips {
        match ip {
            IpAddr::V4(v4) => {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                r.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                r.extend_from_slice(&[0xc0, 0x0c, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16]);
                r.extend_from_slice(&v6.octets());
            }
        }
    }
    Some(r)
}

fn servfail(q: &[u8]) -> Option<Vec<u8>> {
    let (_, _, end) = question(q)?;
    let mut r = q[..end].to_vec();
    r[2] = 0x80 | (q[2] & 1);
    r[3] = 0x82;
    r[6..12].copy_from_slice(&[0; 6]);
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    #[test]
    fn answers_known_names_and_forwards_others() {
        let recs: Records = Default::default();
        let me = Ipv4Addr::new(10, 0, 0, 3);
        {
            let mut r = recs.write().unwrap();
            r.names.entry("n1".into()).or_default().insert(
                "web".into(),
                vec![
                    Ipv4Addr::new(10, 0, 0, 2).into(),
                    "fd00::2".parse::<std::net::Ipv6Addr>().unwrap().into(),
                ],
            );
            r.clients.insert(me, vec!["n1".into()]);
        }
        // A client of another network does not see the name.
        assert!(answer(&query("web", 1), Ipv4Addr::new(10, 9, 0, 3), &recs).is_none());
        let r = answer(&query("WEB", 1), me, &recs).unwrap();
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(&r[r.len() - 4..], &[10, 0, 0, 2]);
        let r = answer(&query("web", 28), me, &recs).unwrap();
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(r[r.len() - 1], 2);
        let r = answer(&query("web", 16), me, &recs).unwrap();
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
        assert!(answer(&query("example.com", 1), me, &recs).is_none());
        assert_eq!(servfail(&query("x", 1)).unwrap()[3] & 0xf, 2);
        assert_eq!(
            upstream_from("# x\nnameserver 127.0.0.53\nsearch a\n"),
            vec!["127.0.0.53:53".parse().unwrap()]
        );
    }
}
