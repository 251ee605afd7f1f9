//! Running containers through the stock docker CLI: output, exit codes, stdin, detached
//! lifecycle, signals, pause, restart policies, and docker-equivalent errors.

use pouch_e2e::{Daemon, docker_daemon, have_docker, out};

#[test]
fn run_prints_output_and_propagates_exit_codes() {
    let Some(d) = docker_daemon() else { return };
    let (so, se, code) = out(&d.docker(&["run", "--rm", "busybox", "echo", "hello"]));
    assert_eq!(
        (so.as_str(), code),
        ("hello\n", Some(0)),
        "stderr: {se}\n{}",
        d.log()
    );
    let (so, se, code) = out(&d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]));
    assert_eq!(code, Some(3), "{so} {se}");
    assert_eq!(so, "out\n");
    assert!(se.contains("err"), "{se}");
    // --rm removed them.
    assert_eq!(
        d.http("GET", "/containers/json?all=1", b"").json(),
        serde_json::json!([])
    );
    // Without --rm the container stays, exited, with its code.
    let (_, _, code) = out(&d.docker(&["run", "--name", "keep", "busybox", "sh", "-c", "exit 5"]));
    assert_eq!(code, Some(5));
    let st = d.inspect("keep");
    assert_eq!(st["State"]["Status"], "exited");
    assert_eq!(st["State"]["ExitCode"], 5);
    let ps = d.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("keep Exited (5)"), "{ps}");
}

#[test]
fn interactive_stdin_reaches_the_container() {
    let Some(d) = docker_daemon() else { return };
    let o = d.docker_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"hi there\n");
    let (so, se, code) = out(&o);
    assert_eq!((so.as_str(), code), ("hi there\n", Some(0)), "{se}");
    let o = d.docker_stdin(&["run", "-i", "--rm", "busybox", "wc", "-l"], b"a\nb\nc\n");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "3");
}

