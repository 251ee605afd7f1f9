//! The conformance cases every runtime backend must pass (builtin libcontainer, runc, crun).

use std::time::Duration;

use pouch_runtime::shim::{self, CreateErrorKind, Error, RuntimeChoice, ShimStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::{CONFIG_CAPS_HEX, Env, Opts, deny_mkdir_profile, status_field};

/// One `#[tokio::test]` per conformance case, each run (bounded) with the runtime the calling
/// module's `runtime()` gives, and skipped (`runtime()` has said why) when it gives none. Every
/// runtime's test file expands this, so a case added here runs on every backend.
#[macro_export]
macro_rules! conformance_suite {
    () => {
        $crate::conformance_suite!(
            logs_and_exit_code,
            kill_signals,
            attach_stdin,
            tty,
            pause_resume,
            missing_executable,
            permission_denied,
            missing_rootfs,
            exec_basics,
            exec_tty,
            seccomp_filter,
        );
    };
    ($($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                if let Some(rt) = runtime() {
                    $crate::common::cases::bounded($crate::common::cases::$case(rt)).await;
                }
            }
        )+
    };
}

/// Bounds every case so a broken shim fails the test instead of hanging it.
pub async fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test case timed out");
}

/// Output on both streams reaches the json-file log with the right stream names and docker's
/// time format; the exit code comes through; everything is cleaned up afterwards.
pub async fn logs_and_exit_code(rt: RuntimeChoice) {
    let env = Env::new(
        rt,
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
        Opts::default(),
    );
    let client = env.launch().await.expect("launch");
    assert_eq!(client.state().await.unwrap().status, ShimStatus::Created);
    let pid = client.start().await.expect("start");
    assert!(pid > 0);
    let exit = client.wait().await.expect("wait");
    assert_eq!(exit.exit_code, 3);
    assert!(!exit.oom_killed);
    let lines = env.log_lines();
    assert!(
        lines.contains(&("out\n".into(), "stdout".into())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&("err\n".into(), "stderr".into())),
        "{lines:?}"
    );
    let time = env.log()[0]["time"].as_str().unwrap().to_owned();
    assert!(
        time.ends_with('Z') && time.len() >= 20 && &time[10..11] == "T",
        "{time}"
    );
    env.wait_shim_gone();
    assert_eq!(shim::read_exit_file(env.state_dir()), Some(exit.clone()));
    // The shim is gone: state says so, wait still answers from exit.json.
    assert!(matches!(client.state().await, Err(Error::Unavailable(_))));
    assert_eq!(client.wait().await.unwrap(), exit);
    env.assert_cleaned_up();
}

/// SIGKILL → 137; SIGTERM → 143 (init outside a pid namespace, where SIGTERM is deliverable).
pub async fn kill_signals(rt: RuntimeChoice) {
    let env = Env::new(rt.clone(), &["sleep", "100"], Opts::default());
    let client = env.launch().await.unwrap();
    assert!(matches!(
        client.kill(9, false).await,
        Err(Error::Rejected {
            code: shim::ErrorCode::NotRunning,
            ..
        })
    ));
    client.start().await.unwrap();
    client.kill(9, false).await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 137);
    env.wait_shim_gone();
    env.assert_cleaned_up();

    let opts = Opts {
        no_pid_ns: true,
        ..Opts::default()
    };
    let env = Env::new(rt, &["sleep", "100"], opts);
    let client = env.launch().await.unwrap();
    client.start().await.unwrap();
    client.kill(15, false).await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 143);
    env.wait_shim_gone();
    env.assert_cleaned_up();
}

/// Reads one docker multiplexed frame: (stream, payload).
pub async fn read_frame(s: &mut UnixStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 8];
    s.read_exact(&mut header).await.ok()?;
    assert_eq!(&header[1..4], &[0, 0, 0], "bad frame header {header:?}");
    let len = u32::from_be_bytes(header[4..8].try_into().unwrap()) as usize;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.unwrap();
    Some((header[0], payload))
}

