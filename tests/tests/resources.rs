//! Resource limits end to end: enforced by the kernel (OOM, pids, CPU quota), changed live with
//! `update`, reported by `stats` (the stock docker CLI renders them) and by inspect.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pouch_e2e::{Daemon, have_docker, out};

const MIB: u64 = 1 << 20;

/// Whether /sys/fs/cgroup is cgroup2 (unified) rather than v1 hierarchies.
fn unified() -> bool {
    !Path::new("/sys/fs/cgroup/memory").is_dir()
}

/// The container's cgroup directory on the host for `controller`.
fn cgroup(controller: &str, id: &str) -> PathBuf {
    if unified() {
        PathBuf::from(format!("/sys/fs/cgroup/pouch/{id}"))
    } else {
        PathBuf::from(format!("/sys/fs/cgroup/{controller}/pouch/{id}"))
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn memory_limit_file() -> &'static str {
    if unified() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    }
}

/// Starts a detached container, returning its full id.
fn run_d(d: &Daemon, flags: &[&str], cmd: &[&str]) -> String {
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(flags);
    args.push("busybox");
    args.extend_from_slice(cmd);
    let (so, se, code) = out(&d.pouch(&args));
    assert_eq!(code, Some(0), "run {flags:?}: {so} {se}\n{}", d.log());
    so.trim().to_string()
}

fn wait_exited(d: &Daemon, id: &str) -> serde_json::Value {
    d.wait_for(30, "the container to exit", || {
        d.inspect(id)["State"]["Status"] == "exited"
    });
    d.inspect(id)
}

#[test]
fn oom_kill_is_reported_with_137_and_an_event() {
    let d = Daemon::start();
    d.load_busybox();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // dd allocates its block size at once: 100 MiB does not fit in 64 MiB (nor in swap).
    let id = run_d(
        &d,
        &["-m", "64m", "--memory-swap", "64m"],
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"],
    );
    let j = wait_exited(&d, &id);
    assert_eq!(j["State"]["OOMKilled"], true, "{j}");
    assert_eq!(j["State"]["ExitCode"], 137, "{j}");
    let filters = r#"{"event":["oom"],"type":["container"]}"#;
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let r = d.http(
        "GET",
        &format!(
            "/events?since={since}&until={until}&filters={}",
            urlencode(filters)
        ),
        b"",
    );
    let text = r.text();
    let oom: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"oom\"") && l.contains(&id))
        .collect();
    assert_eq!(oom.len(), 1, "events: {text}");

    // The same container within its limit is not reported.
    let id = run_d(
        &d,
        &["-m", "64m", "--memory-swap", "64m"],
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1"],
    );
    let j = wait_exited(&d, &id);
    assert_eq!(j["State"]["OOMKilled"], false, "{j}");
    assert_eq!(j["State"]["ExitCode"], 0, "{j}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Forks up to forty background sleeps using builtins only, printing the count after each.
const FORKS: &str = "i=0; while [ $i -lt 40 ]; do sleep 60 & i=$((i+1)); echo $i; done";

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let d = Daemon::start();
    d.load_busybox();
    let (so, se, code) = out(&d.pouch(&[
        "run",
        "--rm",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        FORKS,
    ]));
    // The shell dies at the first fork the pids cgroup refuses.
    assert_ne!(code, Some(0), "{so} {se}");
    assert!(se.contains("can't fork"), "{se}");
    let started: u32 = so.lines().last().unwrap_or("0").trim().parse().unwrap();
    assert!(
        (10..20).contains(&started),
        "{started} sleeps started under a limit of 20"
    );
    // Without the limit the same script runs to the end.
    let (so, se, code) = out(&d.pouch(&["run", "--rm", "busybox", "sh", "-c", FORKS]));
    assert_eq!(code, Some(0), "{so} {se}");
    assert_eq!(so.lines().last(), Some("40"));
}

/// CPU time the container used, in nanoseconds, from its cgroup on the host.
fn cpu_usage_ns(id: &str) -> u64 {
    if unified() {
        let stat = read(&cgroup("cpu", id).join("cpu.stat"));
        stat.lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1000
    } else {
        read(&cgroup("cpuacct", id).join("cpuacct.usage"))
            .parse()
            .unwrap()
    }
}

