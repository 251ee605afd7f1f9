//! Published ports never take a host port from anyone: each is held (bound, never listened on)
//! by pouchd while its container runs, a port something else holds fails the start with
//! dockerd's words and leaves nothing behind, stop and exit give it back, a restarted pouchd
//! holds it again, and random host ports are ports nobody holds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pouch_e2e::{Daemon, free_port, have_docker, out};

fn nft_usable() -> bool {
    let ok = pouch_sys::nft::available();
    if !ok {
        eprintln!("SKIP: libnftables is not installed: no published ports");
    }
    ok
}

fn daemon() -> Daemon {
    let d = Daemon::start();
    d.load_busybox();
    d
}

/// Whether a host process could take `127.0.0.1:port` for TCP now.
fn host_can_bind(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// stderr and exit code of a command expected to fail.
fn fails(o: std::process::Output, what: &str) -> (String, i32) {
    let (so, se, code) = out(&o);
    assert_ne!(code, Some(0), "{what} succeeded: {so}");
    (se, code.unwrap_or(-1))
}

fn sleeper<'a>(name: &'a str, publish: &'a [&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "-d", "--name", name];
    for p in publish {
        args.extend(["-p", p]);
    }
    args.extend(["busybox", "sleep", "300"]);
    args
}

fn nft_rules(d: &Daemon) -> String {
    let table = d.config_value("nft-table");
    pouch_sys::nft::run(&format!("list table ip {}", table.as_str().unwrap())).unwrap_or_default()
}

fn netns_pins(d: &Daemon) -> usize {
    std::fs::read_dir(d.exec_root.join("netns"))
        .map(|rd| rd.count())
        .unwrap_or(0)
}

/// dockerd's message for a start that could not publish a port, without its endpoint id.
fn dockerd_says(name: &str, why: &str) -> String {
    format!(
        "Error response from daemon: driver failed programming external connectivity on \
         endpoint {name} (ID): {why}"
    )
}