/// `cat` with an attached stdin echoes input in docker frames to every attached client and
/// exits 0 when the stdin-owning client half-closes.
pub async fn attach_stdin(rt: RuntimeChoice) {
    let opts = Opts {
        stdin: true,
        ..Opts::default()
    };
    let env = Env::new(rt, &["cat"], opts);
    let client = env.launch().await.unwrap();
    let mut owner = client.attach(true, true, true).await.unwrap();
    let mut watcher = client.attach(false, true, false).await.unwrap();
    client.start().await.unwrap();
    owner.write_all(b"hello\n").await.unwrap();
    assert_eq!(read_frame(&mut owner).await, Some((1, b"hello\n".to_vec())));
    assert_eq!(
        read_frame(&mut watcher).await,
        Some((1, b"hello\n".to_vec()))
    );
    // Input from an attach without stdin is ignored, and its EOF does not close stdin.
    watcher.write_all(b"ignored\n").await.unwrap();
    watcher.shutdown().await.unwrap();
    owner.write_all(b"again\n").await.unwrap();
    assert_eq!(read_frame(&mut owner).await, Some((1, b"again\n".to_vec())));
    owner.shutdown().await.unwrap();
    let mut rest = Vec::new();
    owner.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "unexpected output {rest:?}");
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
    let mut rest = Vec::new();
    watcher.read_to_end(&mut rest).await.unwrap();
    assert_eq!(
        rest,
        [1, 0, 0, 0, 0, 0, 0, 6]
            .iter()
            .chain(b"again\n")
            .copied()
            .collect::<Vec<u8>>()
    );
    env.wait_shim_gone();
    env.assert_cleaned_up();
}

/// A tty container: raw output (no frame headers), the size set through `resize`, and the
/// pty's output logged as stdout.
pub async fn tty(rt: RuntimeChoice) {
    let opts = Opts {
        tty: true,
        ..Opts::default()
    };
    let env = Env::new(rt, &["sh", "-c", "stty size; tty; echo hi"], opts);
    let client = env.launch().await.unwrap();
    client.resize(30, 100).await.unwrap();
    let mut s = client.attach(false, true, true).await.unwrap();
    client.start().await.unwrap();
    assert_resized_tty_says_hi(&mut s).await;
    assert_eq!(client.wait().await.unwrap().exit_code, 0);
    let lines = env.log_lines();
    assert!(
        lines.contains(&("hi\r\n".into(), "stdout".into())),
        "{lines:?}"
    );
    env.wait_shim_gone();
    env.assert_cleaned_up();
}

/// Pause freezes the cgroup, resume thaws it; SIGKILL ends it.
pub async fn pause_resume(rt: RuntimeChoice) {
    let env = Env::new(rt, &["sleep", "100"], Opts::default());
    let client = env.launch().await.unwrap();
    client.start().await.unwrap();
    let freezer = env.cgroup_dir("freezer").join("freezer.state");
    client.pause().await.unwrap();
    assert_eq!(client.state().await.unwrap().status, ShimStatus::Paused);
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "FROZEN");
    assert!(client.pause().await.is_err());
    client.resume().await.unwrap();
    assert_eq!(client.state().await.unwrap().status, ShimStatus::Running);
    assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "THAWED");
    client.pause().await.unwrap();
    // SIGKILL works on a paused container too.
    client.kill(9, false).await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 137);
    env.wait_shim_gone();
    env.assert_cleaned_up();
}

/// A missing executable fails create with `NotFound`, leaving no process, cgroup or state.
pub async fn missing_executable(rt: RuntimeChoice) {
    let env = Env::new(rt, &["/nonexistent"], Opts::default());
    create_fails(&env, CreateErrorKind::NotFound).await;
    assert!(!env.state_dir().join("exit.json").exists());
}

/// An executable without execute permission fails create with `PermissionDenied`.
pub async fn permission_denied(rt: RuntimeChoice) {
    let env = Env::new(rt, &["/etc/passwd"], Opts::default());
    create_fails(&env, CreateErrorKind::PermissionDenied).await;
}

/// A bundle whose rootfs is missing fails create as `Other`, leaving nothing behind.
pub async fn missing_rootfs(rt: RuntimeChoice) {
    let env = Env::new(rt, &["true"], Opts::default());
    std::fs::remove_dir_all(env.launch.bundle.join("rootfs")).unwrap();
    create_fails(&env, CreateErrorKind::Other).await;
}

/// Asserts that `res` is a create error of kind `want`; `what` names the call in messages.
fn assert_create_error<T>(res: Result<T, Error>, want: CreateErrorKind, what: &str) {
    match res {
        Err(Error::Create { kind, message }) => {
            assert_eq!(kind, want, "{message}");
            eprintln!("{what} error: {message}");
        }
        Err(e) => panic!("unexpected error: {e:?}"),
        Ok(_) => panic!("{what} succeeded"),
    }
}

/// Launching `env` fails create with `want`, and the shim leaves nothing behind.
async fn create_fails(env: &Env, want: CreateErrorKind) {
    assert_create_error(env.launch().await, want, "create");
    env.wait_shim_gone();
    env.assert_cleaned_up();
}

/// Reads a tty session of `stty size; tty; echo hi` resized to 30x100 to its end and checks
/// it: the size, a pty, and the pty's line endings.
async fn assert_resized_tty_says_hi(s: &mut UnixStream) {
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("30 100\r\n"), "{text:?}");
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.ends_with("hi\r\n"), "{text:?}");
}

