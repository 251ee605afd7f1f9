//! `docker commit`: a container's changes become a new image layer that runs here and, saved and
//! loaded, on another daemon.

use pouch_e2e::{Daemon, docker_daemon, out};

#[test]
fn commit_runs_here_and_after_save_load_elsewhere() {
    let Some(d) = docker_daemon() else { return };
    d.docker_ok(&[
        "run",
        "--name",
        "cc",
        "busybox",
        "sh",
        "-c",
        "mkdir /data && echo hello-commit > /data/hello && chmod 0640 /data/hello \
         && ln /data/hello /data/hard && rm /bin/vi && rm -rf /var \
         && mkdir /var && echo x > /var/only",
    ]);
    let id = d.docker_ok(&[
        "commit",
        "-c",
        r#"CMD ["cat","/data/hello"]"#,
        "-m",
        "my comment",
        "-a",
        "me",
        "cc",
        "committed:1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");

    let (so, se, code) = out(&d.docker(&["run", "--rm", "committed:1"]));
    assert_eq!((so.as_str(), code), ("hello-commit\n", Some(0)), "{se}");
    let (so, se, code) = out(&d.docker(&["run", "--rm", "committed:1", "ls", "/bin/vi"]));
    assert_ne!(code, Some(0), "vi still there: {so} {se}");
    let (so, _, _) = out(&d.docker(&[
        "run",
        "--rm",
        "committed:1",
        "stat",
        "-c",
        "%a %h",
        "/data/hello",
    ]));
    assert_eq!(so.trim(), "640 2");
    // /var was replaced by a fresh directory: an opaque dir hides busybox's /var/spool.
    let (so, _, _) = out(&d.docker(&["run", "--rm", "committed:1", "ls", "/var"]));
    assert_eq!(so.trim(), "only");

    let hist = d.docker_ok(&["history", "-q", "--no-trunc", "committed:1"]);
    let rows = d.docker_ok(&[
        "history",
        "--format",
        "{{.Comment}}|{{.CreatedBy}}",
        "committed:1",
    ]);
    assert_eq!(rows.lines().count(), 2, "{hist}\n{rows}");
    assert!(
        rows.lines().next().unwrap().starts_with("my comment|"),
        "{rows}"
    );
    let layers = d.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{len .RootFS.Layers}} {{.Author}} {{json .Config.Cmd}}",
        "committed:1",
    ]);
    assert_eq!(layers.trim(), r#"2 me ["cat","/data/hello"]"#);

    // The layer tar alone must be right: save it and run it on a daemon that never saw it.
    let tar = d.dir.path().join("committed.tar");
    d.docker_ok(&["save", "-o", tar.to_str().unwrap(), "committed:1"]);
    let d2 = Daemon::start();
    d2.docker_ok(&["load", "-i", tar.to_str().unwrap()]);
    let (so, se, code) = out(&d2.docker(&["run", "--rm", "committed:1"]));
    assert_eq!((so.as_str(), code), ("hello-commit\n", Some(0)), "{se}");
    let (_, _, code) = out(&d2.docker(&["run", "--rm", "committed:1", "ls", "/bin/vi"]));
    assert_ne!(code, Some(0));
    let (so, _, _) = out(&d2.docker(&["run", "--rm", "committed:1", "ls", "/var"]));
    assert_eq!(so.trim(), "only");
}

#[test]
fn commit_running_container_and_errors() {
    let Some(d) = docker_daemon() else { return };
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "rr",
        "busybox",
        "sh",
        "-c",
        "echo live > /live; sleep 300",
    ]);
    d.wait_for(10, "file written", || {
        d.docker(&["exec", "rr", "cat", "/live"]).status.success()
    });
    d.docker_ok(&["commit", "rr", "live"]);
    let st = d.docker_ok(&["inspect", "--format", "{{.State.Status}}", "rr"]);
    assert_eq!(st.trim(), "running");
    let so = d.docker_ok(&["run", "--rm", "live", "cat", "/live"]);
    assert_eq!(so, "live\n");
    // The container's command carries over.
    let cmd = d.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Cmd}}",
        "live",
    ]);
    assert_eq!(cmd.trim(), r#"["sh","-c","echo live > /live; sleep 300"]"#);
    d.docker_ok(&["rm", "-f", "rr"]);

    let r = d.http("POST", "/commit?container=nope", b"");
    assert_eq!(r.status, 404, "{}", r.text());
    d.docker_ok(&["create", "--name", "ss", "busybox"]);
    let r = d.http("POST", "/commit?container=ss&repo=Bad%20Repo", b"");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = d.http("POST", "/commit?container=ss&repo=ok&tag=bad%3Atag", b"");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = d.http(
        "POST",
        "/commit?container=ss&repo=ok&tag=1",
        br#"{"Cmd":["echo","body"]}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.json()["Id"].as_str().unwrap().starts_with("sha256:"));
    let so = d.docker_ok(&["run", "--rm", "ok:1"]);
    assert_eq!(so, "body\n");
}
