//! A small rtnetlink client: just the link, address and route requests a bridge network needs
//! (bridges, veth pairs, macvlan children, moving a peer into a namespace, addresses, default
//! routes). Messages are `netlink-packet-route`'s typed ones, sent over a `netlink-sys` socket
//! (the crates libcontainer already links). Requests are synchronous and acknowledged, so an
//! error names the request that failed.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
    MacVlanMode,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::Socket;
use netlink_sys::protocols::NETLINK_ROUTE;

/// The longest interface name the kernel takes (`IFNAMSIZ` less the NUL).
const IFNAME_MAX: usize = 15;

/// An open rtnetlink socket, bound to the network namespace of the thread that opened it.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        Ok(Netlink { socket, seq: 1 })
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        req.finalize();
        let mut buf = vec![0u8; req.buffer_len()];
        req.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        Ok(self.seq)
    }

    /// Receives until the reply to `seq` arrives: `Ok(Some(msg))` for a message, `Ok(None)` for
    /// an acknowledgement, the kernel's error otherwise.
    fn reply(&mut self, seq: u32) -> io::Result<Option<RouteNetlinkMessage>> {
        let mut buf = vec![0u8; 65536];
        loop {
            let n = self.socket.recv(&mut &mut buf[..], 0)?;
            let mut at = 0;
            while at < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[at..n])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = msg.header.length as usize;
                if len == 0 {
                    break;
                }
                at += (len + 3) & !3;
                if msg.header.sequence_number != seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(None),
                            Some(_) => Err(e.to_io()),
                        };
                    }
                    NetlinkPayload::InnerMessage(m) => return Ok(Some(m)),
                    NetlinkPayload::Done(_) => return Ok(None),
                    _ => {}
                }
            }
        }
    }

    /// Sends a request and waits for its acknowledgement.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        let seq = self.send(msg, flags | NLM_F_ACK)?;
        self.reply(seq).map(|_| ())
    }

    /// The index of the link called `name`, if there is one.
    pub fn index(&mut self, name: &str) -> io::Result<Option<u32>> {
        if name.is_empty() || name.len() > IFNAME_MAX {
            return Ok(None); // no link can carry it; the kernel would truncate it
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        let seq = self.send(RouteNetlinkMessage::GetLink(m), 0)?;
        match self.reply(seq) {
            Ok(Some(RouteNetlinkMessage::NewLink(l))) => Ok(Some(l.header.index)),
            Ok(_) => Err(io::Error::other(format!(
                "no link message in the reply for {name}"
            ))),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a bridge; an existing link of that name is an `AlreadyExists` error.
    pub fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.extend(mtu.map(LinkAttribute::Mtu));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.create(m)
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
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        p.attributes.push(LinkAttribute::NetNsFd(peer_ns));
        p.attributes
            .extend(peer_mac.map(|m| LinkAttribute::Address(m.to_vec())));
        p.attributes.extend(mtu.map(LinkAttribute::Mtu));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.extend(mtu.map(LinkAttribute::Mtu));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.create(m)
    }

    /// Creates a macvlan child of link `parent` (an index in this namespace) directly inside the
    /// namespace `ns` (an open nsfs file) as `name`. `mode`: 1 private, 2 vepa, 4 bridge,
    /// 8 passthru.
    pub fn add_macvlan(
        &mut self,
        name: &str,
        parent: u32,
        mode: u32,
        ns: RawFd,
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    ) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::Link(parent));
        m.attributes.push(LinkAttribute::NetNsFd(ns));
        m.attributes
            .extend(mac.map(|m| LinkAttribute::Address(m.to_vec())));
        m.attributes.extend(mtu.map(LinkAttribute::Mtu));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::from(mode),
            )])),
        ]));
        self.create(m)
    }

    fn create(&mut self, link: LinkMessage) -> io::Result<()> {
        self.request(
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Sets a link up, and optionally its master (a bridge) and MTU.
    pub fn set_link(
        &mut self,
        index: u32,
        master: Option<u32>,
        mtu: Option<u32>,
    ) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.extend(master.map(LinkAttribute::Controller));
        m.attributes.extend(mtu.map(LinkAttribute::Mtu));
        self.request(RouteNetlinkMessage::NewLink(m), 0)
    }

    /// Deletes a link by name; a missing link is not an error (teardown is idempotent).
    pub fn del_link(&mut self, name: &str) -> io::Result<()> {
        if name.is_empty() || name.len() > IFNAME_MAX {
            return Ok(()); // no link can carry it
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::DelLink(m), 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r,
        }
    }

    /// Adds (or keeps) an IPv4 address with its prefix length on a link.
    pub fn add_addr(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let bits = u32::from(addr);
        let bcast = if prefix >= 31 {
            bits
        } else {
            bits | (u32::MAX >> prefix)
        };
        let mut m = address(AddressFamily::Inet, index, prefix);
        m.attributes.push(AddressAttribute::Local(addr.into()));
        m.attributes.push(AddressAttribute::Address(addr.into()));
        m.attributes
            .push(AddressAttribute::Broadcast(Ipv4Addr::from(bcast)));
        self.replace(RouteNetlinkMessage::NewAddress(m))
    }

    /// Adds an IPv6 address, usable at once (no duplicate address detection: the addresses
    /// come from our own IPAM).
    pub fn add_addr6(&mut self, index: u32, addr: Ipv6Addr, prefix: u8) -> io::Result<()> {
        let mut m = address(AddressFamily::Inet6, index, prefix);
        m.header.flags = AddressHeaderFlags::Nodad;
        m.attributes.push(AddressAttribute::Local(addr.into()));
        m.attributes.push(AddressAttribute::Address(addr.into()));
        self.replace(RouteNetlinkMessage::NewAddress(m))
    }

    /// Adds the default route through `gateway` on link `index`.
    pub fn add_default_route(&mut self, index: u32, gateway: Ipv4Addr) -> io::Result<()> {
        let mut m = default_route(AddressFamily::Inet, index, gateway.into());
        m.attributes.insert(
            0,
            RouteAttribute::Destination(RouteAddress::Inet(Ipv4Addr::UNSPECIFIED)),
        );
        self.replace(RouteNetlinkMessage::NewRoute(m))
    }

    /// Adds the IPv6 default route through `gateway` on link `index`.
    pub fn add_default_route6(&mut self, index: u32, gateway: Ipv6Addr) -> io::Result<()> {
        let m = default_route(AddressFamily::Inet6, index, gateway.into());
        self.replace(RouteNetlinkMessage::NewRoute(m))
    }

    fn replace(&mut self, msg: RouteNetlinkMessage) -> io::Result<()> {
        self.request(msg, NLM_F_CREATE | NLM_F_REPLACE)
    }
}