#[test]
fn detached_lifecycle_logs_stop_pause_kill_rm() {
    let Some(d) = docker_daemon() else { return };
    let id = d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    d.wait_for(10, "log line", || {
        d.docker_ok(&["logs", "web"]).contains("started")
    });
    let st = d.inspect("web");
    assert_eq!(st["State"]["Running"], true);
    let pid = st["State"]["Pid"].as_i64().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let ps = d.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}} {{.Image}}"]);
    assert!(ps.starts_with("web Up"), "{ps}");
    assert!(ps.contains("busybox"), "{ps}");

    d.docker_ok(&["pause", "web"]);
    assert_eq!(d.inspect("web")["State"]["Status"], "paused");
    let frozen = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        frozen.contains("State:\tD")
            || frozen.contains("State:\tS")
            || frozen.contains("State:\tT"),
        "{frozen}"
    );
    d.docker_ok(&["unpause", "web"]);
    assert_eq!(d.inspect("web")["State"]["Status"], "running");

    // rm of a running container needs -f.
    let o = d.docker(&["rm", "web"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("container is running"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // sleep is PID 1 without a SIGTERM handler, so the kernel drops SIGTERM and stop escalates to
    // SIGKILL after the timeout (137), as with docker.
    d.docker_ok(&["stop", "-t", "1", "web"]);
    let st = d.inspect("web");
    assert_eq!(st["State"]["Status"], "exited");
    assert_eq!(st["State"]["ExitCode"], 137);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the process outlived stop"
    );

    // Start again, kill with a signal by name, check the code.
    d.docker_ok(&["start", "web"]);
    assert_eq!(d.inspect("web")["State"]["Running"], true);
    d.docker_ok(&["kill", "-s", "SIGKILL", "web"]);
    let code = d.docker_ok(&["wait", "web"]);
    assert_eq!(code.trim(), "137");
    let o = d.docker(&["kill", "-s", "NOPE", "web"]);
    assert!(!o.status.success());

    d.docker_ok(&["rm", "web"]);
    assert!(!d.root.join("containers").join(id).exists());
    let o = d.docker(&["inspect", "web"]);
    assert!(!o.status.success());
}

#[test]
fn errors_match_docker() {
    let Some(d) = docker_daemon() else { return };
    let (_, se, code) = out(&d.docker(&["run", "--rm", "--pull", "never", "nosuchimage"]));
    assert_eq!(code, Some(125), "{se}");
    assert!(se.contains("No such image"), "{se}");
    let (_, se, code) = out(&d.docker(&["run", "--rm", "busybox", "/nonexistent"]));
    assert_eq!(code, Some(127), "{se}");
    let (_, se, code) = out(&d.docker(&["run", "--rm", "--runtime", "nope", "busybox", "true"]));
    assert_eq!(code, Some(125), "{se}");
    assert!(se.contains("unknown or invalid runtime name: nope"), "{se}");
    d.docker_ok(&["create", "--name", "dup", "busybox", "true"]);
    let (_, se, code) = out(&d.docker(&["create", "--name", "dup", "busybox", "true"]));
    assert_ne!(code, Some(0));
    assert!(se.contains("is already in use"), "{se}");
    let r = d.http("POST", "/containers/create", b"{not json");
    assert_eq!(r.status, 400);
    let r = d.http("POST", "/containers/nosuch/start", b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "No such container: nosuch");
    let r = d.http("POST", "/containers/dup/kill", b"");
    assert_eq!(r.status, 409);
}

#[test]
fn restart_policy_restarts_a_failing_container() {
    let Some(d) = docker_daemon() else { return };
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    d.wait_for(20, "two restarts", || {
        let s = d.inspect("flaky");
        s["RestartCount"] == 2 && s["State"]["Status"] == "exited"
    });
    assert_eq!(d.inspect("flaky")["State"]["ExitCode"], 1);
}

#[test]
fn a_container_cannot_raise_its_own_limits() {
    let Some(d) = docker_daemon() else { return };
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                  echo 268435456 > /sys/fs/cgroup/memory/memory.limit_in_bytes && echo RAISED; \
                  echo max > /sys/fs/cgroup/pids/pids.max && echo RAISED; \
                  cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max";
    if !std::path::Path::new("/sys/fs/cgroup/memory").exists() {
        eprintln!("SKIP: no cgroup v1 memory hierarchy on this host");
        return;
    }
    let o = d.docker(&[
        "run",
        "--rm",
        "-m",
        "64m",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let (so, se, _) = out(&o);
    assert!(
        !so.contains("RAISED"),
        "a container raised its own limit:\n{so}\n{se}"
    );
    assert!(se.contains("Read-only file system"), "{se}");
    assert_eq!(
        so.lines().collect::<Vec<_>>(),
        vec!["67108864", "67108864", "20"],
        "{so}\n{se}"
    );
}

#[test]
fn containers_survive_daemon_restarts_and_crashes() {
    let Some(mut d) = docker_daemon() else { return };
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "long",
        "busybox",
        "sh",
        "-c",
        "echo before; exec sleep 1000",
    ]);
    d.docker_ok(&["run", "-d", "--name", "victim", "busybox", "sleep", "1000"]);
    let pid = d.inspect("long")["State"]["Pid"].as_i64().unwrap();
    let victim = d.inspect("victim")["State"]["Pid"].as_i64().unwrap();

    // A crash: the container keeps running and the new daemon adopts it.
    d.kill9();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "container died with the daemon"
    );
    d.spawn(&[]).unwrap();
    let st = d.inspect("long");
    assert_eq!(st["State"]["Running"], true, "{st}");
    assert_eq!(st["State"]["Pid"], pid);
    assert!(d.docker_ok(&["logs", "long"]).contains("before"));

    // A clean stop; meanwhile one container dies.
    assert_eq!(d.stop(), Some(0));
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &victim.to_string()])
            .status()
            .unwrap()
            .success()
    );
    d.spawn(&[]).unwrap();
    d.wait_for(10, "victim recorded as exited", || {
        d.inspect("victim")["State"]["Status"] == "exited"
    });
    assert_eq!(d.inspect("victim")["State"]["ExitCode"], 137);
    // The adopted one is fully controllable.
    d.docker_ok(&["stop", "-t", "1", "long"]);
    assert_eq!(d.inspect("long")["State"]["Status"], "exited");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the process outlived stop"
    );
    d.docker_ok(&["rm", "long", "victim"]);
}