/// An exec request with the defaults of `docker exec` (root, no tty, no stdin).
pub fn exec_req(id: &str, args: &[&str]) -> shim::ExecRequest {
    shim::ExecRequest {
        exec_id: id.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        cwd: String::new(),
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        tty: false,
        stdin: false,
        privileged: false,
    }
}

/// Reads frames to the end of the stream: (stdout, stderr), each concatenated.
pub async fn read_streams(s: &mut UnixStream) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some((stream, payload)) = read_frame(s).await {
        match stream {
            1 => out.extend(payload),
            2 => err.extend(payload),
            other => panic!("bad stream {other}"),
        }
    }
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// Runs one exec to the end; returns (stdout, stderr, exit code).
pub async fn exec_run(
    client: &shim::ShimClient,
    req: &shim::ExecRequest,
) -> (String, String, Option<i32>) {
    let (pid, mut s) = client.exec(req).await.expect("exec");
    assert!(pid > 0);
    let (out, err) = read_streams(&mut s).await;
    let code = client.exec_state(&req.exec_id).await.expect("exec_state");
    (out, err, code)
}

/// `exec` without a tty: output framed per stream, exit codes, env/cwd, stdin with
/// half-close, errors (missing executable, permission denied, unknown id, duplicate id, not
/// running); the exec's output stays out of the container's log.
pub async fn exec_basics(rt: RuntimeChoice) {
    let env = Env::new(rt, &["sleep", "100"], Opts::default());
    let client = env.launch().await.unwrap();
    // Not started yet.
    assert!(matches!(
        client.exec(&exec_req("early", &["true"])).await,
        Err(Error::Rejected {
            code: shim::ErrorCode::NotRunning,
            ..
        })
    ));
    client.start().await.unwrap();
    let (out, err, code) = exec_run(&client, &exec_req("echo", &["echo", "hi"])).await;
    assert_eq!((out.as_str(), err.as_str(), code), ("hi\n", "", Some(0)));

    // No signal of the shim's (which reads them from a signalfd) stays blocked.
    let req = exec_req("mask", &["sh", "-c", "grep SigBlk /proc/self/status"]);
    let (out, _, _) = exec_run(&client, &req).await;
    assert_eq!(out, "SigBlk:\t0000000000000000\n");

    let req = exec_req("exit3", &["sh", "-c", "echo oops >&2; exit 3"]);
    let (out, err, code) = exec_run(&client, &req).await;
    assert_eq!((out.as_str(), err.as_str(), code), ("", "oops\n", Some(3)));

    let mut req = exec_req("envcwd", &["sh", "-c", "echo $FOO; pwd; id -u"]);
    req.env = vec!["FOO=bar".into()];
    req.cwd = "/tmp".into();
    req.uid = 1000;
    req.gid = 1000;
    let (out, _, code) = exec_run(&client, &req).await;
    assert_eq!((out.as_str(), code), ("bar\n/tmp\n1000\n", Some(0)));

    // Privileged: every capability, unlike the container's default set.
    let caps = ["sh", "-c", "grep CapEff /proc/self/status"];
    let (plain, _, _) = exec_run(&client, &exec_req("caps", &caps)).await;
    let mut req = exec_req("caps-priv", &caps);
    req.privileged = true;
    let (privileged, _, _) = exec_run(&client, &req).await;
    // The shim's own bounding set, which a privileged exec gets in full.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim();
    assert_eq!(privileged.trim(), format!("CapEff:\t{bounding}"));
    assert_ne!(plain, privileged);

    // stdin: echoed, and EOF on half-close ends the process.
    let mut req = exec_req("cat", &["cat"]);
    req.stdin = true;
    let (_, mut s) = client.exec(&req).await.unwrap();
    s.write_all(b"hello\n").await.unwrap();
    assert_eq!(read_frame(&mut s).await, Some((1, b"hello\n".to_vec())));
    assert_eq!(client.exec_state("cat").await.unwrap(), None);
    s.shutdown().await.unwrap();
    assert_eq!(read_streams(&mut s).await, (String::new(), String::new()));
    assert_eq!(client.exec_state("cat").await.unwrap(), Some(0));

    // A signal: 128 + n.
    let (_, mut s) = client
        .exec(&exec_req("killed", &["sh", "-c", "kill -9 $$"]))
        .await
        .unwrap();
    read_streams(&mut s).await;
    assert_eq!(client.exec_state("killed").await.unwrap(), Some(137));

    for (args, want) in [
        (&["/nonexistent"][..], CreateErrorKind::NotFound),
        (&["nope-not-here"][..], CreateErrorKind::NotFound),
        (&["/etc/passwd"][..], CreateErrorKind::PermissionDenied),
    ] {
        let res = client.exec(&exec_req("bad", args)).await;
        assert_create_error(res, want, &format!("exec of {args:?}"));
    }
    assert!(matches!(
        client.exec_state("unknown").await,
        Err(Error::Rejected {
            code: shim::ErrorCode::NotFound,
            ..
        })
    ));
    assert!(matches!(
        client.exec(&exec_req("echo", &["true"])).await,
        Err(Error::Rejected {
            code: shim::ErrorCode::AlreadyExists,
            ..
        })
    ));
    // The container still runs, its state is unaffected.
    assert_eq!(client.state().await.unwrap().status, ShimStatus::Running);

    // A running exec dies with the container; its stream ends.
    let (_, mut s) = client
        .exec(&exec_req("long", &["sleep", "100"]))
        .await
        .unwrap();
    client.kill(9, false).await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 137);
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    env.wait_shim_gone();
    env.assert_cleaned_up();
    let lines = env.log_lines();
    assert!(lines.is_empty(), "exec output was logged: {lines:?}");
}

