//! `--userns-remap`: containers run in a user namespace where root is an unprivileged host uid
//! taken from /etc/subuid and /etc/subgid (docker's rules: `default` is the user `dockremap`,
//! whose ranges pouchd adds when missing; `user[:group]` names existing entries). Image layers
//! and the writable layer are mounted through idmapped mounts, so nothing is copied or chowned;
//! new local volumes belong to the remapped root.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use pouch_sys::userns::{IdMap, idmapped_bind, userns_fd};

use crate::Context;
use crate::error::{Error, Result};
use crate::store::ContainerRecord;

/// The id ranges containers are remapped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    /// The user the ranges belong to (`dockremap` for `default`).
    pub user: String,
    pub uid: u32,
    pub uid_size: u32,
    pub gid: u32,
    pub gid_size: u32,
}

impl Remap {
    pub fn uid_maps(&self) -> Vec<(u32, u32, u32)> {
        vec![(0, self.uid, self.uid_size)]
    }
    pub fn gid_maps(&self) -> Vec<(u32, u32, u32)> {
        vec![(0, self.gid, self.gid_size)]
    }
}

const DEFAULT_USER: &str = "dockremap";

/// `(start, count)` of the first range of `name` (or its numeric id) in a subid file.
fn find_range(text: &str, names: &[String]) -> Option<(u32, u32)> {
    text.lines().find_map(|l| {
        let mut f = l.trim().split(':');
        let (n, s, c) = (f.next()?, f.next()?, f.next()?);
        names
            .iter()
            .any(|x| x == n)
            .then(|| Some((s.parse().ok()?, c.parse().ok()?)))?
    })
}

fn id_of(file: &str, name: &str) -> Option<String> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name)).then(|| f.get(2).map(|s| s.to_string()))?
    })
}

/// Appends `name:start:65536` after the highest range in `path` (from 100000), as docker does
/// for `dockremap`.
fn add_range(path: &Path, name: &str) -> Result<(u32, u32)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let end = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(f.get(1)?.parse::<u64>().ok()? + f.get(2)?.parse::<u64>().ok()?)
        })
        .max()
        .unwrap_or(0)
        .max(100_000);
    let start = u32::try_from(end)
        .map_err(|_| Error::invalid(format!("{}: no room for a new range", path.display())))?;
    let mut new = text;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&format!("{name}:{start}:65536\n"));
    std::fs::write(path, new)
        .map_err(|e| Error::internal(format!("cannot add a range to {}: {e}", path.display())))?;
    Ok((start, 65536))
}

/// Resolves the daemon's `--userns-remap` value against /etc/subuid and /etc/subgid.
pub fn resolve_remap(spec: &str, subuid: &Path, subgid: &Path) -> Result<Remap> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u.to_string(), g.to_string()),
        None if spec == "default" => (DEFAULT_USER.to_string(), DEFAULT_USER.to_string()),
        None => (spec.to_string(), spec.to_string()),
    };
    if user.is_empty() || group.is_empty() {
        return Err(Error::invalid(format!(
            "invalid --userns-remap {spec:?}: use default, user or user:group"
        )));
    }
    let mut unames = vec![user.clone()];
    unames.extend(id_of("/etc/passwd", &user));
    let mut gnames = vec![group.clone()];
    gnames.extend(id_of("/etc/group", &group));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let missing = |what: &str, p: &Path, n: &str| {
        Error::invalid(format!(
            "--userns-remap {spec}: no {what} range for {n} in {}; add a line such as \
             {n}:100000:65536",
            p.display()
        ))
    };
    let (uid, uid_size) = match find_range(&read(subuid), &unames) {
        Some(r) => r,
        None if user == DEFAULT_USER => add_range(subuid, &user)?,
        None => return Err(missing("subordinate uid", subuid, &user)),
    };
    let (gid, gid_size) = match find_range(&read(subgid), &gnames) {
        Some(r) => r,
        None if group == DEFAULT_USER => add_range(subgid, &group)?,
        None => return Err(missing("subordinate gid", subgid, &group)),
    };
    Ok(Remap {
        user,
        uid,
        uid_size,
        gid,
        gid_size,
    })
}

impl Context {
    /// The remap a container runs with: the daemon's, unless it asked for `--userns host`.
    pub(crate) fn remap_for(&self, c: &ContainerRecord) -> Option<&Remap> {
        self.config
            .userns_remap
            .as_ref()
            .filter(|_| c.host_config.userns_mode != "host")
    }

    fn userns(&self) -> Result<&OwnedFd> {
        let remap = self
            .config
            .userns_remap
            .as_ref()
            .ok_or_else(|| Error::internal("no user namespace remapping configured"))?;
        if let Some(fd) = self.userns_fd.get() {
            return Ok(fd);
        }
        let m = |(c, h, s): (u32, u32, u32)| IdMap {
            container: c,
            host: h,
            size: s,
        };
        let uids: Vec<IdMap> = remap.uid_maps().into_iter().map(m).collect();
        let gids: Vec<IdMap> = remap.gid_maps().into_iter().map(m).collect();
        let fd = userns_fd(&uids, &gids)
            .map_err(|e| Error::internal(format!("user namespace for the remap: {e}")))?;
        Ok(self.userns_fd.get_or_init(|| fd))
    }

