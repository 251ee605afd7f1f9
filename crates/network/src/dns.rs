//! The embedded DNS server of a user-defined network: answers A queries for the names and
//! aliases of the network's containers and forwards everything else to the host's resolvers. It
//! listens on the network's gateway address (UDP port 53), which every member reaches directly.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{OnceCell, Semaphore, oneshot};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

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

/// Forwarded queries one server keeps waiting on upstreams at once (docker's resolver allows
/// the same number); more are answered SERVFAIL at once.
const MAX_IN_FLIGHT: usize = 1024;
/// How long one upstream has to answer before the next one is asked.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// Upstream sockets per address family, opened on first use and shared by all forwarded queries.
const UPSTREAM_SOCKETS: usize = 4;
/// At most one "saturated" warning per interval, however many queries are refused.
const LOG_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_in_flight: usize,
    timeout: Duration,
}

/// A running server; dropping it stops it, with every forwarded query it has in flight.
///
/// Whatever its clients send, a server holds a fixed set of descriptors: its listening socket
/// and at most [`UPSTREAM_SOCKETS`] upstream sockets per address family. Forwarded queries go
/// out under a fresh random id on one of those sockets, and a reply is taken only from the
/// address the query was sent to, with that id and the same question; anything else is
/// dropped. At most [`MAX_IN_FLIGHT`] queries wait on upstreams at once; local names are
/// answered whatever that count.
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
        let sock = UdpSocket::bind((addr, 53)).await?;
        let limits = Limits {
            max_in_flight: MAX_IN_FLIGHT,
            timeout: UPSTREAM_TIMEOUT,
        };
        Ok(DnsServer::serve(sock, upstream, recs, limits))
    }

    fn serve(
        sock: UdpSocket,
        upstream: Vec<SocketAddr>,
        recs: Records,
        limits: Limits,
    ) -> DnsServer {
        let fwd = Forwarder::new(upstream, limits.timeout);
        let task = tokio::spawn(serve_loop(
            Arc::new(sock),
            Arc::new(fwd),
            recs,
            limits.max_in_flight,
        ));
        DnsServer { task }
    }
}

async fn serve_loop(
    sock: Arc<UdpSocket>,
    fwd: Arc<Forwarder>,
    recs: Records,
    max_in_flight: usize,
) {
    // Forwarded queries belong to this task: aborting it ends them, and with the last of them
    // the forwarder and its sockets.
    let mut tasks = JoinSet::new();
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let mut refused = Refused::default();
    let mut buf = vec![0u8; 1500];
    loop {
        while tasks.try_join_next().is_some() {}
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let IpAddr::V4(client) = peer.ip() else {
            continue;
        };
        let q = &buf[..n];
        // Only queries: a response sent here is never forwarded.
        if n < 12 || q[2] & 0x80 != 0 {
            continue;
        }
        let Some((_, _, end)) = question(q) else {
            let _ = sock.send_to(&formerr(q), peer).await;
            continue;
        };
        if let Some(r) = answer(q, client, &recs) {
            let _ = sock.send_to(&r, peer).await;
            continue;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused.note(sock.local_addr().ok(), max_in_flight);
            let _ = sock.send_to(&servfail(q, end), peer).await;
            continue;
        };
        let (q, sock, fwd) = (q.to_vec(), sock.clone(), fwd.clone());
        tasks.spawn(async move {
            let reply = {
                // The slot is free again before the client hears back.
                let _slot = slot;
                fwd.forward(&q, end).await
            };
            let reply = reply.unwrap_or_else(|| servfail(&q, end));
            let _ = sock.send_to(&reply, peer).await;
        });
    }
}

/// Queries answered SERVFAIL because the server was saturated, reported at most once per
/// [`LOG_INTERVAL`].
#[derive(Default)]
struct Refused {
    last_report: Option<Instant>,
    since: u64,
}

impl Refused {
    fn note(&mut self, server: Option<SocketAddr>, max_in_flight: usize) {
        self.since += 1;
        if self.last_report.is_none_or(|t| t.elapsed() >= LOG_INTERVAL) {
            tracing::warn!(
                server = ?server,
                max_in_flight,
                refused = self.since,
                "embedded DNS: too many forwarded queries waiting on upstream resolvers; \
                 answering SERVFAIL until some finish (is a container flooding lookups?)"
            );
            self.last_report = Some(Instant::now());
            self.since = 0;
        }
    }
}

/// The upstream side of a server: the resolvers, in order, and the sockets that reach them,
/// opened on the first query a family needs (a network that never forwards holds none).
struct Forwarder {
    upstream: Vec<SocketAddr>,
    /// IPv4 and IPv6 sockets.
    pools: [OnceCell<Vec<Arc<Upstream>>>; 2],
    /// The tasks reading replies on those sockets, ended with the forwarder.
    readers: Mutex<Vec<AbortHandle>>,
    timeout: Duration,
    /// Keyed hashing of a counter: unpredictable ids and socket choices without a new crate.
    rng: RandomState,
    seq: AtomicU64,
}