/// `exec` with a tty: raw output from a pty, sized through `exec_resize`, stdin forwarded.
pub async fn exec_tty(rt: RuntimeChoice) {
    let env = Env::new(rt, &["sleep", "100"], Opts::default());
    let client = env.launch().await.unwrap();
    client.start().await.unwrap();
    let mut req = exec_req("t1", &["sh", "-c", "sleep 0.5; stty size; tty; echo hi"]);
    req.tty = true;
    let (_, mut s) = client.exec(&req).await.unwrap();
    client.exec_resize("t1", 30, 100).await.unwrap();
    assert_resized_tty_says_hi(&mut s).await;
    assert_eq!(client.exec_state("t1").await.unwrap(), Some(0));

    let mut req = exec_req("t2", &["sh"]);
    req.tty = true;
    req.stdin = true;
    let (_, mut s) = client.exec(&req).await.unwrap();
    s.write_all(b"echo $((6*7)); exit 5\n").await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("42\r\n"), "{text:?}");
    assert_eq!(client.exec_state("t2").await.unwrap(), Some(5));

    client.kill(9, false).await.unwrap();
    client.wait().await.unwrap();
    env.wait_shim_gone();
    env.assert_cleaned_up();
}

/// The bundle's seccomp profile filters the init and every exec'd process as under Docker: one
/// filter, no_new_privs only if the container asks for it, exactly the container's
/// capabilities (nothing the runtime needed to install the filter stays behind), and an exec
/// as another user is filtered as well.
pub async fn seccomp_filter(rt: RuntimeChoice) {
    let opts = Opts {
        seccomp: Some(deny_mkdir_profile()),
        new_privileges: true,
        ..Opts::default()
    };
    let script = "mkdir /tmp/init 2>/tmp/init.err; echo done >>/tmp/init.err; exec sleep 100";
    let env = Env::new(rt, &["sh", "-c", script], opts);
    let client = env.launch().await.unwrap();
    client.start().await.unwrap();

    // The init's own mkdir was refused (polled: init may not have got there yet).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for i in 0.. {
        let (out, _, _) = exec_run(
            &client,
            &exec_req(&format!("err{i}"), &["cat", "/tmp/init.err"]),
        )
        .await;
        if out.contains("done") {
            assert!(out.contains("Permission denied"), "init's mkdir: {out:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "init did not run its mkdir"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The init (pid 1 in its pid namespace) and an exec'd process, as the kernel sees them.
    for (id, file) in [("init", "/proc/1/status"), ("exec", "/proc/self/status")] {
        let (status, err, code) = exec_run(&client, &exec_req(id, &["cat", file])).await;
        assert_eq!(code, Some(0), "{err}");
        for (field, want) in [
            ("Seccomp", "2"),
            ("Seccomp_filters", "1"),
            ("NoNewPrivs", "0"),
            ("CapEff", CONFIG_CAPS_HEX),
            ("CapPrm", CONFIG_CAPS_HEX),
            ("CapBnd", CONFIG_CAPS_HEX),
        ] {
            assert_eq!(status_field(&status, field), want, "{id}: {field}");
        }
    }
    let (_, err, code) = exec_run(&client, &exec_req("mkdir", &["mkdir", "/tmp/exec"])).await;
    assert_ne!(code, Some(0));
    assert!(err.contains("Permission denied"), "exec'd mkdir: {err:?}");

    // Another user: filtered too, and without capabilities.
    let mut req = exec_req("user", &["cat", "/proc/self/status"]);
    req.uid = 1000;
    req.gid = 1000;
    let (status, err, code) = exec_run(&client, &req).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(status_field(&status, "Seccomp"), "2");
    assert_eq!(status_field(&status, "Seccomp_filters"), "1");
    assert_eq!(status_field(&status, "CapEff"), "0000000000000000");

    client.kill(9, false).await.unwrap();
    assert_eq!(client.wait().await.unwrap().exit_code, 137);
    env.wait_shim_gone();
    env.assert_cleaned_up();
}
