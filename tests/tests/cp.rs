//! `docker cp` through the stock docker CLI, and the archive API's path safety over raw HTTP.

use std::io::Read;
use std::path::Path;

use pouch_e2e::{Daemon, docker_daemon};

/// The (name, contents) of every entry of a tar.
fn tar_entries(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut ar = tar::Archive::new(body);
    let mut out = Vec::new();
    for e in ar.entries().expect("tar") {
        let mut e = e.expect("entry");
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read entry");
        out.push((name, data));
    }
    out
}

/// A tar entry with a raw name (the tar crate refuses `..` through its safe setters).
fn raw_entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    let pad = (512 - data.len() % 512) % 512;
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn finish(mut t: Vec<u8>) -> Vec<u8> {
    t.extend(std::iter::repeat_n(0u8, 1024));
    t
}

fn run_sleeper(d: &Daemon, name: &str) {
    d.docker_ok(&["run", "-d", "--name", name, "busybox", "sleep", "300"]);
}

#[test]
fn copies_files_and_directories_in_and_out_of_a_running_container() {
    let Some(d) = docker_daemon() else { return };
    run_sleeper(&d, "c1");
    let host = tempfile::tempdir().expect("tempdir");

    // Host → container.
    let src = host.path().join("hello.txt");
    std::fs::write(&src, "hello from the host\n").expect("write");
    d.docker_ok(&["cp", src.to_str().unwrap(), "c1:/tmp/"]);
    let got = d.docker_ok(&["exec", "c1", "cat", "/tmp/hello.txt"]);
    assert_eq!(got, "hello from the host\n");
    // Replacing an existing file works too.
    std::fs::write(&src, "second\n").expect("write");
    d.docker_ok(&["cp", src.to_str().unwrap(), "c1:/tmp/hello.txt"]);
    assert_eq!(
        d.docker_ok(&["exec", "c1", "cat", "/tmp/hello.txt"]),
        "second\n"
    );

    // Container → host, a directory.
    d.docker_ok(&[
        "exec",
        "c1",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo a > /data/a && echo b > /data/sub/b && ln -s a /data/l",
    ]);
    let out = host.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    d.docker_ok(&["cp", "c1:/data", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("data/a")).unwrap(), "a\n");
    assert_eq!(
        std::fs::read_to_string(out.join("data/sub/b")).unwrap(),
        "b\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("data/l")).unwrap(),
        Path::new("a")
    );

    // The stat header and 404s.
    let r = d.http("HEAD", "/containers/c1/archive?path=/data/a", b"");
    assert_eq!(r.status, 200);
    assert!(r.header("X-Docker-Container-Path-Stat").is_some());
    let r = d.http("GET", "/containers/c1/archive?path=/nope", b"");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text().contains("Could not find the file /nope"),
        "{}",
        r.text()
    );
    let r = d.http("GET", "/containers/c1/archive?path=/data/.", b"");
    assert_eq!(r.status, 200);
    let names: Vec<String> = tar_entries(&r.body).into_iter().map(|e| e.0).collect();
    // `dir/.` is the contents only, without the directory's name as prefix.
    assert!(names.contains(&"a".to_string()), "{names:?}");
    assert!(names.contains(&"sub/b".to_string()), "{names:?}");
    // Extracting into a file is refused.
    let r = d.http(
        "PUT",
        "/containers/c1/archive?path=/data/a",
        &finish(Vec::new()),
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn copies_into_a_stopped_container() {
    let Some(d) = docker_daemon() else { return };
    d.docker_ok(&["create", "--name", "c2", "busybox", "cat", "/tmp/in.txt"]);
    let host = tempfile::tempdir().expect("tempdir");
    let src = host.path().join("in.txt");
    std::fs::write(&src, "copied while stopped\n").expect("write");
    d.docker_ok(&["cp", src.to_str().unwrap(), "c2:/tmp/in.txt"]);
    let got = d.docker_ok(&["start", "-a", "c2"]);
    assert_eq!(got, "copied while stopped\n");
    // And out of the stopped container again.
    let out = host.path().join("back.txt");
    d.docker_ok(&["cp", "c2:/tmp/in.txt", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "copied while stopped\n"
    );
}

#[test]
fn hostile_put_archives_are_refused() {
    let Some(d) = docker_daemon() else { return };
    run_sleeper(&d, "c3");
    let id = d.inspect("c3")["Id"].as_str().unwrap().to_string();
    let host = tempfile::tempdir().expect("tempdir");
    let target = host.path().to_str().unwrap().to_string();

    let mut t = Vec::new();
    raw_entry(&mut t, "../escape", tar::EntryType::Regular, "", b"x");
    let r = d.http("PUT", "/containers/c3/archive?path=/", &finish(t));
    assert_eq!(r.status, 400, "{}", r.text());

    let mut t = Vec::new();
    raw_entry(
        &mut t,
        "../../../../../../escape",
        tar::EntryType::Regular,
        "",
        b"x",
    );
    let r = d.http("PUT", "/containers/c3/archive?path=/tmp", &finish(t));
    assert_eq!(r.status, 400, "{}", r.text());

    // A symlink to a host directory, then a file through it.
    let mut t = Vec::new();
    raw_entry(&mut t, "lnk", tar::EntryType::Symlink, &target, b"");
    raw_entry(&mut t, "lnk/pwned", tar::EntryType::Regular, "", b"x");
    let r = d.http("PUT", "/containers/c3/archive?path=/tmp", &finish(t));
    assert_eq!(r.status, 400, "{}", r.text());

    assert!(!host.path().join("pwned").exists());
    let cdir = d.root.join("containers").join(&id);
    assert!(!cdir.join("escape").exists());
    assert!(!d.root.join("containers/escape").exists());
    let ls = d.docker(&["exec", "c3", "ls", "/escape"]);
    assert!(!ls.status.success(), "/escape was written in the container");

    // A container symlink to the host path is interpreted inside the rootfs on PUT too.
    d.docker_ok(&["exec", "c3", "ln", "-s", &target, "/tmp/hostlink"]);
    let mut t = Vec::new();
    raw_entry(
        &mut t,
        "f",
        tar::EntryType::Regular,
        "",
        b"in the container",
    );
    let r = d.http(
        "PUT",
        "/containers/c3/archive?path=/tmp/hostlink",
        &finish(t),
    );
    // The link leads to a path that does not exist inside the container.
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(!host.path().join("f").exists());
}

#[test]
fn symlinks_in_the_container_do_not_reach_the_host() {
    let Some(d) = docker_daemon() else { return };
    run_sleeper(&d, "c4");
    // The same path on the host and in the container, with different contents.
    let host = tempfile::tempdir().expect("tempdir");
    let secret = host.path().join("secret");
    std::fs::write(&secret, "HOST\n").expect("write");
    let sp = secret.to_str().unwrap();
    let dir = host.path().to_str().unwrap();
    d.docker_ok(&[
        "exec",
        "c4",
        "sh",
        "-c",
        &format!(
            "mkdir -p {dir} && echo CONTAINER > {sp} && ln -s / /rootlink && \
             mkdir -p /a/b && ln -s ../../.. /a/b/up && echo mine > /etc/hostname"
        ),
    ]);
    for p in [
        format!("/rootlink{sp}"),
        format!("/a/b/up{sp}"),
        format!("/a/b/up/../../../..{sp}"),
    ] {
        let r = d.http("GET", &format!("/containers/c4/archive?path={p}"), b"");
        assert_eq!(r.status, 200, "{p}: {}", r.text());
        let e = tar_entries(&r.body);
        assert_eq!(e.len(), 1, "{p}");
        assert_eq!(e[0].1, b"CONTAINER\n", "{p}");
    }
    let host_hostname = std::fs::read("/etc/hostname").unwrap_or_default();
    for p in ["/rootlink/etc/hostname", "/a/b/up/etc/hostname"] {
        let r = d.http("GET", &format!("/containers/c4/archive?path={p}"), b"");
        if r.status == 200 {
            let e = tar_entries(&r.body);
            assert_eq!(e.len(), 1, "{p}");
            assert_ne!(e[0].1, host_hostname, "{p} read the host's file");
        } else {
            assert_eq!(r.status, 404, "{p}: {}", r.text());
        }
    }
    // The link itself is copied as a link, not followed.
    let r = d.http("GET", "/containers/c4/archive?path=/rootlink", b"");
    assert_eq!(r.status, 200);
    let mut ar = tar::Archive::new(&r.body[..]);
    let first = ar.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(first.header().entry_type(), tar::EntryType::Symlink);
    // And through the docker CLI.
    let out = host.path().join("via-cli");
    d.docker_ok(&["cp", &format!("c4:/rootlink{sp}"), out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "CONTAINER\n");
}