impl Forwarder {
    fn new(upstream: Vec<SocketAddr>, timeout: Duration) -> Forwarder {
        Forwarder {
            upstream,
            pools: Default::default(),
            readers: Default::default(),
            timeout,
            rng: RandomState::new(),
            seq: AtomicU64::new(0),
        }
    }

    /// The sockets that reach upstreams of `to`'s family, opened (with their readers) on first
    /// use. A family whose sockets cannot be opened stays without, after one warning.
    async fn pool(&self, to: SocketAddr) -> &[Arc<Upstream>] {
        let (cell, any): (_, SocketAddr) = if to.is_ipv4() {
            (&self.pools[0], (Ipv4Addr::UNSPECIFIED, 0).into())
        } else {
            (&self.pools[1], (Ipv6Addr::UNSPECIFIED, 0).into())
        };
        cell.get_or_init(|| async {
            let mut pool = Vec::with_capacity(UPSTREAM_SOCKETS);
            for _ in 0..UPSTREAM_SOCKETS {
                match UdpSocket::bind(any).await {
                    Ok(sock) => {
                        let up = Arc::new(Upstream {
                            sock,
                            pending: Default::default(),
                        });
                        let reader = tokio::spawn(up.clone().read_replies());
                        lock(&self.readers).push(reader.abort_handle());
                        pool.push(up);
                    }
                    Err(e) => {
                        tracing::warn!(bind = %any, error = %e,
                            "embedded DNS: cannot open a socket to the upstream resolvers");
                        break;
                    }
                }
            }
            pool
        })
        .await
    }

    fn random(&self) -> u64 {
        self.rng.hash_one(self.seq.fetch_add(1, Ordering::Relaxed))
    }

    /// The first useful reply of the upstreams, asked in order, carrying the client's id. A
    /// silent upstream is left after the timeout; SERVFAIL or REFUSED is kept only if no later
    /// upstream does better.
    async fn forward(&self, q: &[u8], end: usize) -> Option<Vec<u8>> {
        let mut fallback = None;
        for &to in &self.upstream {
            let pool = self.pool(to).await;
            if pool.is_empty() {
                continue;
            }
            let r = self.random();
            let up = &pool[(r >> 32) as usize % pool.len()];
            let Some(mut reply) = up.ask(q, end, to, r, self.timeout).await else {
                continue;
            };
            reply[0..2].copy_from_slice(&q[0..2]);
            match reply[3] & 0x0f {
                2 | 5 => fallback = Some(reply),
                _ => return Some(reply),
            }
        }
        fallback
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        for r in lock(&self.readers).drain(..) {
            r.abort();
        }
    }
}

/// One upstream socket and the queries waiting on it, by the id they were sent under.
struct Upstream {
    sock: UdpSocket,
    pending: Mutex<HashMap<u16, Pending>>,
}

struct Pending {
    /// Where the query went: the only address a reply is taken from.
    to: SocketAddr,
    /// The query's question section, which the reply must repeat.
    question: Vec<u8>,
    /// Tells this entry from a later query that reuses the id.
    token: u64,
    reply: oneshot::Sender<Vec<u8>>,
}

/// Removes a pending entry when its query is done, answered or not.
struct PendingGuard<'a> {
    up: &'a Upstream,
    id: u16,
    token: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut pending = lock(&self.up.pending);
        if pending.get(&self.id).is_some_and(|p| p.token == self.token) {
            pending.remove(&self.id);
        }
    }
}

