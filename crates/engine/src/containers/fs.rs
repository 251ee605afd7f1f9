//! Looking at a container's filesystem: `export` (a tarball of the rootfs), `changes` (what the
//! container changed against its image) and `top` (its processes).

use std::io::Write;
use std::path::{Path, PathBuf};

use pouch_api::types::{ContainerChange, TopResponse};
use pouch_image::Digest;

use crate::Containers;
use crate::context::Blocking;
use crate::error::{Error, Result};

impl Containers {
    /// Writes the container's rootfs as a tar stream, mounting it for the duration when stopped.
    pub async fn export_container(&self, name: &str, out: Box<dyn Write + Send>) -> Result<()> {
        self.with_mounted_rootfs(name, move |_, _, rootfs| {
            let mut b = tar::Builder::new(out);
            b.follow_symlinks(false);
            b.append_dir_all(".", rootfs)
                .and_then(|_| b.finish())
                .map_err(|err| Error::internal(format!("exporting container: {err}")))
        })
        .await
    }

    /// Runs `f` (blocking) with the container's rootfs mounted: as it is while the container
    /// runs, or mounted for the duration when it is stopped. Serialised with start, stop and rm.
    pub(crate) async fn with_mounted_rootfs<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce(&Containers, &crate::store::ContainerRecord, &Path) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let c = self.ctx.resolve_container(name)?;
        let live = self.live.get(&c.id);
        let _op = live.op.lock().await;
        self.blocking(move |e| {
            let rootfs = e.ctx.container_rootfs(&c.id);
            let mounted_here = !pouch_sys::mount::is_mounted(&rootfs);
            if mounted_here {
                e.mount_container_rootfs(&c)?;
            }
            let r = f(e, &c, &rootfs);
            if mounted_here {
                let _ = pouch_sys::mount::unmount(&rootfs);
            }
            r
        })
        .await
    }

    /// `GET /containers/{id}/changes`: `Kind` 0 = modified, 1 = added, 2 = deleted.
    pub async fn container_changes(&self, name: &str) -> Result<Vec<ContainerChange>> {
        let c = self.ctx.resolve_container(name)?;
        self.blocking(move |e| {
            let upper = e.ctx.container_dir(&c.id).join("rw/upper");
            let lowers: Vec<PathBuf> = e
                .ctx
                .store
                .layers(&c.image_id)?
                .iter()
                .filter_map(|l| Digest::parse(&l.chain_id).ok())
                .map(|d| e.ctx.snaps.dir(&d))
                .collect();
            let mut out = Vec::new();
            walk_changes(&upper, Path::new("/"), &lowers, &mut out);
            Ok(out)
        })
        .await
    }

    /// `GET /containers/{id}/top`: `ps` output for the container's processes only.
    pub async fn container_top(&self, name: &str, ps_args: &str) -> Result<TopResponse> {
        let c = self.ctx.resolve_container(name)?;
        if !c.state.status.is_running() {
            return Err(Error::conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        let pids = container_pids(&c.id);
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.split_whitespace().map(str::to_string).collect()
        };
        let out = tokio::process::Command::new("ps")
            .args(&args)
            .output()
            .await
            .map_err(|e| Error::internal(format!("running ps: {e}")))?;
        if !out.status.success() {
            return Err(Error::invalid(format!(
                "ps {ps_args}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let titles: Vec<String> = lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let pid_col = titles
            .iter()
            .position(|t| t == "PID")
            .ok_or_else(|| Error::invalid("Couldn't find PID field in ps output"))?;
        let procs: Vec<Vec<String>> = lines
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let pid: i64 = f.get(pid_col)?.parse().ok()?;
                if !pids.contains(&pid) {
                    return None;
                }
                // The last column (the command) may contain spaces.
                let mut row: Vec<String> = f[..titles.len() - 1]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                row.push(f[titles.len() - 1..].join(" "));
                Some(row)
            })
            .collect();
        Ok(TopResponse {
            processes: procs,
            titles,
        })
    }
}

/// The pids in the container's cgroup (any hierarchy that has it).
fn container_pids(id: &str) -> Vec<i64> {
    for base in [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup",
    ] {
        let p = Path::new(base).join("pouch").join(id).join("cgroup.procs");
        if let Ok(s) = std::fs::read_to_string(&p) {
            return s.lines().filter_map(|l| l.trim().parse().ok()).collect();
        }
    }
    Vec::new()
}

fn walk_changes(dir: &Path, rel: &Path, lowers: &[PathBuf], out: &mut Vec<ContainerChange>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = rel.join(e.file_name());
        let Ok(meta) = e.path().symlink_metadata() else {
            continue;
        };
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let in_lower = lowers.iter().any(|l| {
            l.join(path.strip_prefix("/").unwrap_or(&path))
                .symlink_metadata()
                .is_ok()
        });
        let kind = if meta.file_type().is_char_device() && meta.rdev() == 0 {
            2
        } else if in_lower {
            0
        } else {
            1
        };
        out.push(ContainerChange {
            kind,
            path: path.display().to_string(),
        });
        if meta.is_dir() {
            walk_changes(&e.path(), &path, lowers, out);
        }
    }
}
