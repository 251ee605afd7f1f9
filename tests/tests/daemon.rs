//! The daemon itself: API skeleton, version negotiation, error bodies, side-by-side daemons,
//! exclusive roots and sockets, clean shutdown.

use std::path::Path;

use pouch_e2e::{Daemon, bin};

#[test]
fn ping_version_and_info() {
    let d = Daemon::start();
    for method in ["GET", "HEAD"] {
        let r = d.http(method, "/_ping", b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Api-Version"), Some("1.47"));
        assert_eq!(r.header("Ostype"), Some("linux"));
        assert_eq!(r.header("Docker-Experimental"), Some("false"));
        if method == "GET" {
            assert_eq!(r.text(), "OK");
        }
    }
    let v = d.http("GET", "/v1.47/version", b"").json();
    assert_eq!(v["ApiVersion"], "1.47");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(v["Os"], "linux");
    let info = d.http("GET", "/info", b"").json();
    assert_eq!(info["Images"], 0);
    assert_eq!(info["Driver"], "overlay2");
    assert_eq!(info["DockerRootDir"], d.root.display().to_string());
    assert!(info["NCPU"].as_i64().unwrap() >= 1);
    assert!(info["MemTotal"].as_i64().unwrap() > 0);
    assert!(matches!(info["CgroupVersion"].as_str(), Some("1" | "2")));
    assert_eq!(info["CgroupDriver"], "cgroupfs");
    assert!(info["Runtimes"]["pouch"].is_object());
    assert_eq!(info["DefaultRuntime"], "pouch");
    assert_eq!(
        info["KernelVersion"].as_str().unwrap(),
        String::from_utf8_lossy(
            &std::process::Command::new("uname")
                .arg("-r")
                .output()
                .unwrap()
                .stdout
        )
        .trim()
    );
}

#[test]
fn versions_outside_the_supported_range_and_unknown_paths_get_docker_errors() {
    let d = Daemon::start();
    let r = d.http("GET", "/v1.99/version", b"");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "client version 1.99 is too new. Maximum supported API version is 1.47"
    );
    let r = d.http("GET", "/v1.12/version", b"");
    assert_eq!(r.status, 400);
    assert!(
        r.message()
            .contains("is too old. Minimum supported API version is 1.24"),
        "{}",
        r.text()
    );
    assert_eq!(d.http("GET", "/v1.24/version", b"").status, 200);
    let r = d.http("GET", "/no/such/thing", b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "page not found");
    assert_eq!(r.header("Api-Version"), Some("1.47"));
    let r = d.http("GET", "/images/json?filters=%7Bbroken", b"");
    assert_eq!(r.status, 400);
    assert!(r.message().contains("invalid filter"), "{}", r.text());
}