fn address(family: AddressFamily, index: u32, prefix: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family;
    m.header.prefix_len = prefix;
    m.header.scope = AddressScope::Universe;
    m.header.index = index;
    m
}

/// A unicast route to everything in the main table through `gateway` on link `index`.
fn default_route(family: AddressFamily, index: u32, gateway: IpAddr) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family;
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Boot;
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    m.attributes
        .push(RouteAttribute::Gateway(RouteAddress::from(gateway)));
    m.attributes.push(RouteAttribute::Oif(index));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    /// The veth request nests the peer's link message, with its name and namespace, inside
    /// IFLA_LINKINFO/IFLA_INFO_DATA/VETH_INFO_PEER, and decodes back to the same message.
    #[test]
    fn veth_request_round_trips() {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName("eth0".into()));
        p.attributes.push(LinkAttribute::NetNsFd(7));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName("vp0".into()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewLink(m.clone()));
        req.finalize();
        let mut buf = vec![0u8; req.buffer_len()];
        req.serialize(&mut buf);
        assert_eq!(req.header.length as usize, buf.len());
        assert_eq!(m.buffer_len() + 16, buf.len());
        let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf).unwrap();
        assert_eq!(
            back.payload,
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m))
        );
    }

    #[test]
    fn finds_loopback_and_not_a_missing_link() {
        let mut nl = Netlink::open().unwrap();
        assert_eq!(nl.index("lo").unwrap(), Some(1));
        assert_eq!(nl.index("pouchnosuch0").unwrap(), None);
        assert_eq!(nl.index("a-name-longer-than-ifnamsiz").unwrap(), None);
        nl.del_link("pouchnosuch0").unwrap();
    }
}
