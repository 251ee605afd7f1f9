//! Hostile and broken archives: each is refused with a clear message and leaves the store exactly
//! as it was, including content that a previous good load put there.

use pouch_e2e::archives::{Entry, docker_archive, layer, oci_missing_blob};
use pouch_e2e::{Daemon, test_images};

/// Everything under the root that image loading may touch.
fn state(d: &Daemon) -> (serde_json::Value, Vec<String>, Vec<String>) {
    (
        d.http("GET", "/images/json", b"").json(),
        d.tree("snapshots"),
        d.tree("content/blobs"),
    )
}

fn refused(d: &Daemon, archive: &[u8], expect: &str) {
    let before = state(d);
    let r = d.http("POST", "/images/load", archive);
    assert_eq!(r.status, 400, "{}", r.text());
    let msg = r.message();
    assert!(
        msg.contains(expect),
        "message {msg:?} should mention {expect:?}"
    );
    assert_eq!(state(d), before, "a refused load changed the store");
    assert!(
        d.tree("tmp").is_empty(),
        "staging left behind: {:?}",
        d.tree("tmp")
    );
    assert!(
        d.tree("content/ingest").is_empty(),
        "partial blobs left behind"
    );
}

#[test]
fn layers_that_write_outside_their_root_are_refused() {
    let d = Daemon::start();
    // A good image first: a failed load must not touch what it shares with it.
    let good = std::fs::read(test_images().join("busybox-docker.tar")).unwrap();
    assert_eq!(d.http("POST", "/images/load", &good).status, 200);

    let sentinel = d.dir.path().join("sentinel");
    std::fs::create_dir(&sentinel).unwrap();
    let sentinel_s = sentinel.display().to_string();
    let busybox_layer = std::fs::read(test_images().join("rootfs.tar")).unwrap();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            layer(&[Entry::File("../escape", b"x")]),
            "../escape",
        ),
        (
            "dotdot-deep",
            layer(&[Entry::Dir("a"), Entry::File("a/../../escape", b"x")]),
            "escape",
        ),
        (
            "absolute",
            layer(&[Entry::File("/abs-escape", b"x")]),
            "/abs-escape",
        ),
        (
            "symlink-abs-then-write",
            layer(&[
                Entry::Symlink("evil", &sentinel_s),
                Entry::File("evil/pwned", b"x"),
            ]),
            "evil/pwned",
        ),
        (
            "symlink-rel-then-write",
            layer(&[
                Entry::Symlink("up", "../../../../../../.."),
                Entry::File("up/tmp/pwned", b"x"),
            ]),
            "up/tmp/pwned",
        ),
        (
            "hardlink-dotdot",
            layer(&[Entry::Hardlink("h", "../../etc/passwd")]),
            "h",
        ),
        (
            "hardlink-abs",
            layer(&[Entry::Hardlink("h", "/etc/passwd")]),
            "h",
        ),
        (
            "hardlink-through-symlink",
            layer(&[
                Entry::Symlink("etc", "/etc"),
                Entry::Hardlink("h", "etc/passwd"),
            ]),
            "h",
        ),
        (
            "device",
            layer(&[Entry::CharDevice("dev/sda", 8, 0)]),
            "dev/sda",
        ),
    ];
    for (name, bad, expect) in cases {
        eprintln!("case {name}");
        // The shared good layer comes first, so the refused load has already unpacked something.
        let archive = docker_archive(&format!("evil:{name}"), &[busybox_layer.clone(), bad], None);
        refused(&d, &archive, expect);
    }
    assert!(
        std::fs::read_dir(&sentinel).unwrap().next().is_none(),
        "a layer wrote through a symlink"
    );
    assert!(!d.dir.path().join("escape").exists() && !std::path::Path::new("/abs-escape").exists());
    // The good image is intact and still loads its layer from the store.
    let list = d.http("GET", "/images/json", b"").json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["RepoTags"][0], "busybox:latest");
}

#[test]
fn device_nodes_load_when_the_daemon_allows_them() {
    let d = Daemon::start_with(&["--allow-device-nodes"]).unwrap();
    let archive = docker_archive(
        "dev:ok",
        &[layer(&[
            Entry::Dir("dev"),
            Entry::CharDevice("dev/null2", 1, 3),
        ])],
        None,
    );
    let r = d.http("POST", "/images/load", &archive);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn digest_mismatch_truncation_and_missing_blobs_are_refused() {
    let d = Daemon::start();
    let l = layer(&[Entry::File("a", b"hello")]);
    let forged = vec![format!("sha256:{}", "0".repeat(64))];
    refused(
        &d,
        &docker_archive("bad:diffid", &[l], Some(forged)),
        "sha256:0000",
    );

    let good = std::fs::read(test_images().join("busybox-docker.tar")).unwrap();
    refused(&d, &good[..good.len() / 2], "");
    refused(&d, &good[..1000], "");

    refused(
        &d,
        &oci_missing_blob("docker.io/library/missing:1"),
        "not in the archive",
    );
    refused(&d, b"this is not a tarball at all", "");
    let r = d.http("POST", "/images/load", b"");
    assert_eq!(r.status, 400);
}

#[test]
fn a_crash_mid_load_leaves_nothing_half_made() {
    let mut d = Daemon::start();
    let good = std::fs::read(test_images().join("busybox-docker.tar")).unwrap();
    // Send half an archive and hold the connection open, then kill the daemon.
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    use std::io::Write;
    write!(
        s,
        "POST /images/load HTTP/1.1\r\nHost: pouch\r\nContent-Length: {}\r\n\r\n",
        good.len()
    )
    .unwrap();
    s.write_all(&good[..good.len() * 3 / 4]).unwrap();
    s.flush().unwrap();
    // Wait until the daemon has started staging the archive.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while d.tree("tmp").iter().all(|p| !p.contains("layer.tar")) {
        assert!(
            std::time::Instant::now() < deadline,
            "load never started: {:?}",
            d.tree("tmp")
        );
        std::thread::yield_now();
    }
    d.kill9();
    drop(s);
    d.spawn(&[]).unwrap();
    assert_eq!(
        d.http("GET", "/images/json", b"").json(),
        serde_json::json!([])
    );
    assert!(d.tree("tmp").is_empty(), "{:?}", d.tree("tmp"));
    assert!(d.tree("snapshots").is_empty(), "{:?}", d.tree("snapshots"));
    assert!(d.tree("content/blobs/sha256").is_empty());
    // And the store works: the full archive loads now.
    assert_eq!(d.http("POST", "/images/load", &good).status, 200);
}
