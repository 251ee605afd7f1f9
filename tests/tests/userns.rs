//! `--userns-remap`: root in the container is an unprivileged host uid from /etc/subuid; image
//! layers are idmapped (no copies), volumes belong to the remapped root, `--userns host` opts
//! out, and privileged containers must opt out.

use pouch_e2e::{Daemon, out};

/// The range pouchd uses for `default`: dockremap's line in /etc/subuid (added on first use).
fn dockremap_start() -> u32 {
    let text = std::fs::read_to_string("/etc/subuid").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("dockremap:"))
        .and_then(|r| r.split(':').next())
        .and_then(|s| s.parse().ok())
        .expect("dockremap range in /etc/subuid")
}

fn host_uid(pid: u64) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap()
}

#[test]
fn remapped_root_is_unprivileged_on_the_host() {
    let runtimes = if std::path::Path::new("/usr/bin/runc").exists() {
        r#"{"runtimes": {"runc": {"path": "/usr/bin/runc"}}}"#
    } else {
        "{}"
    };
    let d = Daemon::start_with_config(runtimes, &["--userns-remap", "default"]).unwrap();
    d.load_busybox();
    let base = dockremap_start();
    let opts = d.security_options();
    assert!(opts.iter().any(|o| o == "name=userns"), "{opts:?}");

    let mut rts = vec!["pouch"];
    if runtimes != "{}" {
        rts.push("runc");
    }
    for rt in rts {
        let id = d.pouch_ok(&[
            "run",
            "-d",
            "--runtime",
            rt,
            "-v",
            "remapvol:/v",
            "busybox",
            "sh",
            "-c",
            "echo data > /v/f && echo x > /upper-file && sleep 300",
        ]);
        let id = id.trim();
        let pid = d.inspect(id)["State"]["Pid"].as_u64().unwrap();
        // Seen from the host, the container's root is the remapped uid.
        assert_eq!(host_uid(pid), base, "{rt}");
        let got = d.pouch_ok(&[
            "exec",
            id,
            "sh",
            "-c",
            "id -u; tr -s ' ' < /proc/self/uid_map; ls -ln /bin/busybox | awk '{print $3}'",
        ]);
        assert_eq!(got, format!("0\n 0 {base} 65536\n0\n"), "{rt}");
        // Exec'd processes join the user namespace too, with docker's capabilities, as any user.
        let caps = d.pouch_ok(&["exec", id, "grep", "CapEff", "/proc/self/status"]);
        assert_eq!(caps, "CapEff:\t00000000a80425fb\n", "{rt}");
        let got = d.pouch_ok(&[
            "exec",
            "-u",
            "65534",
            id,
            "sh",
            "-c",
            "id -u; sleep 5 & echo $!",
        ]);
        let mut lines = got.lines();
        assert_eq!(lines.next(), Some("65534"), "{rt}");
        // The network namespace belongs to the container's user namespace: the runtime mounts
        // its own sysfs (only its interfaces) and sets docker's network sysctls.
        let got = d.pouch_ok(&[
            "exec",
            id,
            "sh",
            "-c",
            "ls /sys/class/net; cat /proc/sys/net/ipv4/ip_unprivileged_port_start",
        ]);
        assert_eq!(got, "eth0\nlo\n0\n", "{rt}");
        // Root inside may edit the files pouch provides and bind low ports.
        d.pouch_ok(&[
            "exec",
            id,
            "sh",
            "-c",
            "echo '10.9.9.9 extra' >> /etc/hosts",
        ]);
        d.pouch_ok(&["exec", "-d", id, "httpd", "-p", "80", "-h", "/"]);
        d.wait_for(10, "httpd on port 80 inside the remapped container", || {
            out(&d.pouch(&["exec", id, "wget", "-qO-", "http://127.0.0.1:80/v/f"])).0 == "data\n"
        });
        // Volume files belong to the remapped root on the host.
        let v = d.http("GET", "/volumes/remapvol", b"").json();
        let f = std::path::Path::new(v["Mountpoint"].as_str().unwrap()).join("f");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&f).unwrap().uid(), base, "{rt}");
        d.pouch_ok(&["rm", "-f", id]);
        d.pouch_ok(&["volume", "rm", "remapvol"]);
    }
    // Nothing stays pinned.
    let pins = std::fs::read_dir(d.exec_root.join("userns"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(pins, 0);

    // On the host's network the container does not own the namespace: /sys is the host's.
    let got = d.pouch_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "sh",
        "-c",
        "id -u; grep -c ' /sys ' /proc/mounts",
    ]);
    assert_eq!(got, "0\n1\n");

    // Opting out, and privileged containers.
    let map = d.pouch_ok(&[
        "run",
        "--rm",
        "--userns",
        "host",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ]);
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    let (_, se, code) = out(&d.pouch(&["run", "--rm", "--privileged", "busybox", "true"]));
    assert_eq!(code, Some(125));
    assert!(
        se.contains("privileged mode is incompatible with user namespaces"),
        "{se}"
    );
    d.pouch_ok(&[
        "run",
        "--rm",
        "--privileged",
        "--userns",
        "host",
        "busybox",
        "true",
    ]);
    let (_, se, code) = out(&d.pouch(&["run", "--rm", "--userns", "private", "busybox", "true"]));
    assert_eq!(code, Some(125));
    assert!(se.contains("invalid USER mode"), "{se}");
}

#[test]
fn unknown_remap_user_is_refused_at_start() {
    let r = Daemon::start_with(&["--userns-remap", "no-such-user-pouch"]);
    let err = r.err().expect("pouchd must refuse");
    assert!(
        err.contains("no subordinate uid range for no-such-user-pouch"),
        "{err}"
    );
}
