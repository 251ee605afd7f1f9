//! Crash safety: `kill -9` of pouchd while many `run -d` are in flight, a restart on the same
//! root and exec-root, and `rm -f` of everything must leave nothing behind — no shim, no
//! container process, no cgroup, no mount, no network namespace or veth.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pouch_e2e::{Daemon, bin};

/// Concurrent `run -d` per round.
const RUNS: usize = 30;

#[test]
fn kill9_during_concurrent_runs_then_rm_f_leaves_nothing() {
    let mut d = Daemon::start();
    d.load_busybox();
    let mut failures = Vec::new();
    let mut leaked = 0;
    // Kill at different depths of the burst: starts are in flight in every round, at
    // different stages (record only, shim creating, created but not started, started).
    for (round, threshold) in [2usize, 8, 15].into_iter().enumerate() {
        let runs: Vec<Child> = (0..RUNS)
            .map(|_| {
                Command::new(bin("pouch"))
                    .arg("-H")
                    .arg(d.host())
                    .args(["run", "-d", "busybox", "sleep", "1000"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn pouch run")
            })
            .collect();
        let starting = d.exec_root.join("containers");
        let deadline = Instant::now() + Duration::from_secs(120);
        while entries(&starting).len() < threshold {
            assert!(
                Instant::now() < deadline,
                "round {round}: fewer than {threshold} containers were being started after 120s\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        d.kill9();
        for mut r in runs {
            let _ = r.wait();
        }

        // Everything this daemon may have made, known before the restart can remove any of it.
        let mut ids: BTreeSet<String> = entries(&d.root.join("containers"));
        ids.extend(entries(&starting));
        ids.extend(shims_of(&d.exec_root).into_iter().map(|(_, id)| id));
        let shims_at_crash = shims_of(&d.exec_root).len();

        d.spawn(&[]).unwrap();
        let listed = d.pouch_ok(&["ps", "-aq"]);
        let listed: Vec<&str> = listed.split_whitespace().collect();
        let states = d.pouch_ok(&["ps", "-a", "--format", "{{.State}}"]);
        eprintln!(
            "round {round}: killed at {threshold} starting; {} containers made, {shims_at_crash} \
             shims alive at the crash, after restart: {:?}",
            ids.len(),
            count(states.split_whitespace())
        );
        if !listed.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(&listed);
            d.pouch_ok(&args);
        }
        assert_eq!(d.pouch_ok(&["ps", "-aq"]).trim(), "", "rm -f removed all");

        if let Some((processes, report)) = leftovers(&d, &ids) {
            leaked += processes;
            failures.push(format!(
                "round {round} ({processes} processes leaked):\n{report}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "leftovers after kill -9, restart and rm -f: {leaked} processes leaked in {} of 3 \
         rounds\n{}\n{}",
        failures.len(),
        failures.join("\n"),
        d.log()
    );
}

#[test]
fn a_restart_ends_containers_whose_shim_died_or_lost_its_state_dir() {
    let mut d = Daemon::start();
    d.load_busybox();
    let run = |d: &Daemon| {
        d.pouch_ok(&["run", "-d", "busybox", "sleep", "1000"])
            .trim()
            .to_string()
    };
    let (orphaned, unlisted) = (run(&d), run(&d));
    let pid = |id: &str| d.inspect(id)["State"]["Pid"].as_i64().unwrap() as u32;
    let (orphaned_pid, unlisted_pid) = (pid(&orphaned), pid(&unlisted));
    let ids: BTreeSet<String> = [orphaned.clone(), unlisted.clone()].into();
    d.kill9();
    // One shim dies too (the OOM killer, an admin's kill -9): its container runs on without
    // a supervisor.
    let shim = shims_of(&d.exec_root)
        .into_iter()
        .find(|(_, id)| *id == orphaned)
        .map(|(pid, _)| pid)
        .expect("the container's shim");
    assert!(
        Command::new("kill")
            .args(["-9", &shim.to_string()])
            .status()
            .unwrap()
            .success()
    );
    d.wait_for(10, "the killed shim to go", || !alive(shim));
    // The other's state dir vanishes under its live shim (what `rm` of a container with a
    // live shim used to do): no socket, no pid file, only /proc knows the shim.
    std::fs::remove_dir_all(d.exec_root.join("containers").join(&unlisted)).unwrap();
    assert!(alive(orphaned_pid) && alive(unlisted_pid));

    d.spawn(&[]).unwrap();
    let running: Vec<(u32, String)> = shims_of(&d.exec_root)
        .into_iter()
        .chain(container_processes(&ids))
        .collect();
    let cleaned = leftovers(&d, &ids);
    assert!(
        running.is_empty() && !alive(orphaned_pid) && !alive(unlisted_pid),
        "still running after the restart: {running:?}\n{}\n{}",
        cleaned.map(|(_, r)| r).unwrap_or_default(),
        d.log()
    );
    for id in [&orphaned, &unlisted] {
        assert_eq!(d.inspect(id)["State"]["Status"], "exited", "{id}");
    }
    d.pouch_ok(&["rm", "-f", &orphaned, &unlisted]);
    if let Some((processes, report)) = leftovers(&d, &ids) {
        panic!("{processes} processes leaked:\n{report}\n{}", d.log());
    }
}

/// Waits (with a deadline: processes die and the kernel drops namespaces and veths
/// asynchronously) for everything of `ids` to be gone. If something is left, it is cleaned
/// up and returned: the number of leaked processes and a report.
fn leftovers(d: &Daemon, ids: &BTreeSet<String>) -> Option<(usize, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let left = loop {
        let left = Leftovers::find(d, ids);
        if left.is_empty() || Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if left.is_empty() {
        return None;
    }
    let found = (left.processes(), left.report());
    left.clean_up(d);
    Some(found)
}

/// Whether `pid` is a live process (a zombie is not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st != "Z"))
        })
        .unwrap_or(false)
}

/// Names in a directory (empty when it does not exist).
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn count<'a>(words: impl Iterator<Item = &'a str>) -> Vec<(String, usize)> {
    let mut m = std::collections::BTreeMap::new();
    for w in words {
        *m.entry(w.to_string()).or_insert(0) += 1;
    }
    m.into_iter().collect()
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Shim processes (pid, container id) serving a container under this exec-root.
fn shims_of(exec_root: &Path) -> Vec<(u32, String)> {
    let prefix = exec_root.join("containers");
    pids()
        .into_iter()
        .filter_map(|pid| {
            let args = cmdline(pid);
            if !args.first().is_some_and(|a| a.ends_with("pouch-shim")) {
                return None;
            }
            let dir = args
                .iter()
                .map(Path::new)
                .find(|a| a.starts_with(&prefix))?;
            let id = dir.file_name()?.to_string_lossy().into_owned();
            Some((pid, id))
        })
        .collect()
}

/// Processes (pid, container id) in the cgroup of one of `ids`, in any hierarchy.
fn container_processes(ids: &BTreeSet<String>) -> Vec<(u32, String)> {
    pids()
        .into_iter()
        .filter_map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
            let id = ids.iter().find(|id| {
                text.lines()
                    .filter_map(|l| l.splitn(3, ':').nth(2))
                    .any(|path| path.split('/').any(|part| part == id.as_str()))
            })?;
            Some((pid, id.clone()))
        })
        .collect()
}

/// Cgroup directories named after one of `ids` under pouch's default parent, in every
/// hierarchy (cgroup v1, the hybrid's unified one, or a pure v2 root).
fn cgroup_dirs(ids: &BTreeSet<String>) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut hierarchies = vec![root.to_path_buf()];
    hierarchies.extend(
        std::fs::read_dir(root)
            .map(|rd| rd.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    let mut out = Vec::new();
    for h in hierarchies {
        for id in ids {
            let p = h.join("pouch").join(id);
            if p.is_dir() {
                out.push(p);
            }
        }
    }
    out
}

/// Mount points under `dir` in the mount table of `pid` (or of this process).
fn mounts_under(pid: Option<u32>, dir: &Path) -> Vec<String> {
    let file = match pid {
        Some(p) => format!("/proc/{p}/mountinfo"),
        None => "/proc/self/mountinfo".into(),
    };
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(dir))
        .map(str::to_string)
        .collect()
}

/// Everything of this daemon's containers still present after they were removed.
struct Leftovers {
    shims: Vec<(u32, String)>,
    procs: Vec<(u32, String)>,
    cgroups: Vec<PathBuf>,
    mounts: Vec<String>,
    /// Mounts under the daemon's directory seen from inside the leaked processes.
    ns_mounts: Vec<(u32, Vec<String>)>,
    netns: BTreeSet<String>,
    veths: Vec<String>,
    runtime_state: Vec<PathBuf>,
    state_dirs: BTreeSet<String>,
    container_dirs: BTreeSet<String>,
}

impl Leftovers {
    fn find(d: &Daemon, ids: &BTreeSet<String>) -> Leftovers {
        let base = d.dir.path();
        let procs = container_processes(ids);
        // A container's init keeps the shim's command line until it execs (created, never
        // started): count it once, as a container process.
        let shims: Vec<_> = shims_of(&d.exec_root)
            .into_iter()
            .filter(|(pid, _)| !procs.iter().any(|(p, _)| p == pid))
            .collect();
        let ns_mounts = shims
            .iter()
            .chain(&procs)
            .map(|(pid, _)| (*pid, mounts_under(Some(*pid), base)))
            .filter(|(_, m)| !m.is_empty())
            .collect();
        let mut veths: Vec<String> = entries(Path::new("/sys/class/net"))
            .into_iter()
            .filter(|n| {
                ids.iter()
                    .filter_map(|id| id.get(..10))
                    .any(|short| n.starts_with(&format!("vp{short}")))
            })
            .collect();
        veths.extend(entries(
            &Path::new("/sys/class/net").join(d.bridge()).join("brif"),
        ));
        veths.sort();
        veths.dedup();
        let runtime_state = entries(&d.exec_root.join("runtime"))
            .into_iter()
            .flat_map(|rt| {
                let dir = d.exec_root.join("runtime").join(rt);
                entries(&dir).into_iter().map(move |id| dir.join(id))
            })
            .collect();
        Leftovers {
            shims,
            procs,
            cgroups: cgroup_dirs(ids),
            mounts: mounts_under(None, base),
            ns_mounts,
            netns: entries(&d.exec_root.join("netns")),
            veths,
            runtime_state,
            state_dirs: entries(&d.exec_root.join("containers")),
            container_dirs: entries(&d.root.join("containers")),
        }
    }

    fn is_empty(&self) -> bool {
        self.shims.is_empty()
            && self.procs.is_empty()
            && self.cgroups.is_empty()
            && self.mounts.is_empty()
            && self.netns.is_empty()
            && self.veths.is_empty()
            && self.runtime_state.is_empty()
            && self.state_dirs.is_empty()
            && self.container_dirs.is_empty()
    }

    fn processes(&self) -> usize {
        self.shims.len() + self.procs.len()
    }

    fn report(&self) -> String {
        let containers: BTreeSet<&String> = self
            .shims
            .iter()
            .chain(&self.procs)
            .map(|(_, id)| id)
            .collect();
        format!(
            "{} shims {:?}\n{} container processes {:?} (of {} containers)\n\
             {} cgroups {:?}\n{} mounts on the host {:?}\n\
             mounts in leaked processes' namespaces {:?}\n\
             netns pins {:?}\nveths {:?}\nruntime state {:?}\nshim state dirs {:?}\n\
             container dirs {:?}",
            self.shims.len(),
            self.shims,
            self.procs.len(),
            self.procs,
            containers.len(),
            self.cgroups.len(),
            self.cgroups,
            self.mounts.len(),
            self.mounts,
            self.ns_mounts,
            self.netns,
            self.veths,
            self.runtime_state,
            self.state_dirs,
            self.container_dirs,
        )
    }

    /// Kills what the test's daemon leaked (only processes found to be this daemon's, by pid)
    /// and removes the cgroups and host mounts, so a failing run does not leak for good.
    fn clean_up(&self, d: &Daemon) {
        for (pid, _) in self.shims.iter().chain(&self.procs) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self
            .shims
            .iter()
            .chain(&self.procs)
            .any(|(pid, _)| Path::new(&format!("/proc/{pid}")).exists())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        for cg in &self.cgroups {
            let _ = std::fs::remove_dir(cg);
        }
        for m in self.mounts.iter().rev() {
            let _ = pouch_sys::mount::unmount(Path::new(m));
        }
        // Files in the test's own directory, so the next round starts from nothing.
        for dir in &self.runtime_state {
            let _ = std::fs::remove_dir_all(dir);
        }
        for id in &self.container_dirs {
            let _ = std::fs::remove_dir_all(d.root.join("containers").join(id));
        }
    }
}