/// `text` with every parenthesised 64-digit hex id (an endpoint id) written `(ID)`.
fn without_ids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('(') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let id_len = after.find(')').unwrap_or(0);
        if id_len == 64 && after[..64].bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push_str("(ID)");
            rest = &after[65..];
        } else {
            out.push('(');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn a_port_a_host_process_serves_is_refused_and_stays_the_hosts() {
    if !nft_usable() {
        return;
    }
    let d = daemon();
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = host.local_addr().unwrap().port();
    let publish = format!("127.0.0.1:{p}:80");
    let o = d.pouch(&[
        "run", "-d", "--name", "hijack", "-p", &publish, "busybox", "httpd", "-f", "-p", "80",
    ]);
    let (err, code) = fails(o, "run on a port a host process serves");
    let why = format!(
        "Error starting userland proxy: listen tcp4 127.0.0.1:{p}: bind: address already in use"
    );
    assert_eq!(code, 125, "{err}");
    assert!(
        without_ids(&err).contains(&dockerd_says("hijack", &why)),
        "{err}"
    );

    // The host's own connections still reach the host's listener.
    let server = std::thread::spawn(move || {
        let (mut s, _) = host.accept().unwrap();
        s.write_all(b"host-listener\n").unwrap();
        host
    });
    let mut c = TcpStream::connect(("127.0.0.1", p)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = String::new();
    let _ = c.read_to_string(&mut got);
    assert_eq!(got, "host-listener\n");
    let host = server.join().unwrap();

    // The start failed cleanly: created, as dockerd leaves it, and nothing published or set up.
    let st = &d.inspect("hijack")["State"];
    assert_eq!(st["Status"], "created", "{st}");
    assert_eq!(st["ExitCode"], 128, "{st}");
    assert!(st["Error"].as_str().unwrap().ends_with(&why), "{st}");
    assert!(
        !nft_rules(&d).contains(&format!("dport {p}")),
        "{}",
        nft_rules(&d)
    );
    assert_eq!(netns_pins(&d), 0);

    // UDP, and every address (`-p port:…`): the same refusal for the host's socket.
    let udp = UdpSocket::bind("0.0.0.0:0").unwrap();
    let q = udp.local_addr().unwrap().port();
    let publish_udp = format!("{q}:53/udp");
    let (err, code) = fails(
        d.pouch(&sleeper("dns", &[&publish_udp])),
        "run on a UDP port a host process holds",
    );
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains(&format!(
            "Error starting userland proxy: listen udp4 0.0.0.0:{q}: bind: address already in use"
        )),
        "{err}"
    );
    drop(udp);

    // Once the host lets go, the container starts and holds the port in its turn.
    drop(host);
    d.pouch_ok(&["start", "hijack"]);
    assert!(
        !host_can_bind(p),
        "the running container's port is not held"
    );
}

#[test]
fn a_port_another_container_publishes_is_refused() {
    if !nft_usable() {
        return;
    }
    let d = daemon();
    let p = free_port();
    let local = format!("127.0.0.1:{p}:80");
    let every = format!("{p}:80");
    d.pouch_ok(&sleeper("first", &[&local]));
    assert!(
        !host_can_bind(p),
        "a host process could take the published port"
    );
    let rules = nft_rules(&d).matches(&format!("dport {p}")).count();
    assert!(rules > 0);

    let (err, code) = fails(d.pouch(&sleeper("second", &[&local])), "second run");
    assert_eq!(code, 125, "{err}");
    let why = format!("Bind for 127.0.0.1:{p} failed: port is already allocated");
    assert!(
        without_ids(&err).contains(&dockerd_says("second", &why)),
        "{err}"
    );
    // Every address overlaps the one published: the kernel's refusal, as with dockerd.
    let (err, _) = fails(d.pouch(&sleeper("third", &[&every])), "third run");
    let why = format!(
        "Error starting userland proxy: listen tcp4 0.0.0.0:{p}: bind: address already in use"
    );
    assert!(
        without_ids(&err).contains(&dockerd_says("third", &why)),
        "{err}"
    );
    // The refused starts published nothing.
    assert_eq!(nft_rules(&d).matches(&format!("dport {p}")).count(), rules);
    for name in ["second", "third"] {
        assert_eq!(d.inspect(name)["State"]["Status"], "created");
    }
}

#[test]
fn stop_exit_and_remove_give_the_port_back() {
    if !nft_usable() {
        return;
    }
    let d = daemon();
    let p = free_port();
    let publish = format!("127.0.0.1:{p}:80");
    d.pouch_ok(&sleeper("web", &[&publish]));
    assert!(!host_can_bind(p), "the published port is not held");
    // A shim started while the port is held must not keep it (descriptors are close-on-exec).
    d.pouch_ok(&sleeper("bystander", &[]));

    d.pouch_ok(&["stop", "-t", "0", "web"]);
    assert!(host_can_bind(p), "stop did not give the port back");
    d.pouch_ok(&sleeper("next", &[&publish]));
    assert!(!host_can_bind(p));
    d.pouch_ok(&["rm", "-f", "next"]);
    assert!(host_can_bind(p), "rm -f did not give the port back");

    // An exit of its own gives it back too.
    d.pouch_ok(&["start", "web"]);
    assert!(!host_can_bind(p));
    d.pouch_ok(&["kill", "web"]);
    assert_eq!(d.pouch_ok(&["wait", "web"]).trim(), "137");
    // The record says exited a moment before the exit's network teardown ends.
    d.wait_for(20, "the exit to give the port back", || host_can_bind(p));
    d.pouch_ok(&["rm", "web"]);

    // Many short runs: each one holds the same ports again, so none may be left held, and
    // pouchd's descriptors stay where they were.
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
            .unwrap()
            .count()
    };
    let udp = format!("{p}:81/udp");
    let before = fds();
    for _ in 0..30 {
        d.pouch_ok(&[
            "run",
            "--rm",
            "-p",
            &publish,
            "-p",
            &udp,
            "-p",
            "127.0.0.1::82",
            "busybox",
            "true",
        ]);
    }
    let after = fds();
    eprintln!("pouchd descriptors: {before} before 30 runs, {after} after");
    assert!(
        after < before + 10,
        "pouchd had {before} descriptors before 30 runs and {after} after"
    );
    assert!(host_can_bind(p));
    assert!(UdpSocket::bind(("0.0.0.0", p)).is_ok());
}