    /// Idmapped views of the image layers, for the overlay of a remapped container. They are
    /// detached again once the overlay holds them (overlayfs keeps private clones of its
    /// layers), so nothing is left to unmount. The writable layer is not idmapped: overlayfs
    /// creates its work files as host root, which an idmapped upper cannot represent
    /// (EOVERFLOW), so the upper dir holds remapped ids on disk, as docker's layers do.
    pub(crate) fn idmapped_layers(&self, id: &str, lower: &[PathBuf]) -> Result<IdmappedLayers> {
        let ns = self.userns()?;
        let base = self.container_dir(id).join("idmap");
        let mut out = IdmappedLayers {
            mounts: Vec::new(),
            lower: Vec::new(),
        };
        let mut bind = |src: &Path, dst: PathBuf| -> Result<()> {
            std::fs::create_dir_all(&dst)?;
            idmapped_bind(src, &dst, ns.as_fd()).map_err(|e| Error::internal(e.to_string()))?;
            out.mounts.push(dst);
            Ok(())
        };
        for (i, l) in lower.iter().enumerate() {
            bind(l, base.join(format!("l{i}")))?;
        }
        out.lower = (0..lower.len())
            .map(|i| base.join(format!("l{i}")))
            .collect();
        Ok(out)
    }

    fn userns_pin(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("userns").join(id)
    }

    /// Pins a user namespace for the container and makes its network namespace inside it (at
    /// the path the network setup then uses). Returns the user namespace's path.
    pub(crate) fn pin_container_userns(&self, c: &ContainerRecord, r: &Remap) -> Result<PathBuf> {
        let m = |(c, h, s): (u32, u32, u32)| IdMap {
            container: c,
            host: h,
            size: s,
        };
        let uids: Vec<IdMap> = r.uid_maps().into_iter().map(m).collect();
        let gids: Vec<IdMap> = r.gid_maps().into_iter().map(m).collect();
        let pin = self.userns_pin(&c.id);
        std::fs::create_dir_all(pin.parent().unwrap_or(&pin))?;
        let err = |e: std::io::Error| Error::internal(format!("user namespace: {e}"));
        pouch_sys::userns::pin_userns(&uids, &gids, &pin).map_err(err)?;
        let netns = self.netns_path(&c.id);
        std::fs::create_dir_all(netns.parent().unwrap_or(&netns))?;
        pouch_sys::userns::create_netns_in(&pin, &netns).map_err(err)?;
        Ok(pin)
    }

    /// Unpins a container's user namespace (after its exit or a failed start).
    pub(crate) fn release_userns(&self, id: &str) {
        let pin = self.userns_pin(id);
        if pin.exists() {
            let _ = pouch_sys::mount::unmount(&pin);
            let _ = std::fs::remove_file(&pin);
        }
    }

    /// Gives the remapped root the files pouch bind-mounts into a container.
    pub(crate) fn chown_for_remap(&self, remap: &Remap, paths: &[PathBuf]) {
        for p in paths {
            if let Err(e) = pouch_sys::fs::lchown(p, remap.uid, remap.gid) {
                tracing::warn!(path = %p.display(), "chown for userns remap: {e}");
            }
        }
    }
}

/// Temporary idmapped mounts; dropping detaches them.
pub(crate) struct IdmappedLayers {
    mounts: Vec<PathBuf>,
    pub lower: Vec<PathBuf>,
}

impl Drop for IdmappedLayers {
    fn drop(&mut self) {
        for m in &self.mounts {
            let _ = pouch_sys::mount::unmount(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_from_subid_files() {
        let t = tempfile::tempdir().unwrap();
        let (u, g) = (t.path().join("subuid"), t.path().join("subgid"));
        std::fs::write(&u, "alice:100000:65536\nbob:165536:65536\n").unwrap();
        std::fs::write(&g, "alice:100000:65536\n").unwrap();
        let r = resolve_remap("bob:alice", &u, &g).unwrap();
        assert_eq!((r.uid, r.uid_size, r.gid), (165536, 65536, 100000));
        assert!(resolve_remap("carol", &u, &g).is_err());
        // `default` adds dockremap after the highest range.
        let r = resolve_remap("default", &u, &g).unwrap();
        assert_eq!(
            (r.user.as_str(), r.uid, r.gid),
            ("dockremap", 231072, 165536)
        );
        assert!(
            std::fs::read_to_string(&u)
                .unwrap()
                .ends_with("dockremap:231072:65536\n")
        );
        // Stable on the next start.
        assert_eq!(resolve_remap("default", &u, &g).unwrap(), r);
    }
}