#[test]
fn events_record_the_lifecycle() {
    let Some(d) = docker_daemon() else { return };
    d.docker_ok(&["tag", "busybox", "evt:1"]);
    d.docker_ok(&["run", "--name", "ev", "busybox", "true"]);
    d.docker_ok(&["rm", "ev"]);
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let out = d.docker_ok(&[
        "events",
        "--since",
        "1",
        "--until",
        &until.to_string(),
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "image load busybox:latest",
        "image tag evt:1",
        "container create ev",
        "container start ev",
        "container die ev",
        "container destroy ev",
    ] {
        assert!(lines.contains(&want), "missing {want:?} in {lines:?}");
    }
    let pos = |w: &str| lines.iter().position(|l| *l == w).unwrap();
    assert!(
        pos("container create ev") < pos("container start ev")
            && pos("container die ev") < pos("container destroy ev")
    );
    let only = d.docker_ok(&[
        "events",
        "--since",
        "1",
        "--until",
        &until.to_string(),
        "--filter",
        "type=image",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(only.lines().collect::<Vec<_>>(), vec!["load", "tag"]);
}

#[test]
fn export_diff_and_top() {
    let Some(d) = docker_daemon() else { return };
    d.docker_ok(&[
        "run",
        "--name",
        "fs",
        "busybox",
        "sh",
        "-c",
        "echo data > /tmp/new; rm /etc/hostname.bak 2>/dev/null; echo x >> /etc/passwd; rm /bin/vi",
    ]);
    let diff = d.docker_ok(&["diff", "fs"]);
    let lines: Vec<&str> = diff.lines().collect();
    for want in ["A /tmp/new", "C /etc/passwd", "D /bin/vi"] {
        assert!(lines.contains(&want), "missing {want:?} in {lines:?}");
    }
    // Export works on a stopped container and holds the container's changes.
    let tarball = d.dir.path().join("fs.tar");
    d.docker_ok(&["export", "-o", tarball.to_str().unwrap(), "fs"]);
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&tarball).unwrap());
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        names.push(e.path().unwrap().display().to_string());
    }
    assert!(names.iter().any(|n| n.ends_with("tmp/new")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("bin/busybox")));
    assert!(
        !names.iter().any(|n| n.ends_with("bin/vi")),
        "a deleted file was exported"
    );
    assert!(
        !pouch_sys_mounted(&d, "fs"),
        "export left the rootfs mounted"
    );

    d.docker_ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "1000"]);
    let top = d.docker_ok(&["top", "busy"]);
    assert!(top.contains("sleep 1000"), "{top}");
    assert_eq!(top.lines().count(), 2, "{top}");
}

fn pouch_sys_mounted(d: &Daemon, name: &str) -> bool {
    let id = d.inspect(name)["Id"].as_str().unwrap().to_string();
    let target = d
        .root
        .join("containers")
        .join(id)
        .join("rootfs")
        .display()
        .to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(target.as_str()))
}

#[test]
fn exec_runs_processes_in_a_running_container() {
    let Some(d) = docker_daemon() else { return };
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "host",
        "-e",
        "FROM_RUN=1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let (so, se, code) = out(&d.docker(&[
        "exec",
        "host",
        "sh",
        "-c",
        "echo $FROM_RUN $X; echo oops >&2; exit 6",
    ]));
    assert_eq!(code, Some(6), "{so} {se}");
    assert_eq!(so, "1\n");
    assert!(se.contains("oops"), "{se}");
    let (so, _, code) = out(&d.docker(&[
        "exec",
        "-e",
        "X=2",
        "-w",
        "/tmp",
        "-u",
        "user",
        "host",
        "sh",
        "-c",
        "echo $X $(pwd) $(id -u)",
    ]));
    assert_eq!((so.trim(), code), ("2 /tmp 1000", Some(0)));
    let o = d.docker_stdin(&["exec", "-i", "host", "cat"], b"through exec\n");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "through exec\n");
    d.docker_ok(&[
        "exec",
        "-d",
        "host",
        "sh",
        "-c",
        "echo detached > /tmp/marker",
    ]);
    d.wait_for(10, "detached exec", || {
        d.docker(&["exec", "host", "cat", "/tmp/marker"]).stdout == b"detached\n"
    });
    let (_, se, code) = out(&d.docker(&["exec", "host", "/no/such/binary"]));
    assert_eq!(code, Some(127), "{se}");
    d.docker_ok(&["stop", "-t", "0", "host"]);
    let (_, se, code) = out(&d.docker(&["exec", "host", "true"]));
    assert_ne!(code, Some(0));
    assert!(se.contains("is not running"), "{se}");
}

