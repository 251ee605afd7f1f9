//! lxcfs: containers that ask for it see their own limits in /proc; pouchd starts lxcfs on first
//! use (or with `--enable-lxcfs`), restarts it when it dies and repairs the running containers'
//! mounts, keeps it for live containers across its own restart, and stops it when unused.

use std::path::Path;

use pouch_e2e::{Daemon, out};

fn have_lxcfs() -> bool {
    let found = std::process::Command::new("lxcfs")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!("skipping: lxcfs is not installed (Debian package lxcfs)");
    }
    found
}

fn lxcfs_pid(d: &Daemon) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(d.exec_root.join("lxcfs.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive(pid).then_some(pid)
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "lxcfs")
}

fn mounted(p: &Path) -> bool {
    let p = p.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(p.as_str()))
}

fn view(d: &Daemon, id: &str) -> String {
    d.pouch_ok(&[
        "exec",
        id,
        "sh",
        "-c",
        "grep MemTotal /proc/meminfo; grep -c ^processor /proc/cpuinfo",
    ])
}

#[test]
fn lxcfs_shows_limits_and_survives_lxcfs_restarts() {
    if !have_lxcfs() {
        return;
    }
    let mut d = Daemon::start();
    d.load_busybox();
    assert!(
        lxcfs_pid(&d).is_none(),
        "not started before a container asks"
    );
    let id = d.pouch_ok(&[
        "run",
        "-d",
        "-m",
        "256m",
        "--cpuset-cpus",
        "0",
        "--enable-lxcfs",
        "busybox",
        "sleep",
        "300",
    ]);
    let id = id.trim().to_string();
    let want = "MemTotal:         262144 kB\n1\n";
    assert_eq!(view(&d, &id), want);
    // PouchContainer's spelling and the API field work too; a plain container sees the host.
    let id2 = d.pouch_ok(&[
        "run",
        "-d",
        "-m",
        "128m",
        "--enableLxcfs",
        "busybox",
        "sleep",
        "300",
    ]);
    let got = d.pouch_ok(&["exec", id2.trim(), "grep", "MemTotal", "/proc/meminfo"]);
    assert_eq!(got, "MemTotal:         131072 kB\n");
    assert_eq!(d.inspect(id2.trim())["HostConfig"]["EnableLxcfs"], true);
    let plain = d.pouch_ok(&[
        "run",
        "--rm",
        "-m",
        "256m",
        "busybox",
        "grep",
        "MemTotal",
        "/proc/meminfo",
    ]);
    assert_ne!(plain, "MemTotal:         262144 kB\n");

    // Kill lxcfs: pouchd starts a new one and repairs both containers' /proc.
    let first = lxcfs_pid(&d).expect("lxcfs runs");
    std::process::Command::new("kill")
        .arg("-9")
        .arg(first.to_string())
        .status()
        .unwrap();
    d.wait_for(20, "lxcfs restarted and mounts repaired", || {
        lxcfs_pid(&d).is_some_and(|p| p != first)
            && out(&d.pouch(&["exec", &id, "grep", "MemTotal", "/proc/meminfo"])).0
                == "MemTotal:         262144 kB\n"
    });
    assert_eq!(view(&d, &id), want);
    let got = d.pouch_ok(&["exec", id2.trim(), "grep", "MemTotal", "/proc/meminfo"]);
    assert_eq!(got, "MemTotal:         131072 kB\n");

    // A pouchd restart keeps lxcfs for the running containers and adopts it.
    let second = lxcfs_pid(&d).unwrap();
    d.stop();
    assert!(alive(second), "lxcfs stays up while containers use it");
    d.spawn(&[]).unwrap();
    assert_eq!(lxcfs_pid(&d), Some(second));
    assert_eq!(view(&d, &id), want);
    std::process::Command::new("kill")
        .arg("-9")
        .arg(second.to_string())
        .status()
        .unwrap();
    d.wait_for(20, "lxcfs restarted by the new pouchd", || {
        lxcfs_pid(&d).is_some_and(|p| p != second)
            && out(&d.pouch(&["exec", &id, "grep", "MemTotal", "/proc/meminfo"])).0
                == "MemTotal:         262144 kB\n"
    });

    // Unused, it goes away with the daemon.
    let last = lxcfs_pid(&d).unwrap();
    d.pouch_ok(&["rm", "-f", &id, id2.trim()]);
    d.stop();
    assert!(!alive(last), "lxcfs stopped with the daemon");
    assert!(!mounted(&d.exec_root.join("lxcfs")), "lxcfs unmounted");
}

#[test]
fn daemon_flag_starts_lxcfs_and_api_field_uses_it() {
    if !have_lxcfs() {
        return;
    }
    let mut d = Daemon::start_with(&["--enable-lxcfs"]).unwrap();
    let pid = lxcfs_pid(&d).expect("started with the daemon");
    d.load_busybox();
    let r = d.http(
        "POST",
        "/containers/create",
        br#"{"Image":"busybox","Cmd":["grep","MemTotal","/proc/meminfo"],"HostConfig":{"Memory":67108864,"EnableLxcfs":true}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    d.pouch_ok(&["start", &id]);
    d.pouch_ok(&["wait", &id]);
    assert_eq!(d.pouch_ok(&["logs", &id]), "MemTotal:          65536 kB\n");
    d.pouch_ok(&["rm", &id]);
    d.stop();
    assert!(!alive(pid));
}
