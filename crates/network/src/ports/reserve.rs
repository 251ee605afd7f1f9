//! Host port reservations, held the way dockerd's port allocator and userland proxy hold them:
//! for each published host address a socket bound to it and never listened on, kept by pouchd
//! while the container runs. The kernel then refuses that address to every other socket, so a
//! published port never takes over a port a host process serves, and no host process can start
//! serving a port that the firewall sends to a container.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use nix::errno::Errno;
use socket2::{Domain, Protocol, Socket, Type};

use super::PortError;

/// How many ports a search for a random one may find unusable before it gives up.
const MAX_TRIES: usize = 256;

/// Sockets bound for published host ports; dropping it releases the ports. Every socket is
/// close-on-exec, so shims and runtimes started meanwhile never inherit one.
#[derive(Debug, Default)]
pub struct Reservation {
    sockets: Vec<Socket>,
}

impl Reservation {
    /// How many sockets are held (one per address family and host address).
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Takes over the sockets of `other`.
    pub fn extend(&mut self, other: Reservation) {
        self.sockets.extend(other.sockets);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    fn parse(s: &str) -> Proto {
        match s {
            "udp" => Proto::Udp,
            "sctp" => Proto::Sctp,
            _ => Proto::Tcp,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }

    fn socket(self, domain: Domain) -> io::Result<Socket> {
        let (ty, proto) = match self {
            Proto::Tcp => (Type::STREAM, Protocol::TCP),
            Proto::Udp => (Type::DGRAM, Protocol::UDP),
            Proto::Sctp => (Type::STREAM, Protocol::from(132)),
        };
        Socket::new(domain, ty, Some(proto))
    }
}

/// Binds `addr` for `proto` without listening (an IPv6 socket only for IPv6). A fixed TCP port
/// is bound with SO_REUSEADDR, as dockerd's proxy binds it, so that connections of an earlier
/// server still in TIME_WAIT do not block it; the option is cleared once bound, so that no
/// other socket can share the port (one with SO_REUSEADDR could otherwise bind it and listen).
/// UDP never sets it: there it would let two sockets receive on one port.
fn bind(addr: SocketAddr, proto: Proto) -> io::Result<Socket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = proto.socket(domain)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    let reuse = proto == Proto::Tcp && addr.port() != 0;
    if reuse {
        s.set_reuse_address(true)?;
    }
    s.bind(&addr.into())?;
    if reuse {
        s.set_reuse_address(false)?;
    }
    Ok(s)
}

fn errno(e: &io::Error) -> Option<Errno> {
    e.raw_os_error().map(Errno::from_raw)
}

/// The kernel has no such protocol (SCTP not loaded): no socket can hold the port either.
fn unsupported(e: &io::Error) -> bool {
    matches!(
        errno(e),
        Some(Errno::EPROTONOSUPPORT | Errno::ESOCKTNOSUPPORT)
    )
}

/// The host has no IPv6: the `[::]` half of an all-addresses reservation is skipped.
fn no_ipv6(e: &io::Error) -> bool {
    matches!(
        errno(e),
        Some(Errno::EAFNOSUPPORT | Errno::EADDRNOTAVAIL | Errno::EPROTONOSUPPORT)
    )
}

pub(super) fn in_use(e: &PortError) -> bool {
    matches!(e, PortError::Bind { source, .. } if errno(source) == Some(Errno::EADDRINUSE))
}

/// A failed bind, worded as Go's `net.Listen` words it (`listen tcp4 127.0.0.1:80: bind:
/// address already in use`), which dockerd reports.
fn bind_error(addr: SocketAddr, proto: Proto, source: io::Error) -> PortError {
    let reason = match errno(&source) {
        Some(e) => {
            let d = e.desc();
            let mut c = d.chars();
            c.next()
                .map(|f| f.to_lowercase().chain(c).collect())
                .unwrap_or_default()
        }
        None => source.to_string(),
    };
    let family = if addr.is_ipv4() { "4" } else { "6" };
    PortError::Bind {
        net: format!("{}{family}", proto.name()),
        addr,
        reason,
        source,
    }
}

/// Holds `port` of `host_ip` for `proto`; `None` means every address, as dockerd publishes it:
/// `0.0.0.0` and, where the host has IPv6, `[::]`.
pub(super) fn hold(
    host_ip: Option<Ipv4Addr>,
    port: u16,
    proto: &str,
) -> Result<Reservation, PortError> {
    let proto = Proto::parse(proto);
    let mut r = Reservation::default();
    let v4 = SocketAddr::from((host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port));
    match bind(v4, proto) {
        Ok(s) => r.sockets.push(s),
        Err(e) if unsupported(&e) => return Ok(r),
        Err(e) => return Err(bind_error(v4, proto, e)),
    }
    if host_ip.is_none() {
        let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        match bind(v6, proto) {
            Ok(s) => r.sockets.push(s),
            Err(e) if no_ipv6(&e) => {}
            Err(e) => return Err(bind_error(v6, proto, e)),
        }
    }
    Ok(r)
}

/// Holds a port the kernel offers from its ephemeral range (`net.ipv4.ip_local_port_range`,
/// the range dockerd's allocator reads) on every address [`hold`] would bind, skipping the
/// ports `skip` names.
pub(super) fn hold_any(
    host_ip: Option<Ipv4Addr>,
    proto: &str,
    skip: impl Fn(u16) -> bool,
) -> Result<(u16, Reservation), PortError> {
    let p = Proto::parse(proto);
    let v4 = SocketAddr::from((host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED), 0));
    // Ports found unusable stay bound until the search ends, so the kernel offers new ones.
    let mut tried = Vec::new();
    for _ in 0..MAX_TRIES {
        let s = match bind(v4, p) {
            Ok(s) => s,
            Err(e) if errno(&e) == Some(Errno::EADDRINUSE) => break,
            Err(e) if unsupported(&e) && p != Proto::Tcp => {
                // Nothing can hold a port of this protocol: any port free for TCP will do.
                let (port, _) = hold_any(host_ip, "tcp", skip)?;
                return Ok((port, Reservation::default()));
            }
            Err(e) => return Err(bind_error(v4, p, e)),
        };
        let port = s
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.port())
            .ok_or_else(|| PortError::Sys("read the port the kernel chose".into()))?;
        if skip(port) {
            tried.push(s);
            continue;
        }
        let mut r = Reservation { sockets: vec![s] };
        if host_ip.is_none() {
            let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
            match bind(v6, p) {
                Ok(s6) => r.sockets.push(s6),
                Err(e) if no_ipv6(&e) => {}
                Err(e) if errno(&e) == Some(Errno::EADDRINUSE) => {
                    tried.extend(r.sockets);
                    continue;
                }
                Err(e) => return Err(bind_error(v6, p, e)),
            }
        }
        return Ok((port, r));
    }
    Err(PortError::AllAllocated)
}