#[test]
fn cpus_half_holds_a_busy_loop_near_half_a_core() {
    let d = Daemon::start();
    d.load_busybox();
    let id = run_d(&d, &["--cpus", "0.5"], &["sh", "-c", "while :; do :; done"]);
    if !unified() {
        assert_eq!(read(&cgroup("cpu", &id).join("cpu.cfs_quota_us")), "50000");
        assert_eq!(
            read(&cgroup("cpu", &id).join("cpu.cfs_period_us")),
            "100000"
        );
    }
    // Let the loop get going, then measure CPU time over an interval of wall time.
    d.wait_for(10, "the loop to use CPU", || cpu_usage_ns(&id) > 50_000_000);
    let (u0, t0) = (cpu_usage_ns(&id), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let (u1, t1) = (cpu_usage_ns(&id), Instant::now());
    let share = (u1 - u0) as f64 / (t1 - t0).as_nanos() as f64;
    println!(
        "--cpus 0.5: the busy loop used {:.1}% of one CPU",
        share * 100.0
    );
    assert!(
        (0.30..=0.70).contains(&share),
        "CPU share {share:.3} outside 0.30..0.70"
    );
    d.pouch_ok(&["rm", "-f", &id]);
}

#[test]
fn update_changes_limits_live_and_they_persist() {
    let d = Daemon::start();
    d.load_busybox();
    let id = run_d(&d, &["-m", "64m", "--pids-limit", "50"], &["sleep", "1000"]);
    let limit = || read(&cgroup("memory", &id).join(memory_limit_file()));
    let inside = || {
        let f = if unified() {
            "/sys/fs/cgroup/memory.max".to_string()
        } else {
            "/sys/fs/cgroup/memory/memory.limit_in_bytes".to_string()
        };
        d.pouch_ok(&["exec", &id, "cat", &f]).trim().to_string()
    };
    assert_eq!(limit(), (64 * MIB).to_string());

    // Lower, then raise with swap: both orders of the v1 memory/memsw rule.
    d.pouch_ok(&["update", "-m", "32m", &id]);
    assert_eq!(limit(), (32 * MIB).to_string());
    assert_eq!(inside(), (32 * MIB).to_string());
    d.pouch_ok(&["update", "-m", "200m", "--memory-swap", "400m", &id]);
    assert_eq!(limit(), (200 * MIB).to_string());
    assert_eq!(inside(), (200 * MIB).to_string());

    // Other knobs and the restart policy.
    d.pouch_ok(&[
        "update",
        "--pids-limit",
        "30",
        "--cpu-shares",
        "512",
        "--restart",
        "on-failure:2",
        &id,
    ]);
    assert_eq!(read(&cgroup("pids", &id).join("pids.max")), "30");
    if !unified() {
        assert_eq!(read(&cgroup("cpu", &id).join("cpu.shares")), "512");
    }
    let hc = d.inspect(&id)["HostConfig"].clone();
    assert_eq!(hc["Memory"], 200 * MIB, "{hc}");
    assert_eq!(hc["MemorySwap"], 400 * MIB, "{hc}");
    assert_eq!(hc["PidsLimit"], 30, "{hc}");
    assert_eq!(hc["RestartPolicy"]["Name"], "on-failure", "{hc}");
    assert_eq!(hc["RestartPolicy"]["MaximumRetryCount"], 2, "{hc}");

    // A refused update changes nothing.
    let (_, se, code) = out(&d.pouch(&["update", "-m", "1g", &id]));
    assert_ne!(code, Some(0));
    assert!(se.contains("memoryswap"), "{se}");
    assert_eq!(limit(), (200 * MIB).to_string());

    // The next start applies the stored values.
    d.pouch_ok(&["restart", "-t", "0", &id]);
    assert_eq!(limit(), (200 * MIB).to_string());
    assert_eq!(read(&cgroup("pids", &id).join("pids.max")), "30");

    // The stock docker CLI's update body is understood too.
    if have_docker() {
        d.docker_ok(&["update", "--memory", "150m", "--pids-limit", "40", &id]);
        assert_eq!(limit(), (150 * MIB).to_string());
        assert_eq!(read(&cgroup("pids", &id).join("pids.max")), "40");
    }

    // A stopped container takes the update for its next start.
    d.pouch_ok(&["stop", "-t", "0", &id]);
    d.pouch_ok(&["update", "-m", "100m", &id]);
    d.pouch_ok(&["start", &id]);
    assert_eq!(limit(), (100 * MIB).to_string());
    d.pouch_ok(&["rm", "-f", &id]);
}

#[test]
fn run_flags_reach_the_cgroup() {
    let d = Daemon::start();
    d.load_busybox();
    if unified() {
        println!("skipping: the v1 file checks of this test need a cgroup v1 host");
        return;
    }
    let id = run_d(
        &d,
        &[
            "--memory-reservation",
            "32m",
            "--memory-swappiness",
            "10",
            "--oom-kill-disable",
            "-m",
            "128m",
            "--oom-score-adj",
            "300",
            "--cpu-period",
            "50000",
            "--cpu-quota",
            "20000",
            "--cpuset-cpus",
            "0",
            "--cpuset-mems",
            "0",
            "--device-read-bps",
            "/dev/vda:1mb",
            "--device-write-iops",
            "/dev/vda:100",
        ],
        &["sleep", "1000"],
    );
    let f = |c: &str, file: &str| read(&cgroup(c, &id).join(file));
    assert_eq!(
        f("memory", "memory.soft_limit_in_bytes"),
        (32 * MIB).to_string()
    );
    assert_eq!(f("memory", "memory.swappiness"), "10");
    assert!(
        f("memory", "memory.oom_control").contains("oom_kill_disable 1"),
        "{}",
        f("memory", "memory.oom_control")
    );
    assert_eq!(f("cpu", "cpu.cfs_period_us"), "50000");
    assert_eq!(f("cpu", "cpu.cfs_quota_us"), "20000");
    assert_eq!(f("cpuset", "cpuset.cpus"), "0");
    assert_eq!(f("cpuset", "cpuset.mems"), "0");
    if Path::new("/dev/vda").exists() {
        assert!(f("blkio", "blkio.throttle.read_bps_device").contains(" 1048576"));
        assert!(f("blkio", "blkio.throttle.write_iops_device").contains(" 100"));
    }
    let adj = d.pouch_ok(&["exec", &id, "cat", "/proc/1/oom_score_adj"]);
    assert_eq!(adj.trim(), "300");
    let hc = d.inspect(&id)["HostConfig"].clone();
    assert_eq!(hc["MemoryReservation"], 32 * MIB);
    assert_eq!(hc["MemorySwappiness"], 10);
    assert_eq!(hc["OomKillDisable"], true);
    assert_eq!(hc["CpusetMems"], "0");
    assert_eq!(hc["BlkioDeviceReadBps"][0]["Rate"], MIB);
    d.pouch_ok(&["rm", "-f", &id]);

    // --cgroup-parent places the container elsewhere.
    let id = run_d(
        &d,
        &["--cgroup-parent", "pouch-e2e-parent", "-m", "64m"],
        &["sleep", "100"],
    );
    let dir = PathBuf::from(format!("/sys/fs/cgroup/memory/pouch-e2e-parent/{id}"));
    assert_eq!(
        read(&dir.join("memory.limit_in_bytes")),
        (64 * MIB).to_string()
    );
    d.pouch_ok(&["rm", "-f", &id]);
    let _ = std::fs::remove_dir("/sys/fs/cgroup/memory/pouch-e2e-parent");
    for c in [
        "cpu", "cpuacct", "cpuset", "blkio", "pids", "devices", "freezer", "hugetlb",
    ] {
        let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/{c}/pouch-e2e-parent"));
    }
}

#[test]
fn limits_the_host_cannot_enforce_are_refused_clearly() {
    let d = Daemon::start();
    d.load_busybox();
    // blkio weight needs CFQ or BFQ on some disk; when none runs one, say so.
    let bfq = std::fs::read_dir("/sys/block").unwrap().flatten().any(|e| {
        std::fs::read_to_string(e.path().join("queue/scheduler"))
            .is_ok_and(|s| s.contains("[bfq]") || s.contains("[cfq]"))
    });
    let (so, se, code) =
        out(&d.pouch(&["run", "--rm", "--blkio-weight", "300", "busybox", "true"]));
    if bfq || Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists() {
        assert_eq!(code, Some(0), "{so} {se}");
    } else {
        assert_ne!(code, Some(0));
        assert!(se.contains("--blkio-weight cannot be enforced"), "{se}");
        assert!(se.contains("scheduler"), "{se}");
    }
    let (_, se, code) = out(&d.pouch(&["run", "--rm", "-m", "1m", "busybox", "true"]));
    assert_ne!(code, Some(0));
    assert!(se.contains("minimum memory limit"), "{se}");
    let (_, se, code) = out(&d.pouch(&["run", "--rm", "--cpuset-cpus", "4000", "busybox", "true"]));
    assert_ne!(code, Some(0));
    assert!(se.contains("CPUs are not available"), "{se}");
}

#[test]
fn stats_api_and_the_docker_cli() {
    let d = Daemon::start();
    d.load_busybox();
    let id = run_d(
        &d,
        &["--name", "busy", "-m", "64m", "--cpus", "0.5"],
        &["sh", "-c", "while :; do :; done"],
    );
    d.wait_for(10, "the loop to use CPU", || cpu_usage_ns(&id) > 50_000_000);
    let s = d
        .http("GET", &format!("/containers/{id}/stats?stream=false"), b"")
        .json();
    assert_eq!(s["id"], id);
    assert_eq!(s["name"], "/busy");
    let cpu = s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap();
    let pre = s["precpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    assert!(cpu > pre && pre > 0, "{s}");
    let sys = s["cpu_stats"]["system_cpu_usage"].as_u64().unwrap();
    let pre_sys = s["precpu_stats"]["system_cpu_usage"].as_u64().unwrap();
    let cpus = s["cpu_stats"]["online_cpus"].as_u64().unwrap();
    let pct = (cpu - pre) as f64 / (sys - pre_sys) as f64 * cpus as f64 * 100.0;
    println!("stats: CPU {pct:.1}% with --cpus 0.5");
    assert!((25.0..=75.0).contains(&pct), "cpu {pct}");
    assert_eq!(s["memory_stats"]["limit"], 64 * MIB);
    assert!(s["memory_stats"]["usage"].as_u64().unwrap() > 0);
    assert!(s["pids_stats"]["current"].as_u64().unwrap() >= 1);

    // Interfaces of the container's network namespace, loopback left out.
    if let Some(n) = s["networks"].as_object() {
        assert!(!n.contains_key("lo"), "{n:?}");
        assert!(n.values().all(|i| i["rx_bytes"].is_u64()), "{n:?}");
    }
    let lone = run_d(&d, &["--network", "none"], &["sleep", "100"]);
    let s2 = d
        .http(
            "GET",
            &format!("/containers/{lone}/stats?stream=false&one-shot=true"),
            b"",
        )
        .json();
    assert!(s2.get("networks").is_none(), "{}", s2["networks"]);
    d.pouch_ok(&["rm", "-f", &lone]);

    // one-shot: no wait, no previous sample.
    let s = d
        .http(
            "GET",
            &format!("/containers/{id}/stats?stream=false&one-shot=true"),
            b"",
        )
        .json();
    assert_eq!(s["precpu_stats"]["cpu_usage"]["total_usage"], 0);

    // The default is a stream: a sample a second, each with the previous one as precpu.
    let samples = stream_samples(&d, &id, 2);
    assert_eq!(samples.len(), 2);
    assert_eq!(
        samples[1]["precpu_stats"]["cpu_usage"]["total_usage"],
        samples[0]["cpu_stats"]["cpu_usage"]["total_usage"]
    );
    assert_eq!(samples[1]["preread"], samples[0]["read"]);

    // pouch's own table.
    let table = d.pouch_ok(&["stats", "--no-stream", "busy"]);
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(table.starts_with("CONTAINER ID"), "{table}");
    assert!(row.contains("busy") && row.contains("/ 64MiB"), "{table}");

    if have_docker() {
        let table = d.docker_ok(&["stats", "--no-stream", "busy"]);
        println!("{table}");
        let row = table
            .lines()
            .find(|l| l.contains("busy"))
            .unwrap_or_else(|| panic!("{table}"));
        assert!(row.contains("/ 64MiB"), "{table}");
        let pct: f64 = row
            .split_whitespace()
            .find(|w| w.ends_with('%'))
            .unwrap()
            .trim_end_matches('%')
            .parse()
            .unwrap();
        assert!(
            (20.0..=80.0).contains(&pct),
            "docker stats CPU {pct}%: {table}"
        );

        // Streaming: the CLI keeps redrawing from the one open stats stream.
        let mut child = d
            .docker_command()
            .args(["stats", "busy"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut rows = 0;
        while rows < 3 {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("docker stats drew {rows} rows"));
            if line.contains("busy") && line.contains("/ 64MiB") {
                rows += 1;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    d.pouch_ok(&["rm", "-f", &id]);
}

/// Reads the first `n` samples of `GET /containers/{id}/stats` (streaming) over the socket.
fn stream_samples(d: &Daemon, id: &str, n: usize) -> Vec<serde_json::Value> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /containers/{id}/stats HTTP/1.1\r\nHost: pouch\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // Each sample is one JSON line; chunk-size lines are hex digits only.
        let text = String::from_utf8_lossy(&buf).to_string();
        let samples: Vec<serde_json::Value> = text
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if samples.len() >= n {
            return samples.into_iter().take(n).collect();
        }
        let got = s.read(&mut chunk).expect("stats stream stalled");
        assert!(got > 0, "stats stream ended early: {text}");
        buf.extend_from_slice(&chunk[..got]);
    }
}
