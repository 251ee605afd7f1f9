//! The embedded DNS server of a user-defined network under a flood of lookups it must forward:
//! pouchd's open file descriptors stay bounded while the upstream resolver never answers, and
//! the network's own names (and names the upstream does answer) still resolve meanwhile.
//!
//! pouchd forwards to the nameservers of the host's `/etc/resolv.conf`. So that the test owns
//! that resolver without touching the host, pouchd runs in a network namespace the test made,
//! where the test puts those addresses on `lo` and listens on them itself.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pouch_e2e::Daemon;

/// Concurrent lookup loops in the container; each keeps one `nslookup` (an A and an AAAA
/// query) waiting on the embedded DNS server at all times.
const LOOKUPS: usize = 200;

/// How far pouchd's descriptor count may rise over its idle count during the flood: the
/// forwarder's own sockets plus the connections of the `exec` that checks local names.
const FD_MARGIN: usize = 64;

/// A network namespace pinned at a path, unpinned on drop (it then ends with its last process).
struct Netns(PathBuf);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = pouch_sys::netns::remove(&self.0);
    }
}

/// The one name the test's resolver answers (A [`ANSWERED_IP`]); it never answers any other.
const ANSWERED: &[u8] = b"\x08answered\x07example\x00";
const ANSWERED_IP: [u8; 4] = [192, 0, 2, 7];

/// A UDP resolver that reads queries and counts them; it answers only [`ANSWERED`].
struct SilentResolver {
    received: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl SilentResolver {
    fn start(socks: Vec<UdpSocket>) -> SilentResolver {
        let received = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = socks
            .into_iter()
            .map(|s| {
                let (received, stop) = (received.clone(), stop.clone());
                s.set_read_timeout(Some(Duration::from_millis(200)))
                    .expect("read timeout");
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1500];
                    while !stop.load(Ordering::Relaxed) {
                        if let Ok((n, from)) = s.recv_from(&mut buf) {
                            received.fetch_add(1, Ordering::Relaxed);
                            if let Some(r) = answer_known(&buf[..n]) {
                                let _ = s.send_to(&r, from);
                            }
                        }
                    }
                })
            })
            .collect();
        SilentResolver {
            received,
            stop,
            threads,
        }
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for SilentResolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The reply to a query for [`ANSWERED`]: its A record, or no records for other types.
fn answer_known(q: &[u8]) -> Option<Vec<u8>> {
    let end = 12 + ANSWERED.len();
    if q.len() < end + 4 || !q[12..end].eq_ignore_ascii_case(ANSWERED) {
        return None;
    }
    let mut r = q[..end + 4].to_vec();
    r[2] = 0x81;
    r[3] = 0x80;
    r[6..12].copy_from_slice(&[0; 6]);
    if q[end..end + 2] == [0, 1] {
        r[7] = 1;
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&ANSWERED_IP);
    }
    Some(r)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| rd.count())
        .expect("read pouchd's /proc/<pid>/fd")
}

/// The IPv4 nameservers of the host's resolv.conf: where pouchd forwards.
fn host_nameservers() -> Vec<Ipv4Addr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse().ok())
        .collect()
}

/// In the namespace at `ns`: `lo` up, each of `addrs` on it, and a socket bound on port 53 of
/// each (returned; sockets keep the namespace they were made in).
fn silent_upstreams(ns: &Path, addrs: Vec<Ipv4Addr>) -> Vec<UdpSocket> {
    pouch_sys::netns::run_in(ns, move || {
        let ip = |args: &[&str]| -> std::io::Result<()> {
            let st = Command::new("ip").args(args).status()?;
            st.success()
                .then_some(())
                .ok_or_else(|| std::io::Error::other(format!("ip {args:?}: {st}")))
        };
        ip(&["link", "set", "lo", "up"])?;
        let mut socks = Vec::new();
        for a in addrs {
            if !a.is_loopback() {
                ip(&["addr", "add", &format!("{a}/32"), "dev", "lo"])?;
            }
            socks.push(UdpSocket::bind((a, 53))?);
        }
        Ok(socks)
    })
    .expect("set up the test's upstream resolver in its network namespace")
}

#[test]
fn lookup_flood_keeps_pouchd_fds_bounded_while_names_still_resolve() {
    let servers = host_nameservers();
    if servers.is_empty() {
        eprintln!("SKIP: /etc/resolv.conf names no IPv4 nameserver, so pouchd forwards nowhere");
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let pin = scratch.path().join("netns");
    pouch_sys::netns::create(&pin).expect("create a network namespace for pouchd");
    let _ns = Netns(pin.clone());
    let upstream = SilentResolver::start(silent_upstreams(&pin, servers));
    // pouchd (and through it every shim and container) lives in that namespace.
    let d = pouch_sys::netns::run_in(&pin, || {
        Daemon::start_with(&[]).map_err(std::io::Error::other)
    })
    .expect("start pouchd in the test's network namespace");
    d.load_busybox();
    d.pouch_ok(&["network", "create", "flood"]);
    for name in ["web", "flood"] {
        d.pouch_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "flood",
            "busybox",
            "sleep",
            "300",
        ]);
    }
    let net = d.inspect("web")["NetworkSettings"]["Networks"]["flood"].clone();
    let web_ip = net["IPAddress"]
        .as_str()
        .expect("web's address")
        .to_string();
    let gateway = net["Gateway"]
        .as_str()
        .expect("the network's gateway")
        .to_string();

    let pid = d.pid();
    let idle = open_fds(pid);
    // Every loop asks the embedded server (the gateway) only, for a name it must forward.
    let script = format!(
        "for i in $(seq {LOOKUPS}); do \
           (while :; do nslookup host$i.flood.invalid {gateway} >/dev/null 2>&1; done) & \
         done; wait"
    );
    d.pouch_ok(&["exec", "-d", "flood", "sh", "-c", &script]);

    let mut peak = idle;
    // Polled, not slept on: a short pause between samples leaves the cores to the flood.
    let mut sample = || {
        peak = peak.max(open_fds(pid));
        std::thread::sleep(Duration::from_millis(5));
        peak
    };
    // In flight: the upstream has seen a query from (nearly) every loop, several times over.
    let deadline = Instant::now() + Duration::from_secs(60);
    while upstream.received() < 3 * LOOKUPS {
        assert!(
            Instant::now() < deadline,
            "the upstream saw only {} forwarded queries in 60s\n{}",
            upstream.received(),
            d.log()
        );
        sample();
    }
    // The network's own names answer while the flood goes on.
    let before = upstream.received();
    let got = d.pouch_ok(&["exec", "web", "nslookup", "web", &gateway]);
    assert!(
        got.contains(&web_ip),
        "web did not resolve to {web_ip}: {got}"
    );
    // Names the upstream knows still come back through the forwarder.
    let got = d.pouch_ok(&["exec", "web", "nslookup", "answered.example", &gateway]);
    assert!(
        got.contains("192.0.2.7"),
        "answered.example was not forwarded: {got}"
    );
    // ...and the flood was still going on after those answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    while upstream.received() < before + 2 * LOOKUPS {
        assert!(Instant::now() < deadline, "the flood stopped\n{}", d.log());
        sample();
    }
    let peak = sample();
    eprintln!(
        "pouchd fds: idle {idle}, peak {peak} during the flood ({} queries forwarded)",
        upstream.received()
    );
    assert!(
        peak <= idle + FD_MARGIN,
        "pouchd's open descriptors rose from {idle} to {peak} while {LOOKUPS} lookups were \
         in flight: the forwarder's descriptors are not bounded"
    );
    d.pouch_ok(&["rm", "-f", "flood", "web"]);
}
