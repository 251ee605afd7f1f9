//! End-to-end tests of pouch-shim with the embedded libcontainer runtime: real containers from a
//! busybox bundle, driven through `launch()` and `ShimClient` exactly as pouchd does.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use common::cases::{self, bounded};
use common::{Env, Opts};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pouch_runtime::shim::{self, RuntimeChoice, ShimStatus};
use tokio::io::AsyncWriteExt;

/// The embedded runtime, where the host can run the tests at all.
fn runtime() -> Option<RuntimeChoice> {
    if let Some(reason) = common::skip_reason() {
        eprintln!("skipped: {reason}");
        return None;
    }
    Some(RuntimeChoice::Builtin)
}

crate::conformance_suite!();

/// SIGTERM to the shim is forwarded to the container, whose exit is then recorded as usual.
#[tokio::test]
async fn sigterm_to_the_shim_reaches_the_container() {
    require_env!();
    bounded(async {
        let script = "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done";
        let env = Env::new(
            RuntimeChoice::Builtin,
            &["sh", "-c", script],
            Opts::default(),
        );
        let client = env.launch().await.unwrap();
        let mut out = client.attach(false, true, false).await.unwrap();
        client.start().await.unwrap();
        // The trap is set once "ready" is out.
        assert_eq!(
            cases::read_frame(&mut out).await,
            Some((1, b"ready\n".to_vec()))
        );
        let pid = shim::shim_pid(env.state_dir()).unwrap();
        kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 42);
        env.wait_shim_gone();
        env.assert_cleaned_up();
    })
    .await;
}

/// After a shim is SIGKILLed its container keeps running; `cleanup` kills it and removes the
/// runtime state and the cgroup.
#[tokio::test]
async fn cleanup_after_a_killed_shim() {
    require_env!();
    bounded(async {
        let env = Env::new(RuntimeChoice::Builtin, &["sleep", "100"], Opts::default());
        let client = env.launch().await.unwrap();
        let init = client.start().await.unwrap();
        let pid = shim::shim_pid(env.state_dir()).unwrap();
        assert!(matches!(
            shim::cleanup(&env.launch).await,
            Err(shim::Error::Cleanup(_))
        ));
        kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        env.wait_shim_gone();
        assert!(std::path::Path::new(&format!("/proc/{init}")).exists());
        shim::cleanup(&env.launch).await.unwrap();
        env.assert_cleaned_up();
        let deadline = Instant::now() + Duration::from_secs(5);
        while proc_alive(init) {
            assert!(Instant::now() < deadline, "container init survived cleanup");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// A seccomp profile is compiled once per exec root: a second container with the same
/// profile installs the cached program (the cache file is not written again), and both are
/// filtered, their exec'd processes too.
#[tokio::test]
async fn seccomp_programs_are_compiled_once_per_profile() {
    require_env!();
    bounded(async {
        let opts = Opts {
            seccomp: Some(common::deny_mkdir_profile()),
            new_privileges: true,
            ..Opts::default()
        };
        let first = Env::new(RuntimeChoice::Builtin, &["sleep", "100"], opts.clone());
        // <exec-root>/seccomp, beside <exec-root>/runtime/builtin.
        let cache = first.dir.path().join("seccomp");
        let entry = || {
            let files: Vec<_> = std::fs::read_dir(&cache)
                .map(|d| d.map(|e| e.unwrap().path()).collect())
                .unwrap_or_default();
            assert_eq!(files.len(), 1, "cache holds {files:?}");
            let meta = std::fs::metadata(&files[0]).unwrap();
            (
                files[0].clone(),
                meta.ino(),
                meta.mtime(),
                meta.mtime_nsec(),
            )
        };
        let mut seen = None;
        let mut second = Env::new(RuntimeChoice::Builtin, &["sleep", "100"], opts);
        second.launch.runtime_root = first.launch.runtime_root.clone();
        for env in [&first, &second] {
            let client = env.launch().await.unwrap();
            // Compiled (or found) at create.
            let now = entry();
            assert_eq!(*seen.get_or_insert(now.clone()), now, "compiled again");
            // libcontainer was given the config without the profile, as private as the
            // bundle's own.
            let given = env.launch.bundle.join("builtin/config.json");
            let config: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&given).unwrap()).unwrap();
            assert!(config["linux"]["seccomp"].is_null(), "{}", config["linux"]);
            assert!(!config["linux"]["namespaces"].is_null());
            let mode = std::fs::metadata(&given).unwrap().mode() & 0o777;
            assert_eq!(mode, 0o600);
            client.start().await.unwrap();
            let (_, err, code) =
                cases::exec_run(&client, &cases::exec_req("mkdir", &["mkdir", "/tmp/x"])).await;
            assert_ne!(code, Some(0));
            assert!(err.contains("Permission denied"), "{err:?}");
            let req = cases::exec_req("status", &["cat", "/proc/1/status"]);
            let (status, _, _) = cases::exec_run(&client, &req).await;
            assert_eq!(common::status_field(&status, "Seccomp"), "2");
            client.kill(9, false).await.unwrap();
            assert_eq!(client.wait().await.unwrap().exit_code, 137);
            env.wait_shim_gone();
            env.assert_cleaned_up();
        }
    })
    .await;
}

/// Alive and not a zombie (an orphaned init is reaped by whoever inherits it).
fn proc_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit(") ").next().unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}

/// The shim outlives the runtime (and process state) that launched it: its exit record is
/// there afterwards without anyone having waited.
#[test]
fn survives_its_launcher() {
    require_env!();
    let env = Env::new(
        RuntimeChoice::Builtin,
        &["sh", "-c", "sleep 1; exit 7"],
        Opts::default(),
    );
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = env.launch().await.unwrap();
            client.start().await.unwrap();
        });
        // Dropping the runtime drops every client and connection.
    }
    let shim_pid = shim::shim_pid(env.state_dir()).expect("shim alive");
    let stat = std::fs::read_to_string(format!("/proc/{shim_pid}/stat")).unwrap();
    let ppid: u32 = stat
        .rsplit(") ")
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(ppid, std::process::id(), "shim is still our child");
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(e) = shim::read_exit_file(env.state_dir()) {
            break e;
        }
        assert!(Instant::now() < deadline, "no exit.json");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exit.exit_code, 7);
    env.wait_shim_gone();
    env.assert_cleaned_up();
}