impl Upstream {
    /// Sends `q` to `to` under a free id derived from `random` and waits up to `timeout` for
    /// the matching reply (still carrying that id).
    async fn ask(
        &self,
        q: &[u8],
        end: usize,
        to: SocketAddr,
        random: u64,
        timeout: Duration,
    ) -> Option<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut pending = lock(&self.pending);
            // A free id exists: in-flight queries are far fewer than ids.
            let mut id = random as u16;
            while pending.contains_key(&id) {
                id = id.wrapping_add(1);
            }
            pending.insert(
                id,
                Pending {
                    to,
                    question: q[12..end].to_vec(),
                    token: random,
                    reply: tx,
                },
            );
            id
        };
        let _guard = PendingGuard {
            up: self,
            id,
            token: random,
        };
        let mut out = q.to_vec();
        out[0..2].copy_from_slice(&id.to_be_bytes());
        if let Err(e) = self.sock.send_to(&out, to).await {
            tracing::debug!(upstream = %to, error = %e, "embedded DNS: forwarding failed");
            return None;
        }
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }

    async fn read_replies(self: Arc<Self>) {
        let mut buf = vec![0u8; 65535];
        loop {
            if let Ok((n, from)) = self.sock.recv_from(&mut buf).await {
                self.deliver(&buf[..n], from);
            }
        }
    }

    /// Hands `r` to the query it answers; drops it unless it is a response from the address
    /// that query went to, with its id and question.
    fn deliver(&self, r: &[u8], from: SocketAddr) {
        if r.len() < 12 || r[2] & 0x80 == 0 {
            return;
        }
        let id = u16::from_be_bytes([r[0], r[1]]);
        let mut pending = lock(&self.pending);
        let Some(p) = pending.get(&id) else {
            return;
        };
        let same_question = r
            .get(12..12 + p.question.len())
            .is_some_and(|q| q.eq_ignore_ascii_case(&p.question));
        if (p.to.ip(), p.to.port()) != (from.ip(), from.port()) || !same_question {
            tracing::debug!(from = %from, expected = %p.to, id,
                "embedded DNS: dropped a reply that does not match its query");
            return;
        }
        if let Some(p) = pending.remove(&id) {
            let _ = p.reply.send(r.to_vec());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
    // Type and class: a question cut short is no question (and nothing may slice past it).
    let tc = q.get(i..i + 4)?;
    Some((labels.join("."), u16::from_be_bytes([tc[0], tc[1]]), i + 4))
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

/// SERVFAIL for the query `q` whose question ends at `end`: its id and question, no records.
fn servfail(q: &[u8], end: usize) -> Vec<u8> {
    let mut r = q[..end].to_vec();
    r[2] = 0x80 | (q[2] & 1);
    r[3] = 0x82;
    r[6..12].copy_from_slice(&[0; 6]);
    r
}

/// FORMERR for a query whose question cannot be read: its header only.
fn formerr(q: &[u8]) -> Vec<u8> {
    let mut r = q[..12].to_vec();
    r[2] = 0x80 | (q[2] & 1);
    r[3] = 0x81;
    r[4..12].copy_from_slice(&[0; 8]);
    r
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
        let q = query("x", 1);
        let (_, _, end) = question(&q).unwrap();
        assert_eq!(servfail(&q, end)[3] & 0xf, 2);
        assert_eq!(
            upstream_from("# x\nnameserver 127.0.0.53\nsearch a\n"),
            vec!["127.0.0.53:53".parse().unwrap()]
        );
    }

    /// A server on a loopback port (the real one binds port 53 of a gateway).
    async fn loopback_server(
        upstream: Vec<SocketAddr>,
        recs: Records,
        max_in_flight: usize,
        timeout: Duration,
    ) -> (DnsServer, SocketAddr) {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let limits = Limits {
            max_in_flight,
            timeout,
        };
        (DnsServer::serve(sock, upstream, recs, limits), addr)
    }

    async fn socket() -> (UdpSocket, SocketAddr) {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let a = s.local_addr().unwrap();
        (s, a)
    }

    /// The next datagram on `s`; a deadline only so that a broken server fails the test.
    async fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = vec![0u8; 4096];
        let (n, from) = tokio::time::timeout(Duration::from_secs(20), s.recv_from(&mut buf))
            .await
            .expect("no datagram within 20s")
            .unwrap();
        buf.truncate(n);
        (buf, from)
    }

    fn with_id(mut q: Vec<u8>, id: u16) -> Vec<u8> {
        q[0..2].copy_from_slice(&id.to_be_bytes());
        q
    }

    /// An upstream's answer to `q`: one A record with `ip`.
    fn reply_to(q: &[u8], ip: [u8; 4]) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] = 0x81;
        r[3] = 0x80;
        r[6..8].copy_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&ip);
        r
    }

    fn id(m: &[u8]) -> u16 {
        u16::from_be_bytes([m[0], m[1]])
    }

    fn rcode(m: &[u8]) -> u8 {
        m[3] & 0x0f
    }

    #[tokio::test]
    async fn a_reply_counts_only_from_the_upstream_asked_with_the_id_and_question_asked() {
        let (upstream, up_addr) = socket().await;
        let (_srv, addr) = loopback_server(
            vec![up_addr],
            Records::default(),
            8,
            Duration::from_secs(60),
        )
        .await;
        let (client, _) = socket().await;
        let q = query("example.com", 1);
        client.send_to(&q, addr).await.unwrap();
        let (sent, fwd) = recv(&upstream).await;
        // Forwarded as asked, under an id of the server's choosing.
        assert_eq!(&sent[2..], &q[2..]);

        // From another address, with another id, or for another question: dropped.
        let (spoofer, _) = socket().await;
        spoofer
            .send_to(&reply_to(&sent, [6, 6, 6, 6]), fwd)
            .await
            .unwrap();
        let wrong_id = with_id(reply_to(&sent, [7, 7, 7, 7]), id(&sent) ^ 0x8000);
        upstream.send_to(&wrong_id, fwd).await.unwrap();
        let other = with_id(query("example.net", 1), id(&sent));
        upstream
            .send_to(&reply_to(&other, [8, 8, 8, 8]), fwd)
            .await
            .unwrap();
        // The genuine reply, sent last, is the first the client gets, with the client's id.
        upstream
            .send_to(&reply_to(&sent, [1, 2, 3, 4]), fwd)
            .await
            .unwrap();
        let (got, _) = recv(&client).await;
        assert_eq!(id(&got), id(&q));
        assert_eq!(rcode(&got), 0);
        assert_eq!(&got[got.len() - 4..], &[1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_saturated_server_answers_servfail_and_still_answers_its_own_names() {
        let recs: Records = Default::default();
        {
            let mut r = recs.write().unwrap();
            r.names
                .entry("n1".into())
                .or_default()
                .insert("web".into(), vec![Ipv4Addr::new(10, 0, 0, 2).into()]);
            r.clients.insert(Ipv4Addr::LOCALHOST, vec!["n1".into()]);
        }
        let (upstream, up_addr) = socket().await;
        let (_srv, addr) = loopback_server(vec![up_addr], recs, 2, Duration::from_secs(60)).await;
        let (client, _) = socket().await;
        // Two queries fill the server: the upstream holds both and answers neither yet.
        for n in 1..=2 {
            let q = with_id(query(&format!("q{n}.example.com"), 1), n);
            client.send_to(&q, addr).await.unwrap();
        }
        let (first, fwd) = recv(&upstream).await;
        recv(&upstream).await;
        // A third gets SERVFAIL at once, with its id and question.
        let q3 = with_id(query("q3.example.com", 28), 3);
        client.send_to(&q3, addr).await.unwrap();
        let (got, _) = recv(&client).await;
        assert_eq!(id(&got), 3);
        assert_eq!(rcode(&got), 2);
        assert_eq!(got[2] & 0x80, 0x80, "not a response");
        assert_eq!(u16::from_be_bytes([got[4], got[5]]), 1);
        assert_eq!(&got[12..], &q3[12..]);
        // The network's own names are answered all the same; a question cut short gets
        // FORMERR, and the server carries on.
        let cut = with_id(query("web", 1), 9);
        client.send_to(&cut[..cut.len() - 1], addr).await.unwrap();
        let (got, _) = recv(&client).await;
        assert_eq!((id(&got), rcode(&got), got.len()), (9, 1, 12));
        client
            .send_to(&with_id(query("web", 1), 4), addr)
            .await
            .unwrap();
        let (got, _) = recv(&client).await;
        assert_eq!(id(&got), 4);
        assert_eq!(&got[got.len() - 4..], &[10, 0, 0, 2]);
        // An answer frees a place: the next query is forwarded again.
        upstream
            .send_to(&reply_to(&first, [1, 1, 1, 1]), fwd)
            .await
            .unwrap();
        let (got, _) = recv(&client).await;
        assert_eq!(rcode(&got), 0);
        assert_eq!(&got[got.len() - 4..], &[1, 1, 1, 1]);
        let q5 = with_id(query("q5.example.com", 1), 5);
        client.send_to(&q5, addr).await.unwrap();
        let (sent, _) = recv(&upstream).await;
        assert_eq!(&sent[2..], &q5[2..]);
    }

    #[tokio::test]
    async fn a_silent_upstream_times_out_and_the_next_is_asked() {
        let (silent, silent_addr) = socket().await;
        let (second, second_addr) = socket().await;
        let (_srv, addr) = loopback_server(
            vec![silent_addr, second_addr],
            Records::default(),
            8,
            Duration::from_millis(300),
        )
        .await;
        let (client, _) = socket().await;
        let q = query("example.com", 1);
        client.send_to(&q, addr).await.unwrap();
        recv(&silent).await;
        let (sent, fwd) = recv(&second).await;
        second
            .send_to(&reply_to(&sent, [9, 9, 9, 9]), fwd)
            .await
            .unwrap();
        let (got, _) = recv(&client).await;
        assert_eq!(id(&got), id(&q));
        assert_eq!(&got[got.len() - 4..], &[9, 9, 9, 9]);
        // When no upstream answers, the client gets SERVFAIL rather than silence.
        let q = with_id(query("example.org", 1), 7);
        client.send_to(&q, addr).await.unwrap();
        recv(&silent).await;
        recv(&second).await;
        let (got, _) = recv(&client).await;
        assert_eq!(id(&got), 7);
        assert_eq!(rcode(&got), 2);
    }
}
