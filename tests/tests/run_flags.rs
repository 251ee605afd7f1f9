//! `docker run` flags that shape the OCI spec, checked from inside the container.

use pouch_e2e::{Daemon, docker_daemon, out};

fn sh(d: &Daemon, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    let (so, se, code) = out(&d.docker(&args));
    assert_eq!(code, Some(0), "{flags:?} {script}: {so} {se}");
    so.trim().to_string()
}

#[test]
fn spec_flags_take_effect_inside_the_container() {
    let Some(d) = docker_daemon() else { return };
    assert_eq!(
        sh(
            &d,
            &["--sysctl", "net.ipv4.ip_forward=1"],
            "cat /proc/sys/net/ipv4/ip_forward"
        ),
        "1"
    );
    assert_eq!(
        sh(
            &d,
            &["--ulimit", "nofile=1024:2048"],
            "ulimit -n; ulimit -Hn"
        ),
        "1024\n2048"
    );
    assert_eq!(
        sh(
            &d,
            &["--shm-size", "16m"],
            "df -k /dev/shm | tail -1 | awk '{print $2}'"
        ),
        "16384"
    );
    assert_eq!(
        sh(
            &d,
            &["--read-only"],
            "touch /x 2>/dev/null && echo wrote || echo refused"
        ),
        "refused"
    );
    assert_eq!(
        sh(&d, &["--hostname", "box1"], "hostname; cat /etc/hostname"),
        "box1\nbox1"
    );
    assert_eq!(
        sh(
            &d,
            &["--device", "/dev/null:/dev/mynull"],
            "echo hi > /dev/mynull && echo ok"
        ),
        "ok"
    );
    // Capabilities: docker's default set (0xa80425fb), minus a dropped one, all with --privileged.
    let capeff = |flags: &[&str]| sh(&d, flags, "grep CapEff /proc/self/status | cut -f2");
    assert_eq!(capeff(&[]), "00000000a80425fb");
    assert_eq!(capeff(&["--cap-drop", "NET_RAW"]), "00000000a80405fb");
    assert_ne!(capeff(&["--privileged"]), "00000000a80425fb");
    assert_eq!(
        sh(
            &d,
            &[],
            "mkdir -p /tmp/m; mount -t tmpfs t /tmp/m 2>/dev/null && echo mounted || echo denied"
        ),
        "denied"
    );
    assert_eq!(
        sh(
            &d,
            &["--privileged"],
            "mkdir -p /tmp/m; mount -t tmpfs t /tmp/m && echo mounted"
        ),
        "mounted"
    );
    // Masked paths read as empty; /proc/sys is read-only.
    assert_eq!(
        sh(&d, &[], "wc -c < /proc/timer_list 2>/dev/null || echo 0"),
        "0"
    );
    assert_eq!(
        sh(
            &d,
            &[],
            "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo wrote || echo ro"
        ),
        "ro"
    );
    // Host namespaces.
    let host_pid1 = sh(&d, &["--pid", "host"], "cat /proc/1/comm");
    assert_eq!(
        host_pid1,
        std::fs::read_to_string("/proc/1/comm").unwrap().trim()
    );
    assert_eq!(sh(&d, &[], "cat /proc/1/comm; true"), "sh");
    // Joining another container's IPC namespace.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ipc-owner",
        "busybox",
        "sleep",
        "1000",
    ]);
    let owner = d.inspect("ipc-owner")["State"]["Pid"].as_i64().unwrap();
    let want = std::fs::read_link(format!("/proc/{owner}/ns/ipc"))
        .unwrap()
        .display()
        .to_string();
    assert_eq!(
        sh(
            &d,
            &["--ipc", "container:ipc-owner"],
            "readlink /proc/self/ns/ipc"
        ),
        want
    );
}

/// Identity as docker gives it (the expected lines are what dockerd 20.10 printed for the same
/// commands on the same image): the primary group is a supplementary group too, a given group
/// replaces the member groups, and a domain name makes the hostname fully qualified.
#[test]
fn user_groups_and_domainname_as_docker() {
    let Some(d) = docker_daemon() else {
        return;
    };
    for (user, want) in [
        ("1000", "uid=1000(user) gid=1000(user) groups=1000(user)"),
        ("user", "uid=1000(user) gid=1000(user) groups=1000(user)"),
        ("1000:10", "uid=1000(user) gid=10 groups=10"),
        ("0:10", "uid=0(root) gid=10 groups=10"),
        ("4242", "uid=4242 gid=0(root) groups=0(root)"),
    ] {
        let got = d.docker_ok(&["run", "--rm", "-u", user, "busybox", "id"]);
        assert_eq!(got.trim(), want, "-u {user}");
    }
    let got = d.docker_ok(&[
        "run",
        "--rm",
        "--hostname",
        "h1",
        "--domainname",
        "d.lan",
        "busybox",
        "sh",
        "-c",
        "hostname -f; tail -n 1 /etc/hosts",
    ]);
    let mut lines = got.lines();
    assert_eq!(lines.next(), Some("h1.d.lan"), "{got}");
    let hosts = lines.next().unwrap_or_default();
    assert!(hosts.ends_with("\th1.d.lan h1"), "{got}");
}

/// `Cmd: []` means "the image's Cmd", exactly like `null` (docker's merge; SDKs and pouch 1.3's
/// CLI send it), and `Entrypoint: []` still takes the image's Cmd.
#[test]
fn an_empty_cmd_takes_the_images_like_null() {
    let d = Daemon::start();
    d.load_busybox();
    for (i, body) in [
        r#"{"Image":"busybox","Cmd":[]}"#,
        r#"{"Image":"busybox","Cmd":null}"#,
        r#"{"Image":"busybox","Entrypoint":[]}"#,
    ]
    .iter()
    .enumerate()
    {
        let r = d.http(
            "POST",
            &format!("/containers/create?name=c{i}"),
            body.as_bytes(),
        );
        assert_eq!(r.status, 201, "{body}: {}", r.text());
        let c = d.inspect(&format!("c{i}"));
        assert_eq!(c["Path"], "sh", "{body}");
        assert_eq!(c["Config"]["Cmd"], serde_json::json!(["sh"]), "{body}");
    }
}