#[test]
fn a_restarted_pouchd_holds_the_ports_again() {
    if !nft_usable() {
        return;
    }
    let mut d = daemon();
    let (p, q) = (free_port(), free_port());
    let (kept, lost) = (format!("127.0.0.1:{p}:80"), format!("127.0.0.1:{q}:80"));
    d.pouch_ok(&sleeper("kept", &[&kept]));
    d.pouch_ok(&sleeper("lost", &[&lost]));
    assert!(!host_can_bind(p) && !host_can_bind(q));
    d.stop();
    // While pouchd is down a host process takes one of the ports.
    let thief = TcpListener::bind(("127.0.0.1", q)).expect("the port is free while pouchd is down");
    d.spawn(&[]).unwrap();
    d.wait_for(20, "the running container's port to be held again", || {
        !host_can_bind(p)
    });
    d.wait_for(20, "the taken port to be reported", || {
        d.log()
            .lines()
            .any(|l| l.contains("taken while pouchd was down") && l.contains(&q.to_string()))
    });
    drop(thief);
    // Both containers still run and are reported with their ports.
    assert_eq!(
        d.pouch_ok(&["port", "kept"]).trim(),
        format!("80/tcp -> 127.0.0.1:{p}")
    );
    assert_eq!(d.inspect("lost")["State"]["Status"], "running");
}

