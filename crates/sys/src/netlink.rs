//! A small rtnetlink client: just the link, address and route requests a bridge network needs
//! (bridges, veth pairs, moving a peer into a namespace, addresses, default routes). Requests are
//! synchronous and acknowledged, so an error names the request that failed.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const NETLINK_ROUTE: i32 = 0;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_MACVLAN_MODE: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const IFF_UP: u32 = 1;
const NLA_F_NESTED: u16 = 0x8000;

/// An open rtnetlink socket, bound to the network namespace of the thread that opened it.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

/// One link from a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
    pub master: Option<i32>,
}

/// Builds one request: header, fixed part, attributes (nested ones through `nest`).
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(kind: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    fn raw(&mut self, b: &[u8]) -> &mut Msg {
        self.buf.extend_from_slice(b);
        self.pad();
        self
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    /// ifinfomsg
    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) -> &mut Msg {
        let mut b = [0u8; 16];
        b[4..8].copy_from_slice(&index.to_ne_bytes());
        b[8..12].copy_from_slice(&flags.to_ne_bytes());
        b[12..16].copy_from_slice(&change.to_ne_bytes());
        self.raw(&b)
    }

    fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Msg {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    fn str_attr(&mut self, kind: u16, s: &str) -> &mut Msg {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(kind, &d)
    }

    fn nest(&mut self, kind: u16) -> &mut Msg {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    fn end(&mut self) -> &mut Msg {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    fn finish(&mut self, seq: u32) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2) call; the returned descriptor is checked and owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: a zeroed sockaddr_nl is valid (pid 0: the kernel assigns one).
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: sa is a valid sockaddr_nl and its size is passed with it.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Netlink { fd, seq: 1 })
    }

    fn send(&mut self, m: &mut Msg) -> io::Result<u32> {
        self.seq += 1;
        let seq = self.seq;
        let b = m.finish(seq);
        // SAFETY: b is a valid buffer of b.len() bytes for the duration of the call.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), b.as_ptr().cast(), b.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(seq)
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Sends a request and waits for its acknowledgement.
    fn request(&mut self, mut m: Msg) -> io::Result<()> {
        let seq = self.send(&mut m)?;
        let mut buf = vec![0u8; 16384];
        loop {
            let n = self.recv(&mut buf)?;
            for (kind, mseq, payload) in messages(&buf[..n]) {
                if mseq != seq {
                    continue;
                }
                if kind == NLMSG_ERROR {
                    let code = i32::from_ne_bytes(payload[0..4].try_into().unwrap_or([0; 4]));
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-code))
                    };
                }
            }
        }
    }

    /// All links of this namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let mut m = Msg::new(RTM_GETLINK, NLM_F_DUMP);
        m.ifinfo(0, 0, 0);
        let seq = self.send(&mut m)?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = self.recv(&mut buf)?;
            for (kind, mseq, payload) in messages(&buf[..n]) {
                if mseq != seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = i32::from_ne_bytes(payload[0..4].try_into().unwrap_or([0; 4]));
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    RTM_NEWLINK if payload.len() >= 16 => {
                        let index = i32::from_ne_bytes(payload[4..8].try_into().unwrap_or([0; 4]));
                        let mut link = Link {
                            index,
                            name: String::new(),
                            master: None,
                        };
                        for (k, v) in attrs(&payload[16..]) {
                            match k {
                                IFLA_IFNAME => {
                                    link.name = String::from_utf8_lossy(
                                        v.split(|b| *b == 0).next().unwrap_or(&[]),
                                    )
                                    .into_owned()
                                }
                                IFLA_MASTER if v.len() >= 4 => {
                                    link.master = Some(i32::from_ne_bytes(
                                        v[0..4].try_into().unwrap_or([0; 4]),
                                    ))
                                }
                                _ => {}
                            }
                        }
                        out.push(link);
                    }
                    _ => {}
                }
            }
        }
    }

    /// The index of the link called `name`, if there is one.
    pub fn index(&mut self, name: &str) -> io::Result<Option<i32>> {
        Ok(self
            .links()?
            .into_iter()
            .find(|l| l.name == name)
            .map(|l| l.index))
    }

    /// Creates a bridge; an existing link of that name is an `AlreadyExists` error.
    pub fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, 0, 0).str_attr(IFLA_IFNAME, name);
        if let Some(mtu) = mtu {
            m.attr(IFLA_MTU, &mtu.to_ne_bytes());
        }
        m.nest(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "bridge")
            .end();
        self.request(m)
    }

    /// Creates a veth pair whose peer `peer` lands in the namespace `peer_ns` (an open nsfs file)
    /// with the given MAC address.
    pub fn add_veth(
        &mut self,
        name: &str,
        peer: &str,
        peer_ns: RawFd,
        peer_mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    ) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, 0, 0).str_attr(IFLA_IFNAME, name);
        if let Some(mtu) = mtu {
            m.attr(IFLA_MTU, &mtu.to_ne_bytes());
        }
        m.nest(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "veth")
            .nest(IFLA_INFO_DATA)
            .nest(VETH_INFO_PEER)
            .ifinfo(0, 0, 0)
            .str_attr(IFLA_IFNAME, peer)
            .attr(IFLA_NET_NS_FD, &peer_ns.to_ne_bytes());
        if let Some(mac) = peer_mac {
            m.attr(IFLA_ADDRESS, &mac);
        }
        if let Some(mtu) = mtu {
            m.attr(IFLA_MTU, &mtu.to_ne_bytes());
        }
        m.end().end().end();
        self.request(m)
    }

    /// Creates a macvlan child of link `parent` (an index in this namespace) directly inside the
    /// namespace `ns` (an open nsfs file) as `name`. `mode`: 1 private, 2 vepa, 4 bridge,
    /// 8 passthru.
    pub fn add_macvlan(
        &mut self,
        name: &str,
        parent: i32,
        mode: u32,
        ns: RawFd,
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    ) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, 0, 0)
            .str_attr(IFLA_IFNAME, name)
            .attr(IFLA_LINK, &parent.to_ne_bytes())
            .attr(IFLA_NET_NS_FD, &ns.to_ne_bytes());
        if let Some(mac) = mac {
            m.attr(IFLA_ADDRESS, &mac);
        }
        if let Some(mtu) = mtu {
            m.attr(IFLA_MTU, &mtu.to_ne_bytes());
        }
        m.nest(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "macvlan")
            .nest(IFLA_INFO_DATA)
            .attr(IFLA_MACVLAN_MODE, &mode.to_ne_bytes())
            .end()
            .end();
        self.request(m)
    }

    /// Sets a link up, and optionally its master (a bridge) and MTU.
    pub fn set_link(
        &mut self,
        index: i32,
        master: Option<i32>,
        mtu: Option<u32>,
    ) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK);
        m.ifinfo(index, IFF_UP, IFF_UP);
        if let Some(master) = master {
            m.attr(IFLA_MASTER, &master.to_ne_bytes());
        }
        if let Some(mtu) = mtu {
            m.attr(IFLA_MTU, &mtu.to_ne_bytes());
        }
        self.request(m)
    }

    /// Deletes a link by name; a missing link is not an error (teardown is idempotent).
    pub fn del_link(&mut self, name: &str) -> io::Result<()> {
        let mut m = Msg::new(RTM_DELLINK, NLM_F_ACK);
        m.ifinfo(0, 0, 0).str_attr(IFLA_IFNAME, name);
        match self.request(m) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r,
        }
    }

    /// Adds (or keeps) an IPv4 address with its prefix length on a link.
    pub fn add_addr(&mut self, index: i32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        let mut h = [0u8; 8];
        h[0] = libc::AF_INET as u8;
        h[1] = prefix;
        h[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        let bits = u32::from(addr);
        let bcast = if prefix >= 31 {
            bits
        } else {
            bits | (u32::MAX >> prefix)
        };
        m.raw(&h)
            .attr(IFA_LOCAL, &addr.octets())
            .attr(IFA_ADDRESS, &addr.octets())
            .attr(IFA_BROADCAST, &Ipv4Addr::from(bcast).octets());
        self.request(m)
    }

    /// Adds the default route through `gateway` on link `index`.
    pub fn add_default_route(&mut self, index: i32, gateway: Ipv4Addr) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        // family, dst_len, src_len, tos, table main, protocol boot, scope universe, unicast
        let h = [libc::AF_INET as u8, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0];
        m.raw(&h)
            .attr(RTA_DST, &[0, 0, 0, 0])
            .attr(RTA_GATEWAY, &gateway.octets())
            .attr(RTA_OIF, &(index as u32).to_ne_bytes());
        self.request(m)
    }

    /// Adds an IPv6 address, usable at once (no duplicate address detection: the addresses
    /// come from our own IPAM).
    pub fn add_addr6(&mut self, index: i32, addr: Ipv6Addr, prefix: u8) -> io::Result<()> {
        const IFA_F_NODAD: u8 = 0x02;
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        let mut h = [0u8; 8];
        h[0] = libc::AF_INET6 as u8;
        h[1] = prefix;
        h[2] = IFA_F_NODAD;
        h[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        m.raw(&h)
            .attr(IFA_LOCAL, &addr.octets())
            .attr(IFA_ADDRESS, &addr.octets());
        self.request(m)
    }

    /// Adds the IPv6 default route through `gateway` on link `index`.
    pub fn add_default_route6(&mut self, index: i32, gateway: Ipv6Addr) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
        let h = [libc::AF_INET6 as u8, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0];
        m.raw(&h)
            .attr(RTA_GATEWAY, &gateway.octets())
            .attr(RTA_OIF, &(index as u32).to_ne_bytes());
        self.request(m)
    }
}

/// Splits a receive buffer into (type, seq, payload) messages.
fn messages(mut b: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 16 {
        let len = u32::from_ne_bytes(b[0..4].try_into().unwrap_or([0; 4])) as usize;
        if len < 16 || len > b.len() {
            break;
        }
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap_or([0; 4]));
        out.push((kind, seq, &b[16..len]));
        let adv = (len + 3) & !3;
        b = &b[adv.min(b.len())..];
    }
    out
}

/// Splits attributes into (type, value).
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((u16::from_ne_bytes([b[2], b[3]]) & 0x3fff, &b[4..len]));
        let adv = (len + 3) & !3;
        b = &b[adv.min(b.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_carry_their_length() {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK);
        m.ifinfo(0, 0, 0)
            .nest(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "veth")
            .end();
        let b = m.finish(7).to_vec();
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        let a = attrs(&b[32..]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].0, IFLA_LINKINFO);
        assert_eq!(attrs(a[0].1), vec![(IFLA_INFO_KIND, &b"veth\0"[..])]);
    }

    #[test]
    fn lists_loopback() {
        let mut nl = Netlink::open().unwrap();
        assert!(nl.index("lo").unwrap().is_some());
    }
}