#[test]
fn tty_and_init() {
    let Some(d) = docker_daemon() else { return };
    // A TTY gives raw output with the pty's line endings.
    let (so, se, code) =
        out(&d.docker(&["run", "--rm", "-t", "busybox", "sh", "-c", "tty; exit 2"]));
    assert_eq!(code, Some(2), "{se}");
    assert!(
        so.starts_with("/dev/pts/") && so.ends_with("\r\n"),
        "{so:?}"
    );
    // --init runs a reaper as PID 1 with the command as its child.
    if std::path::Path::new("/usr/bin/tini-static").exists() {
        let (so, se, code) = out(&d.docker(&[
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$",
        ]));
        assert_eq!(code, Some(0), "{se}");
        let lines: Vec<&str> = so.lines().collect();
        assert!(lines[0].starts_with("/sbin/docker-init -- sh"), "{so}");
        assert_ne!(lines[1], "1", "the command must not be PID 1 under --init");
    } else {
        eprintln!("SKIP --init: tini-static is not installed (apt-get install tini)");
    }
}

#[test]
fn external_runtime_from_the_daemon_config() {
    if !have_docker() {
        return;
    }
    let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("SKIP: runc is not installed");
        return;
    };
    let cfg = format!(r#"{{"runtimes": {{"runc": {{"path": "{runc}"}}}}}}"#);
    let d = Daemon::start_with_config(&cfg, &[]).unwrap();
    d.load_busybox();
    let info = d.docker_ok(&[
        "info",
        "--format",
        "{{range $k, $v := .Runtimes}}{{$k}} {{end}}",
    ]);
    assert!(info.contains("runc") && info.contains("pouch"), "{info}");
    let (so, se, code) = out(&d.docker(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        "busybox",
        "sh",
        "-c",
        "echo via runc; exit 9",
    ]));
    assert_eq!((so.as_str(), code), ("via runc\n", Some(9)), "{se}");
    d.docker_ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "rc",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(d.docker_ok(&["exec", "rc", "echo", "exec ok"]), "exec ok\n");
    d.docker_ok(&["stop", "-t", "1", "rc"]);
    assert_eq!(d.inspect("rc")["State"]["ExitCode"], 137);
}

#[test]
fn logs_follow_tail_and_timestamps() {
    let Some(d) = docker_daemon() else { return };
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done; echo err >&2; exec sleep 1000",
    ]);
    d.wait_for(10, "all lines logged", || {
        d.docker_ok(&["logs", "talker"]).contains("line5")
    });
    // The tail counts lines of both streams, as docker's does: here line4, line5 and err.
    assert_eq!(
        d.docker_ok(&["logs", "--tail", "3", "talker"]),
        "line4\nline5\n"
    );
    let o = d.docker(&["logs", "talker"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("err"));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("err"));
    let ts = d.docker_ok(&["logs", "-t", "--tail", "2", "talker"]);
    assert!(ts.starts_with("20") && ts.contains("Z line5"), "{ts}");
    // -f ends when the container stops.
    let follow = d
        .docker_command()
        .args(["logs", "-f", "talker"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    d.docker_ok(&["kill", "talker"]);
    let outp = follow.wait_with_output().unwrap();
    assert!(outp.status.success());
    assert!(String::from_utf8_lossy(&outp.stdout).contains("line1"));
}

/// Opens a hijacked attach (stdin, stdout, stderr) on the container; returns the raw stream.
fn raw_attach(d: &Daemon, id: &str) -> std::os::unix::net::UnixStream {
    d.hijack(&format!(
        "/containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1"
    ))
}

#[test]
fn detach_keys_end_an_attach_and_keep_stdin_open() {
    use std::io::{Read, Write};
    let d = Daemon::start();
    d.load_busybox();
    let r = d.http(
        "POST",
        "/containers/create?name=att",
        br#"{"Image":"busybox","Cmd":["cat"],"OpenStdin":true,"AttachStdin":true}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(d.http("POST", "/containers/att/start", b"").status, 204);
    for word in ["first", "second"] {
        let mut s = raw_attach(&d, "att");
        s.write_all(format!("{word}\n").as_bytes()).unwrap();
        let mut frame = vec![0u8; 8 + word.len() + 1];
        s.read_exact(&mut frame).unwrap();
        assert_eq!(&frame[..8], &[1, 0, 0, 0, 0, 0, 0, word.len() as u8 + 1]);
        assert_eq!(&frame[8..], format!("{word}\n").as_bytes());
        // ctrl-p ctrl-q: the daemon ends the stream; cat keeps running with stdin open, so the
        // next round's attach still reaches it.
        s.write_all(b"\x10\x11").unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "{rest:?}");
        assert_eq!(
            d.inspect("att")["State"]["Running"],
            true,
            "detaching stopped the container"
        );
    }
}
