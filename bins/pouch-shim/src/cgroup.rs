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
        let Some(rel) = &self.rel else { return };
        if let Ok(CgroupVersion::V2) = cgroup_version() {
            let _ = fs::remove_dir(Path::new(ROOT).join(rel));
            return;
        }
        // v1 or hybrid: one hierarchy per entry (cgroup2 included, at `unified`).
        let Ok(entries) = fs::read_dir(ROOT) else {
            return;
        };
        for e in entries.flatten() {
            let dir = e.path().join(rel);
            if dir.is_dir() {
                if let Err(err) = fs::remove_dir(&dir) {
                    tracing::warn!("cannot remove cgroup {}: {err}", dir.display());
                }
            }
        }
    }
}