/// A network namespace of this test's own, removed when dropped.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Netns {
        let run = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().expect("ip");
            assert!(st.success(), "ip {args:?}");
        };
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        run(&["netns", "add", &name]);
        let ns = Netns(name);
        run(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// `nsenter --net=…`: only the network namespace changes (`ip netns exec` would also mount
    /// a sysfs of its own over /sys, hiding the cgroup filesystems).
    fn enter(&self) -> String {
        format!("--net=/run/netns/{}", self.0)
    }

    fn exec(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(self.enter());
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A process in `ns` listening on `[::]:port` for IPv6 only (as nginx's `listen [::]:80`
/// does), until dropped.
struct V6Holder(Child);

impl V6Holder {
    fn new(ns: &Netns, port: u16) -> V6Holder {
        let script = format!(
            "import socket,sys\n\
             s=socket.socket(socket.AF_INET6)\n\
             s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,1)\n\
             s.bind(('::',{port}))\n\
             s.listen()\n\
             print('ready',flush=True)\n\
             sys.stdin.read()\n"
        );
        let mut child = ns
            .exec()
            .args(["python3", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "holder of [::]:{port} did not start");
        V6Holder(child)
    }
}

impl Drop for V6Holder {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// Random host ports (`-P`, `-p 80`) are ports nobody holds, on either address family. In a
/// namespace of its own whose ephemeral range has two ports, so that the choice is forced.
#[test]
fn random_host_ports_are_free_ones() {
    if !nft_usable() {
        return;
    }
    let ns = Netns::new(format!("pouchports{}", std::process::id()));
    let (lo, hi) = (40000u16, 40001u16);
    let st = ns
        .exec()
        .args([
            "sysctl",
            "-qw",
            &format!("net.ipv4.ip_local_port_range={lo} {hi}"),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let mut d = Daemon::start();
    d.stop();
    d.spawn_under(&["nsenter", &ns.enter()], &[]).unwrap();
    d.load_busybox();
    let chosen = |name: &str| -> u16 {
        d.inspect(name)["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
            .as_str()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no host port for {name}: {}", d.inspect(name)))
    };
    let publish_all = ["--expose", "80", "-P"];

    // Host processes hold both ports for IPv6: neither is free for a port on every address.
    let low = V6Holder::new(&ns, lo);
    let high = V6Holder::new(&ns, hi);
    let (err, code) = fails(
        d.pouch(&any_args("none", &publish_all)),
        "-P with every port held",
    );
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("all ports are allocated"), "{err}");
    drop(low);

    d.pouch_ok(&any_args("one", &["-p", "80"]));
    assert_eq!(chosen("one"), lo);
    // Now the only other port is the host's: nothing is left.
    let (err, _) = fails(
        d.pouch(&any_args("two", &publish_all)),
        "-P with every port held",
    );
    assert!(err.contains("all ports are allocated"), "{err}");
    d.pouch_ok(&["rm", "-f", "one"]);
    d.pouch_ok(&any_args("three", &publish_all));
    assert_eq!(chosen("three"), lo);
    drop(high);
    d.pouch_ok(&any_args("four", &publish_all));
    assert_eq!(chosen("four"), hi);
    drop(d);
}

fn any_args<'a>(name: &'a str, flag: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend(flag);
    args.extend(["busybox", "sleep", "300"]);
    args
}

/// The stock docker CLI against the dockerd on this host (with its config in `cfg`), when one
/// runs with busybox loaded.
fn real_docker(cfg: &Path) -> Option<impl Fn(&[&str]) -> std::process::Output + '_> {
    let sock = "/var/run/docker.sock";
    if !Path::new(sock).exists() {
        eprintln!("SKIP (comparison): no dockerd at {sock}");
        return None;
    }
    let run = move |args: &[&str]| {
        Command::new("docker")
            .env("DOCKER_CONFIG", cfg)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .args(["-H", &format!("unix://{sock}")])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("docker")
    };
    if !run(&["image", "inspect", "busybox"]).status.success() {
        eprintln!("SKIP (comparison): dockerd has no busybox image");
        return None;
    }
    Some(run)
}

/// Runs the two refused starts through `docker` and returns (stderr, exit code) of each, ids
/// removed: a port a host process serves, then one another container publishes. The CLI's
/// log lines (`time=… level=error msg="Error waiting for container: …"`) are left out: pouchd
/// answers a pending wait when a start fails, dockerd keeps it waiting (containers/start.rs,
/// not the ports' business).
fn refusals(docker: &dyn Fn(&[&str]) -> std::process::Output, tag: &str) -> Vec<(String, i32)> {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = host.local_addr().unwrap().port();
    let q = free_port();
    let (a, b, c) = (
        format!("pouch-ports-a-{tag}"),
        format!("pouch-ports-b-{tag}"),
        format!("pouch-ports-c-{tag}"),
    );
    let (on_p, on_q) = (format!("127.0.0.1:{p}:80"), format!("127.0.0.1:{q}:80"));
    let mut got = Vec::new();
    let stable = |err: &str| -> String {
        let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("time=")).collect();
        without_ids(&lines.join("\n"))
    };
    let (err, code) = fails(docker(&sleeper(&a, &[&on_p])), "docker run on a held port");
    got.push((stable(&err).replace(&p.to_string(), "P"), code));
    let o = docker(&sleeper(&b, &[&on_q]));
    assert!(o.status.success(), "{}", out(&o).1);
    let (err, code) = fails(
        docker(&sleeper(&c, &[&on_q])),
        "docker run on a published port",
    );
    got.push((stable(&err).replace(&q.to_string(), "Q"), code));
    let _ = docker(&["rm", "-f", &a, &b, &c]);
    drop(host);
    got
}

#[test]
fn the_docker_cli_shows_dockerds_words() {
    if !nft_usable() || !have_docker() {
        return;
    }
    let d = daemon();
    let tag = std::process::id().to_string();
    let ours = refusals(&|args| d.docker(args), &tag);
    let (a, c) = (
        format!("pouch-ports-a-{tag}"),
        format!("pouch-ports-c-{tag}"),
    );
    for (err, code) in &ours {
        assert_eq!(*code, 125, "{err}");
    }
    let why_a =
        "Error starting userland proxy: listen tcp4 127.0.0.1:P: bind: address already in use";
    assert!(
        ours[0].0.contains(&dockerd_says(&a, why_a)),
        "{}",
        ours[0].0
    );
    let why_c = "Bind for 127.0.0.1:Q failed: port is already allocated";
    assert!(
        ours[1].0.contains(&dockerd_says(&c, why_c)),
        "{}",
        ours[1].0
    );
    let cfg = d.dir.path().join("real-docker-config");
    if let Some(real) = real_docker(&cfg) {
        let theirs = refusals(&real, &tag);
        assert_eq!(ours, theirs, "pouchd and dockerd differ");
    }
}
