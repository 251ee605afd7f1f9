//! Networking end to end: the default bridge with published ports answered from the host's
//! loopback, user-defined networks with name resolution and isolation, the `host`, `none` and
//! `container:` modes, the network API/CLI, and no leaks (veths, namespaces, nft rules, leases)
//! after many containers and after `kill -9` of pouchd.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pouch_e2e::{Daemon, free_port, out};

fn ok(d: &Daemon, args: &[&str]) -> String {
    d.pouch_ok(args)
}

fn fails(d: &Daemon, args: &[&str]) -> String {
    let (so, se, code) = out(&d.pouch(args));
    assert_ne!(code, Some(0), "{args:?} succeeded: {so}");
    se
}

/// A detached busybox named `name` that sleeps for five minutes, run with `flags` (networks,
/// aliases, addresses).
fn sleeper(d: &Daemon, name: &str, flags: &[&str]) {
    let head = ["run", "-d", "--name", name];
    ok(
        d,
        &[&head[..], flags, &["busybox", "sleep", "300"]].concat(),
    );
}

/// Runs busybox `cmd` once (`--rm`) on `network` and returns its output.
fn run_on(d: &Daemon, network: &str, cmd: &[&str]) -> String {
    let head = ["run", "--rm", "--network", network, "busybox"];
    ok(d, &[&head[..], cmd].concat())
}

/// An HTTP GET over TCP; `None` until something answers.
fn http_get(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    (!buf.is_empty()).then_some(buf)
}

fn wait_http(d: &Daemon, addr: &str, want: &str) -> String {
    let mut got = String::new();
    d.wait_for(20, &format!("HTTP answer on {addr}"), || {
        got = http_get(addr).unwrap_or_default();
        got.contains(want)
    });
    got
}

/// A busybox httpd serving `body` on port 80.
fn httpd_args(body: &str) -> Vec<&str> {
    vec!["busybox", "sh", "-c", body]
}

fn httpd_script(text: &str) -> String {
    format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www")
}

fn nft_list(table: &str) -> String {
    pouch_sys::nft::run(&format!("list table ip {table}")).unwrap_or_default()
}