/// A container that was created but is never started is torn down by `shutdown`.
#[tokio::test]
async fn shutdown_of_a_created_container() {
    require_env!();
    bounded(async {
        let env = Env::new(RuntimeChoice::Builtin, &["sleep", "100"], Opts::default());
        let client = env.launch().await.unwrap();
        assert!(env.cgroup_dir("memory").exists());
        client.shutdown().await.unwrap();
        env.wait_shim_gone();
        env.assert_cleaned_up();
        assert!(shim::read_exit_file(env.state_dir()).is_none());
    })
    .await;
}

/// OOM kills in the container's memory cgroup are reported (cgroup v1 `oom_kill` counter).
#[tokio::test]
async fn oom_kill_is_reported() {
    require_env!();
    bounded(async {
        let opts = Opts {
            memory_limit: Some(16 << 20),
            ..Opts::default()
        };
        let env = Env::new(
            RuntimeChoice::Builtin,
            &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
            opts,
        );
        let client = env.launch().await.unwrap();
        client.start().await.unwrap();
        let exit = client.wait().await.unwrap();
        assert_eq!(exit.exit_code, 137);
        assert!(exit.oom_killed, "{exit:?}");
        env.wait_shim_gone();
        env.assert_cleaned_up();
    })
    .await;
}

/// Reports the shim's memory while a container runs (`--nocapture` to see the figures).
#[tokio::test]
async fn shim_memory_while_running() {
    require_env!();
    bounded(async {
        let env = Env::new(RuntimeChoice::Builtin, &["sleep", "100"], Opts::default());
        let client = env.launch().await.unwrap();
        client.start().await.unwrap();
        let _attached = client.attach(false, true, true).await.unwrap();
        // A client that half-closes and then goes away must not leave the shim spinning.
        let mut gone = client.attach(true, true, true).await.unwrap();
        gone.shutdown().await.unwrap();
        drop(gone);
        assert_eq!(client.state().await.unwrap().status, ShimStatus::Running);
        let pid = shim::shim_pid(env.state_dir()).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = cpu_ticks(pid);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let spent = cpu_ticks(pid) - before;
        assert!(spent <= 5, "idle shim used {spent} clock ticks in 500 ms");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let (rss, anon, file, threads) = (
            field("VmRSS:"),
            field("RssAnon:"),
            field("RssFile:"),
            field("Threads:"),
        );
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
        let smaps = |name: &str| -> u64 {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        println!(
            "pouch-shim pid {pid}: VmRSS {rss} kB, RssAnon {anon} kB, RssFile {file} kB, \
             Pss {} kB, Private_Dirty {} kB, threads {threads}",
            smaps("Pss:"),
            smaps("Private_Dirty:")
        );
        assert_eq!(threads, 1, "the shim must stay single-threaded");
        assert!(anon < 4096, "shim anonymous memory grew to {anon} kB");
        client.kill(9, false).await.unwrap();
        assert_eq!(client.wait().await.unwrap().exit_code, 137);
        env.wait_shim_gone();
    })
    .await;
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap().split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}