#[test]
fn two_daemons_side_by_side_and_exclusive_roots_and_sockets() {
    let a = Daemon::start();
    let b = Daemon::start();
    let images = pouch_e2e::test_images();
    a.pouch_ok(&[
        "load",
        "-i",
        images.join("busybox-docker.tar").to_str().unwrap(),
    ]);
    assert_eq!(
        a.http("GET", "/images/json", b"")
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        b.http("GET", "/images/json", b"")
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // Same root, other socket: refused because the root is locked.
    let other_sock = a.dir.path().join("other.sock");
    // A second pouchd on these paths, run until it exits.
    let config = a.dir.path().join("config.json");
    let pouchd = |root: &Path, exec_root: &Path, host: &str| {
        std::process::Command::new(bin("pouchd"))
            .arg("--root")
            .arg(root)
            .arg("--exec-root")
            .arg(exec_root)
            .arg("-H")
            .arg(host)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = pouchd(
        &a.root,
        &a.dir.path().join("exec2"),
        &format!("unix://{}", other_sock.display()),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another pouchd is already using the root"),
        "{err}"
    );
    assert!(!other_sock.exists());

    // Other root, same socket: refused because a live daemon answers there.
    let out = pouchd(
        &b.dir.path().join("root2"),
        &b.dir.path().join("exec2"),
        &a.host(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another daemon is already serving"), "{err}");
    assert_eq!(a.http("GET", "/_ping", b"").status, 200);
}

#[test]
fn sigterm_shuts_down_cleanly_and_a_restart_keeps_state() {
    let mut d = Daemon::start();
    let images = pouch_e2e::test_images();
    d.pouch_ok(&[
        "load",
        "-i",
        images.join("busybox-docker.tar").to_str().unwrap(),
    ]);
    let pidfile = d.exec_root.join("pouchd.pid");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        d.pid().to_string()
    );
    let mode = std::fs::metadata(&d.sock)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap();
    assert_eq!(mode, 0o660);
    assert_eq!(d.stop(), Some(0));
    assert!(!d.sock.exists(), "socket left behind");
    assert!(!pidfile.exists(), "pid file left behind");
    d.spawn(&[]).unwrap();
    let list = d.http("GET", "/images/json", b"").json();
    assert_eq!(list[0]["RepoTags"][0], "busybox:latest");
}

#[test]
fn bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, r#"{"root": "/x", "bogus-key": 1}"#).unwrap();
    let out = std::process::Command::new(bin("pouchd"))
        .arg("--config")
        .arg(&cfg)
        .arg("-H")
        .arg(format!("unix://{}/s.sock", dir.path().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not valid") && err.contains("bogus-key"),
        "{err}"
    );
}

#[test]
fn info_tells_what_the_host_lacks_and_how_to_fix_it() {
    let d =
        pouch_e2e::Daemon::start_with_config(r#"{"lxcfs": "/nonexistent/lxcfs"}"#, &[]).unwrap();
    let info = d.http("GET", "/info", b"").json();
    let checks = info["HostChecks"].as_array().unwrap();
    let by = |n: &str| checks.iter().find(|c| c["Name"] == n).unwrap().clone();
    assert_eq!(by("overlayfs")["Ok"], true);
    let lx = by("lxcfs");
    assert_eq!(lx["Ok"], false);
    assert_eq!(lx["Fix"], "apt-get install lxcfs");
    let text = d.pouch_ok(&["system", "info"]);
    assert!(text.contains(" Host Checks:"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("lxcfs") && l.contains("MISSING")),
        "{text}"
    );
    assert!(text.contains("fix: apt-get install lxcfs"), "{text}");
}

/// Reaps a child when dropped, so a failed assertion does not leave the zombie behind.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.wait();
    }
}

/// The one-letter state of `pid` from `/proc/<pid>/status` (`Z` for a zombie).
fn proc_state(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .and_then(|s| s.split_whitespace().next())
        .map(str::to_owned)
}

#[test]
fn restart_after_kill9_comes_up_while_the_old_pouchd_is_an_unreaped_zombie() {
    let mut d = Daemon::start();
    let pidfile = d.exec_root.join("pouchd.pid");
    // This test is the old pouchd's parent and does not wait for it: it stays a zombie, with
    // its pid and its name still in /proc, and its pid still in the pid file.
    let old = Reap(d.kill9_unreaped());
    let pid = old.0.id();
    d.wait_for(10, "the killed pouchd to become a zombie", || {
        proc_state(pid).as_deref() == Some("Z")
    });
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "pouchd"
    );
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string()
    );

    d.spawn(&[])
        .unwrap_or_else(|e| panic!("restart over a zombie's pid file failed: {e}"));
    assert_eq!(d.http("GET", "/_ping", b"").status, 200);
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        d.pid().to_string()
    );
    // The new daemon came up while the old one was still unreaped.
    assert_eq!(proc_state(pid).as_deref(), Some("Z"));
    drop(old);
    assert_eq!(proc_state(pid), None, "the zombie was not reaped");
}