fn bridge_ports(bridge: &str) -> Vec<String> {
    std::fs::read_dir(Path::new("/sys/class/net").join(bridge).join("brif"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn netns_pins(d: &Daemon) -> Vec<String> {
    std::fs::read_dir(d.exec_root.join("netns"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn nft_usable() -> bool {
    let ok = pouch_sys::nft::available();
    if !ok {
        eprintln!("SKIP: libnftables is not installed: no published ports");
    }
    ok
}

#[test]
fn published_port_answers_from_the_host_loopback() {
    if !nft_usable() {
        return;
    }
    let d = Daemon::start();
    d.load_busybox();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let script = httpd_script("hello-fixed");
    let mut args = vec!["run", "-d", "--name", "web", "-p", &publish];
    args.extend(httpd_args(&script));
    ok(&d, &args);
    let got = wait_http(&d, &format!("127.0.0.1:{port}"), "hello-fixed");
    assert!(got.starts_with("HTTP/1."), "{got}");
    assert_eq!(
        ok(&d, &["port", "web"]).trim(),
        format!("80/tcp -> 127.0.0.1:{port}")
    );

    // A random host port, and -P for an exposed one: inspect reports what was chosen.
    let script2 = httpd_script("hello-random");
    let mut args = vec![
        "run",
        "-d",
        "--name",
        "web2",
        "-p",
        "127.0.0.1::80",
        "--expose",
        "8080",
        "-P",
    ];
    args.extend(httpd_args(&script2));
    ok(&d, &args);
    let v = d.inspect("web2");
    let chosen = v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
        .as_str()
        .expect("a chosen host port")
        .to_string();
    assert_ne!(chosen, "0");
    assert!(
        v["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
            .as_str()
            .is_some_and(|p| p.parse::<u16>().is_ok_and(|p| p > 0)),
        "{}",
        v["NetworkSettings"]
    );
    wait_http(&d, &format!("127.0.0.1:{chosen}"), "hello-random");
    assert!(
        nft_list(d.config_value("nft-table").as_str().unwrap()).contains(&format!("dport {port}"))
    );
    // docker's CLI reads the same data.
    let ps = d.docker_ok(&["ps", "--format", "{{.Ports}}", "--filter", "name=web2"]);
    assert!(ps.contains(&format!("127.0.0.1:{chosen}->80/tcp")), "{ps}");
    // A host port already published is refused.
    let mut args = vec!["run", "-d", "-p", &publish];
    args.extend(httpd_args(&script));
    let err = fails(&d, &args);
    assert!(err.contains("already allocated"), "{err}");
}

#[test]
fn user_network_names_resolve_and_networks_are_isolated() {
    let d = Daemon::start();
    d.load_busybox();
    ok(&d, &["network", "create", "--label", "team=a", "front"]);
    d.docker_ok(&["network", "create", "back"]);
    let ls = ok(&d, &["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for want in [
        "bridge bridge",
        "front bridge",
        "back bridge",
        "host host",
        "none null",
    ] {
        assert!(ls.contains(want), "{ls}");
    }
    sleeper(
        &d,
        "alpha",
        &["--network", "front", "--network-alias", "db"],
    );
    sleeper(&d, "beta", &["--network", "front"]);
    sleeper(&d, "gamma", &["--network", "back"]);
    for name in ["alpha", "db"] {
        let got = ok(&d, &["exec", "beta", "ping", "-c", "1", "-W", "3", name]);
        assert!(got.contains("1 packets received"), "{got}");
    }
    let ns = ok(&d, &["exec", "beta", "nslookup", "alpha"]);
    let alpha_ip = d.inspect("alpha")["NetworkSettings"]["Networks"]["front"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ns.contains(&alpha_ip), "{ns}");
    // A rename is resolved at once.
    ok(&d, &["rename", "alpha", "alpha2"]);
    let got = ok(
        &d,
        &["exec", "beta", "ping", "-c", "1", "-W", "3", "alpha2"],
    );
    assert!(got.contains("1 packets received"), "{got}");
    ok(&d, &["rename", "alpha2", "alpha"]);
    // gamma is on another network: no route through the host to alpha.
    let (so, _, code) = out(&d.pouch(&["exec", "gamma", "ping", "-c", "1", "-W", "2", &alpha_ip]));
    assert_ne!(code, Some(0), "cross-network ping succeeded: {so}");
    let (_, _, code) = out(&d.pouch(&["exec", "gamma", "nslookup", "alpha"]));
    assert_ne!(code, Some(0), "gamma resolved a name of another network");

    // connect puts gamma on front too, at once; disconnect takes it off again.
    ok(&d, &["network", "connect", "front", "gamma"]);
    let got = ok(
        &d,
        &["exec", "gamma", "ping", "-c", "1", "-W", "3", "alpha"],
    );
    assert!(got.contains("1 packets received"), "{got}");
    ok(&d, &["network", "disconnect", "front", "gamma"]);
    let ip = ok(&d, &["exec", "gamma", "ip", "-4", "-o", "addr"]);
    assert!(!ip.contains("eth1"), "{ip}");

    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let events = d
        .http(
            "GET",
            &format!(
                "/events?since=1&until={until}&filters=%7B%22type%22%3A%5B%22network%22%5D%7D"
            ),
            b"",
        )
        .text();
    let gamma = d.inspect("gamma")["Id"].as_str().unwrap().to_string();
    for action in ["create", "connect", "disconnect"] {
        assert!(
            events.contains(&format!("\"Action\":\"{action}\"")),
            "{events}"
        );
    }
    assert!(
        events.contains(&format!("\"container\":\"{gamma}\"")),
        "{events}"
    );
    assert!(!events.contains("\"Type\":\"container\""), "{events}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&d, &["network", "inspect", "front"])).unwrap();
    assert_eq!(v[0]["Labels"]["team"], "a");
    assert_eq!(v[0]["Containers"].as_object().map(|m| m.len()), Some(2));
    let err = fails(&d, &["network", "rm", "front"]);
    assert!(err.contains("active endpoints"), "{err}");
    ok(&d, &["rm", "-f", "alpha", "beta", "gamma"]);
    // The generated bridge name is not among the options (as docker); it derives from the id.
    assert!(v[0]["Options"]["com.docker.network.bridge.name"].is_null());
    let bridge = format!("pbr-{}", &v[0]["Id"].as_str().unwrap()[..11]);
    assert!(Path::new("/sys/class/net").join(&bridge).exists());
    ok(&d, &["network", "rm", "front"]);
    assert!(!Path::new("/sys/class/net").join(&bridge).exists());
    let pruned = ok(&d, &["network", "prune", "-f"]);
    assert!(pruned.contains("back"), "{pruned}");
    let err = fails(&d, &["network", "rm", "bridge"]);
    assert!(err.contains("pre-defined"), "{err}");
}

#[test]
fn addresses_aliases_dns_and_hosts_follow_the_flags() {
    let d = Daemon::start();
    d.load_busybox();
    d.docker_ok(&[
        "network",
        "create",
        "--subnet",
        "10.219.0.0/24",
        "--gateway",
        "10.219.0.254",
        "--ip-range",
        "10.219.0.128/25",
        "--internal",
        "inner",
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&d.docker_ok(&["network", "inspect", "inner"])).unwrap();
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], "10.219.0.0/24");
    assert_eq!(v[0]["IPAM"]["Config"][0]["Gateway"], "10.219.0.254");
    assert_eq!(v[0]["Internal"], true);
    let got = d.docker_ok(&[
        "run", "--rm", "--network", "inner", "--ip", "10.219.0.7", "--mac-address",
        "02:11:22:33:44:55", "--hostname", "box1", "--add-host", "extra.test:10.9.9.9",
        "--dns-search", "example.test", "busybox", "sh", "-c",
        "ip -4 -o addr show eth0; cat /sys/class/net/eth0/address; hostname; cat /etc/hosts /etc/resolv.conf",
    ]);
    assert!(got.contains("10.219.0.7/24"), "{got}");
    assert!(got.contains("02:11:22:33:44:55"), "{got}");
    assert!(got.contains("box1"), "{got}");
    assert!(got.contains("10.9.9.9\textra.test"), "{got}");
    assert!(got.contains("10.219.0.7\tbox1"), "{got}");
    assert!(got.contains("nameserver 10.219.0.254"), "{got}");
    assert!(got.contains("search example.test"), "{got}");
    let on_inner = |cmd: &[&str]| {
        let head = ["run", "--rm", "--network", "inner", "busybox"];
        d.docker_ok(&[&head[..], cmd].concat())
    };
    // Without --ip, addresses come from the range.
    let got = on_inner(&["ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(got.contains("10.219.0.128/24"), "{got}");
    // An internal network has no default route.
    let got = on_inner(&["ip", "route"]);
    assert!(!got.contains("default"), "{got}");
    // Out-of-subnet addresses and --ip on the default bridge are refused like docker.
    let (_, se, code) = out(&d.docker(&[
        "run",
        "--rm",
        "--network",
        "inner",
        "--ip",
        "10.1.1.1",
        "busybox",
        "true",
    ]));
    assert_ne!(code, Some(0));
    assert!(se.contains("does not belong"), "{se}");
    let (_, se, code) = out(&d.docker(&["run", "--rm", "--ip", "10.1.1.1", "busybox", "true"]));
    assert_ne!(code, Some(0));
    assert!(se.contains("user defined networks"), "{se}");
    // The default bridge resolves through the host's resolvers (never a loopback one).
    let got = d.docker_ok(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert!(got.contains("nameserver"), "{got}");
    assert!(!got.contains("nameserver 127."), "{got}");
}

#[test]
fn host_none_and_container_modes() {
    let d = Daemon::start();
    d.load_busybox();
    let bridge = d.bridge();
    let host = run_on(&d, "host", &["cat", "/proc/net/dev"]);
    assert!(
        host.contains(&bridge),
        "host mode does not see {bridge}: {host}"
    );
    let none = run_on(&d, "none", &["ip", "-o", "link"]);
    let links: Vec<&str> = none.lines().collect();
    assert_eq!(links.len(), 1, "{none}");
    assert!(
        links[0].contains("lo:") && links[0].contains("UP"),
        "{none}"
    );

    ok(
        &d,
        &["run", "-d", "--name", "owner", "busybox", "sleep", "300"],
    );
    let ip = d.inspect("owner")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!ip.is_empty());
    let got = run_on(
        &d,
        "container:owner",
        &["ip", "-4", "-o", "addr", "show", "eth0"],
    );
    assert!(got.contains(&format!("{ip}/")), "{got}");
    // Default bridge: the container reaches its gateway, and is in docker's inspect shape.
    let gw = d.inspect("owner")["NetworkSettings"]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    let got = ok(&d, &["exec", "owner", "ping", "-c", "1", "-W", "3", &gw]);
    assert!(got.contains("1 packets received"), "{got}");
    let net = d.docker_ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.bridge.IPAddress}}",
        "owner",
    ]);
    assert_eq!(net.trim(), ip);
}

#[test]
fn fifty_containers_and_a_kill9_leave_nothing_behind() {
    if !nft_usable() {
        return;
    }
    let mut d = Daemon::start();
    d.load_busybox();
    let bridge = d.bridge();
    let table = d.config_value("nft-table").as_str().unwrap().to_string();
    for i in 0..50 {
        let mut args = vec!["run", "--rm"];
        if i % 5 == 0 {
            args.extend(["-p", "127.0.0.1::80"]);
        }
        args.extend(["busybox", "true"]);
        ok(&d, &args);
    }
    d.wait_for(20, "no containers left", || {
        ok(&d, &["ps", "-aq"]).trim().is_empty()
    });
    // The kernel removes the veths with the namespaces, in the background.
    d.wait_for(10, "no veth left on the bridge", || {
        bridge_ports(&bridge).is_empty()
    });
    assert!(netns_pins(&d).is_empty(), "{:?}", netns_pins(&d));
    assert!(
        !nft_list(&table).contains("dnat to"),
        "{}",
        nft_list(&table)
    );
    // Leases went with their containers: the next container gets the subnet's first address.
    let net: serde_json::Value =
        serde_json::from_str(&ok(&d, &["network", "inspect", "bridge"])).unwrap();
    let gw = net[0]["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .unwrap()
        .to_string();
    let (prefix, last) = gw.rsplit_once('.').unwrap();
    let first = format!("{prefix}.{}", last.parse::<u8>().unwrap() + 1);
    let got = ok(
        &d,
        &[
            "run", "--rm", "busybox", "ip", "-4", "-o", "addr", "show", "eth0",
        ],
    );
    assert!(got.contains(&format!("{first}/")), "{got}");

    // kill -9 of pouchd with containers running; one of them dies while it is down.
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let script = httpd_script("survivor");
    let mut args = vec!["run", "-d", "--name", "keep", "-p", &publish];
    args.extend(httpd_args(&script));
    ok(&d, &args);
    let dies = ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "dies",
            "-p",
            "127.0.0.1::81",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let dies = dies.trim().to_string();
    let pid = d.inspect("dies")["State"]["Pid"].as_i64().unwrap();
    wait_http(&d, &format!("127.0.0.1:{port}"), "survivor");
    d.kill9();
    let st = Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    d.spawn(&[]).unwrap();
    d.wait_for(20, "dies to be recorded as exited", || {
        d.inspect("dies")["State"]["Status"] == "exited"
    });
    d.wait_for(10, "the dead container's veth to go", || {
        !Path::new("/sys/class/net")
            .join(format!("vp{}0", &dies[..10]))
            .exists()
    });
    assert_eq!(netns_pins(&d).len(), 1, "{:?}", netns_pins(&d));
    assert!(nft_list(&table).contains(&format!("dport {port}")));
    assert_eq!(
        nft_list(&table).matches("dnat to").count(),
        1,
        "{}",
        nft_list(&table)
    );
    wait_http(&d, &format!("127.0.0.1:{port}"), "survivor");
    // The restarted daemon never hands out an address in use.
    let keep_ip = d.inspect("keep")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let got = ok(
        &d,
        &[
            "run", "--rm", "busybox", "ip", "-4", "-o", "addr", "show", "eth0",
        ],
    );
    assert!(!got.contains(&format!("{keep_ip}/")), "{got}");
    ok(&d, &["rm", "-f", "keep", "dies"]);
    // The kernel removes the veths with the namespaces, in the background.
    d.wait_for(10, "no veth left on the bridge", || {
        bridge_ports(&bridge).is_empty()
    });
    assert!(netns_pins(&d).is_empty(), "{:?}", netns_pins(&d));
    assert!(
        !nft_list(&table).contains("dnat to"),
        "{}",
        nft_list(&table)
    );
    // A clean stop with nothing running takes the bridge and the table away.
    d.stop();
    assert!(!Path::new("/sys/class/net").join(&bridge).exists());
    assert!(nft_list(&table).is_empty());
}

#[test]
fn cni_conflist_network_through_debians_plugins() {
    let plugins = ["/usr/lib/cni", "/opt/cni/bin"]
        .into_iter()
        .find(|d| Path::new(d).join("bridge").exists());
    let Some(plugins) = plugins else {
        eprintln!("SKIP: no CNI plugins (apt-get install containernetworking-plugins)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("net.d");
    std::fs::create_dir_all(&conf).unwrap();
    let tag = &dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace('.', "")[..6];
    let bridge = format!("cni{tag}").to_ascii_lowercase();
    // The bridge is the plugin's, made for this test.
    let _guard = LinkGuard(bridge.clone());
    let ipam_dir = dir.path().join("ipam");
    std::fs::write(
        conf.join("10-cninet.conflist"),
        serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "cninet",
            "plugins": [{
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "10.218.0.0/24"}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": ipam_dir,
                },
            }],
        })
        .to_string(),
    )
    .unwrap();
    let config = serde_json::json!({
        "cni-config-dir": conf,
        "cni-bin-dir": [plugins],
    })
    .to_string();
    let d = Daemon::start_with_config(&config, &[]).unwrap();
    d.load_busybox();
    let ls = ok(&d, &["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert!(ls.contains("cninet cni"), "{ls}");
    sleeper(&d, "cn1", &["--network", "cninet"]);
    let ip = d.inspect("cn1")["NetworkSettings"]["Networks"]["cninet"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        ip.starts_with("10.218.0."),
        "{}",
        d.inspect("cn1")["NetworkSettings"]
    );
    let got = ok(
        &d,
        &["exec", "cn1", "ip", "-4", "-o", "addr", "show", "eth0"],
    );
    assert!(got.contains(&format!("{ip}/24")), "{got}");
    let got = ok(
        &d,
        &["exec", "cn1", "ping", "-c", "1", "-W", "3", "10.218.0.1"],
    );
    assert!(got.contains("1 packets received"), "{got}");
    let leases = |d: &Path| -> Vec<String> {
        std::fs::read_dir(d.join("cninet"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("10.218."))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(leases(&ipam_dir), vec![ip.clone()]);
    ok(&d, &["rm", "-f", "cn1"]);
    assert!(leases(&ipam_dir).is_empty(), "{:?}", leases(&ipam_dir));
    assert!(netns_pins(&d).is_empty());
    let err = fails(&d, &["network", "rm", "cninet"]);
    assert!(err.contains("CNI conflist"), "{err}");
}

#[test]
fn macvlan_network_on_a_parent_the_test_made() {
    let d = Daemon::start();
    d.load_busybox();
    // The parent: one end of a veth pair made for this test (never a real interface).
    let tag = &d.bridge()[2..8];
    let (pa, pb) = (format!("pmv{tag}a"), format!("pmv{tag}b"));
    let made = Command::new("ip")
        .args(["link", "add", &pa, "type", "veth", "peer", "name", &pb])
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("SKIP: cannot create a veth pair as macvlan parent");
        return;
    }
    let _guard = LinkGuard(pa.clone());
    for p in [&pa, &pb] {
        let _ = Command::new("ip").args(["link", "set", p, "up"]).status();
    }
    let subnet = "10.221.0.0/24";
    let r = d.docker(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "-o",
        &format!("parent={pa}"),
        "--subnet",
        subnet,
        "mv",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    sleeper(&d, "m1", &["--network", "mv", "--ip", "10.221.0.10"]);
    let got = run_on(
        &d,
        "mv",
        &[
            "sh",
            "-c",
            "ip -4 -o addr show eth0; ping -c 1 -W 3 10.221.0.10",
        ],
    );
    assert!(got.contains("10.221.0.2/24"), "{got}");
    assert!(got.contains("1 packets received"), "{got}");
    let err = fails(&d, &["network", "create", "-d", "macvlan", "nomv"]);
    assert!(err.contains("parent"), "{err}");
    ok(&d, &["rm", "-f", "m1"]);
    assert!(netns_pins(&d).is_empty());
    ok(&d, &["network", "rm", "mv"]);
}

/// Deletes a link the test made, also when the test fails.
struct LinkGuard(String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

#[test]
fn dual_stack_network_gives_ipv6_addresses_names_and_routes() {
    if !Path::new("/proc/sys/net/ipv6").exists() {
        eprintln!("SKIP: the kernel has no IPv6");
        return;
    }
    let d = Daemon::start();
    d.load_busybox();
    ok(
        &d,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "10.224.0.0/24",
            "--subnet",
            "fd00:224::/64",
            "ds",
        ],
    );
    sleeper(&d, "six", &["--network", "ds"]);
    let v = d.inspect("six");
    let net = &v["NetworkSettings"]["Networks"]["ds"];
    assert_eq!(net["GlobalIPv6Address"], "fd00:224::2", "{net}");
    assert_eq!(net["GlobalIPv6PrefixLen"], 64, "{net}");
    assert_eq!(net["IPv6Gateway"], "fd00:224::1", "{net}");
    let got = run_on(
        &d,
        "ds",
        &[
            "sh",
            "-c",
            "ip -6 route; ping -6 -c 1 -W 3 six; nslookup -type=aaaa six",
        ],
    );
    assert!(got.contains("default via fd00:224::1"), "{got}");
    assert!(got.contains("1 packets received"), "{got}");
    assert!(got.contains("Address: fd00:224::2"), "{got}");
    let inspect: serde_json::Value =
        serde_json::from_str(&d.docker_ok(&["network", "inspect", "ds"])).unwrap();
    assert_eq!(inspect[0]["EnableIPv6"], true);
    assert_eq!(inspect[0]["IPAM"]["Config"][1]["Subnet"], "fd00:224::/64");
    let err = fails(&d, &["network", "create", "--ipv6", "nosubnet6"]);
    assert!(err.contains("IPv6 subnet"), "{err}");
    let table = d.config_value("nft-table").as_str().unwrap().to_string();
    if pouch_sys::nft::available() {
        let l = pouch_sys::nft::run(&format!("list table ip6 {table}")).unwrap_or_default();
        assert!(l.contains("ip6 saddr fd00:224::/64"), "{l}");
    }
    ok(&d, &["rm", "-f", "six"]);
    ok(&d, &["network", "rm", "ds"]);
}

/// A bridge name that means something to nft (a quote, braces, a comment sign) is only ever a
/// matched value in pouch's rules: the network works and serves a published port; a name nft
/// cannot match literally (`@…`, a set reference) is refused.
#[test]
fn a_bridge_named_like_nft_syntax_is_only_a_value() {
    if !nft_usable() {
        return;
    }
    let d = Daemon::start();
    d.load_busybox();
    let bridge = r#"kx";}{#"#;
    let opt = format!("com.docker.network.bridge.name={bridge}");
    ok(&d, &["network", "create", "-o", &opt, "odd"]);
    assert!(Path::new("/sys/class/net").join(bridge).exists());
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let script = httpd_script("hello-odd");
    let mut args = vec!["run", "-d", "--network", "odd", "-p", &publish];
    args.extend(httpd_args(&script));
    ok(&d, &args);
    wait_http(&d, &format!("127.0.0.1:{port}"), "hello-odd");
    let err = fails(
        &d,
        &[
            "network",
            "create",
            "-o",
            "com.docker.network.bridge.name=@kset",
            "odd2",
        ],
    );
    assert!(err.contains("@kset"), "{err}");
    ok(&d, &["rm", "-f", ok(&d, &["ps", "-q"]).trim()]);
    ok(&d, &["network", "rm", "odd"]);
    assert!(!Path::new("/sys/class/net").join(bridge).exists());
}
