//! The container's cgroup as far as the shim cares: the OOM-kill counter (for
//! `ExitInfo::oom_killed`) and removing leaf directories a failed create may leave behind.
//!
//! OOM detection is best effort: cgroup v1 exposes `oom_kill` in `memory.oom_control` (kernel
//! ≥ 4.13), v2 in `memory.events`. The shim samples the counter after create and again after
//! init has exited (before the runtime deletes the cgroup); any increase means the kernel
//! OOM-killed a process of this container — not necessarily init, which is also what docker
//! reports. Without a memory controller or an absolute `cgroupsPath` it reports false.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use pouch_sys::host::{CgroupVersion, cgroup_version};

const ROOT: &str = "/sys/fs/cgroup";

pub struct Cgroup {
    /// `linux.cgroupsPath` of the spec, relative to each hierarchy root.
    rel: Option<PathBuf>,
}

impl Cgroup {
    /// Reads the cgroup path from the bundle's `config.json`.
    pub fn from_bundle(bundle: &Path) -> Cgroup {
        let rel = fs::read(bundle.join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["linux"]["cgroupsPath"].as_str().map(str::to_owned))
            // Only absolute paths mean the same thing to every runtime (see the probe notes).
            .and_then(|p| p.strip_prefix('/').map(PathBuf::from))
            .filter(|p| !p.as_os_str().is_empty());
        Cgroup { rel }
    }

    /// The OOM-kill counter of the container's memory cgroup, if there is one.
    pub fn oom_kills(&self) -> Option<u64> {
        let rel = self.rel.as_ref()?;
        let v1 = Path::new(ROOT).join("memory").join(rel);
        let (file, key) = if v1.is_dir() {
            (v1.join("memory.oom_control"), "oom_kill")
        } else {
            (Path::new(ROOT).join(rel).join("memory.events"), "oom_kill")
        };
        let text = fs::read_to_string(file).ok()?;
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
    }

    /// Removes the container's (empty) leaf directory from every hierarchy. Used after a
    /// failed create, where the runtime may not have recorded enough state to clean up.
    pub fn remove_leftovers(&self) {
        for dir in self.dirs() {
            // Hierarchies mounted together (`cpu` and `cpuacct`) list the same directory twice.
            match fs::remove_dir(&dir) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!("cannot remove cgroup {}: {err}", dir.display());
                }
                _ => {}
            }
        }
    }

    /// SIGKILLs every process left in the container's cgroup, in every hierarchy, until none
    /// is left or `timeout` passes (a process may fork meanwhile); returns how many remain.
    /// For a container whose runtime lost track of it (its shim was killed mid-create).
    pub fn kill_all(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        // A frozen process cannot die: thaw a paused container first (v1 freezer, v2 freeze).
        for dir in self.dirs() {
            for (file, thawed) in [("freezer.state", "THAWED"), ("cgroup.freeze", "0")] {
                let f = dir.join(file);
                if f.exists() {
                    let _ = fs::write(f, thawed);
                }
            }
        }
        loop {
            let pids: Vec<i32> = self
                .dirs()
                .iter()
                .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
                .flat_map(|t| {
                    t.lines()
                        .filter_map(|l| l.trim().parse().ok())
                        .collect::<Vec<i32>>()
                })
                .collect();
            if pids.is_empty() || Instant::now() >= deadline {
                return pids.len();
            }
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The container's directory in every hierarchy that has one.
    fn dirs(&self) -> Vec<PathBuf> {
        let Some(rel) = &self.rel else {
            return Vec::new();
        };
        if let Ok(CgroupVersion::V2) = cgroup_version() {
            let dir = Path::new(ROOT).join(rel);
            return if dir.is_dir() { vec![dir] } else { Vec::new() };
        }
        // v1 or hybrid: one hierarchy per entry (cgroup2 included, at `unified`).
        let Ok(entries) = fs::read_dir(ROOT) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|e| e.path().join(rel))
            .filter(|d| d.is_dir())
            .collect()
    }
}
