//! Snapshotter: one extracted layer stack per chain id, at `<root>/snapshots/<hex>/fs`, used as
//! overlayfs lowerdirs.
//!
//! Layers are only the diff of their own tar (whiteouts in overlay format), so the lowerdir list of
//! an image is the `fs` dirs of its chain ids, top first. A snapshot is extracted into
//! `snapshots/.tmp-*`, flushed to disk and renamed into place only when complete, so
//! `snapshots/<hex>` exists only for fully extracted layers; removal renames it away first for the
//! same reason. Leftover `.tmp-*` dirs after a crash are removed by [`Snapshotter::clean_staging`].

use std::fs;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Digest, list_dir};
use crate::error::{Error, IoContext, Result};
use crate::unpack::{UnpackOptions, apply_layer};

const STAGING_PREFIX: &str = ".tmp-";
const SIZE_FILE: &str = "size";

static STAGING_SEQ: AtomicU64 = AtomicU64::new(0);

/// The chain id of a layer: its diff id at the bottom of the stack, otherwise
/// `sha256("<parent chain id> <diff id>")` (OCI image spec).
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(p) => Digest::sha256_of(format!("{p} {diff_id}").as_bytes()),
    }
}

/// The snapshot directory under one root. Cheap to clone; all state is on disk.
#[derive(Clone, Debug)]
pub struct Snapshotter {
    root: PathBuf,
}

impl Snapshotter {
    pub fn open(root: &Path) -> Result<Snapshotter> {
        let root = root.join("snapshots");
        fs::create_dir_all(&root).ctx(|| format!("create {}", root.display()))?;
        Ok(Snapshotter { root })
    }

    /// The extracted tree of `chain` (an overlay lowerdir).
    pub fn dir(&self, chain: &Digest) -> PathBuf {
        self.root.join(chain.hex()).join("fs")
    }

    pub fn has(&self, chain: &Digest) -> bool {
        fs::symlink_metadata(self.dir(chain)).is_ok_and(|m| m.is_dir())
    }

    /// Extracts `layer` as snapshot `chain` and returns its unpacked size. If the snapshot exists
    /// already (or appears concurrently) the existing one is kept and its size returned.
    pub fn create(&self, chain: &Digest, layer: impl Read, opts: &UnpackOptions) -> Result<u64> {
        if self.has(chain) {
            return self.size(chain);
        }
        let staged = self.prepare()?;
        let size = apply_layer(layer, &staged.fs(), opts)?;
        if staged.commit(chain, size)? {
            Ok(size)
        } else {
            self.size(chain)
        }
    }

    /// Starts a snapshot whose chain id is not known yet or must be verified first: extract into
    /// [`Staged::fs`], then [`Staged::commit`]. Dropping it discards everything.
    pub(crate) fn prepare(&self) -> Result<Staged<'_>> {
        let name = format!(
            "{STAGING_PREFIX}{}-{}",
            std::process::id(),
            STAGING_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.root.join(name);
        fs::create_dir(&dir).ctx(|| format!("create {}", dir.display()))?;
        let fs_dir = dir.join("fs");
        fs::create_dir(&fs_dir).ctx(|| format!("create {}", fs_dir.display()))?;
        Ok(Staged {
            snaps: self,
            dir,
            committed: false,
        })
    }

    /// The unpacked size recorded for `chain` (recomputed from the tree if the record is lost).
    pub fn size(&self, chain: &Digest) -> Result<u64> {
        let base = self.root.join(chain.hex());
        if let Some(n) = fs::read_to_string(base.join(SIZE_FILE))
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return Ok(n);
        }
        if !self.has(chain) {
            return Err(Error::MissingBlob(format!(
                "snapshot {chain} does not exist"
            )));
        }
        tree_size(&base.join("fs")).ctx(|| format!("measure snapshot {chain}"))
    }

    /// Deletes a snapshot; deleting one that is not there succeeds.
    pub fn remove(&self, chain: &Digest) -> Result<()> {
        let dir = self.root.join(chain.hex());
        let doomed = self.root.join(format!(
            "{STAGING_PREFIX}rm-{}-{}",
            chain.hex(),
            STAGING_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::rename(&dir, &doomed) {
            Ok(()) => fs::remove_dir_all(&doomed).ctx(|| format!("remove {}", doomed.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("remove snapshot {chain}"), e)),
        }
    }

    /// Every complete snapshot, sorted.
    pub fn list(&self) -> Result<Vec<Digest>> {
        list_dir(&self.root)
    }

    /// Removes staging and half-removed directories left by a crash. Call at startup, before any
    /// snapshot is being created.
    pub fn clean_staging(&self) -> Result<()> {
        for entry in fs::read_dir(&self.root).ctx(|| format!("list {}", self.root.display()))? {
            let entry = entry.ctx(|| format!("list {}", self.root.display()))?;
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(STAGING_PREFIX)
            {
                let path = entry.path();
                fs::remove_dir_all(&path).ctx(|| format!("remove {}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// A snapshot being extracted; removed on drop unless committed.
pub(crate) struct Staged<'a> {
    snaps: &'a Snapshotter,
    dir: PathBuf,
    committed: bool,
}

impl Staged<'_> {
    /// Where to extract the layer.
    pub(crate) fn fs(&self) -> PathBuf {
        self.dir.join("fs")
    }

    /// Publishes the snapshot as `chain`. Returns false (and discards this copy) when the snapshot
    /// already exists.
    pub(crate) fn commit(mut self, chain: &Digest, size: u64) -> Result<bool> {
        let size_file = self.dir.join(SIZE_FILE);
        fs::write(&size_file, size.to_string()).ctx(|| format!("write {}", size_file.display()))?;
        // Flush the extracted files before the rename makes them look complete.
        let dir = fs::File::open(&self.dir).ctx(|| format!("open {}", self.dir.display()))?;
        nix::unistd::syncfs(dir.as_raw_fd())
            .map_err(io::Error::from)
            .ctx(|| format!("sync {}", self.dir.display()))?;
        let dest = self.snaps.root.join(chain.hex());
        match fs::rename(&self.dir, &dest) {
            Ok(()) => {
                self.committed = true;
                Ok(true)
            }
            // rename(2) onto an existing snapshot fails because it is a non-empty directory.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => {
                Ok(false)
            }
            Err(e) => Err(Error::io(format!("publish snapshot {chain}"), e)),
        }
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if !self.committed
            && let Err(e) = fs::remove_dir_all(&self.dir)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.dir.display(), error = %e, "cannot remove snapshot staging");
        }
    }
}

/// Sum of regular file sizes under `dir`, each inode counted once.
fn tree_size(dir: &Path) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let m = entry.metadata()?;
            if m.is_dir() {
                stack.push(entry.path());
            } else if m.is_file() && seen.insert(m.ino()) {
                total += m.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TarBuf;

    fn snaps() -> (tempfile::TempDir, Snapshotter) {
        let dir = tempfile::tempdir().unwrap();
        let s = Snapshotter::open(dir.path()).unwrap();
        (dir, s)
    }

    fn entries(s: &Snapshotter) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(&s.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        assert_eq!(chain_id(None, &a), a);
        assert_eq!(
            chain_id(Some(&a), &b),
            Digest::sha256_of(format!("{a} {b}").as_bytes())
        );
    }

    #[test]
    fn create_list_remove() {
        let (_d, s) = snaps();
        let chain = Digest::sha256_of(b"layer");
        let tar = TarBuf::new().file("etc/hostname", b"box", 0o644).finish();
        assert_eq!(
            s.create(&chain, &tar[..], &UnpackOptions::default())
                .unwrap(),
            3
        );
        assert!(s.has(&chain));
        assert_eq!(
            fs::read(s.dir(&chain).join("etc/hostname")).unwrap(),
            b"box"
        );
        assert_eq!(s.list().unwrap(), vec![chain.clone()]);
        // Existing: kept, size reported, no staging left behind.
        let other = TarBuf::new().file("x", b"12345", 0o644).finish();
        assert_eq!(
            s.create(&chain, &other[..], &UnpackOptions::default())
                .unwrap(),
            3
        );
        assert!(!s.dir(&chain).join("x").exists());
        fs::remove_file(s.root.join(chain.hex()).join(SIZE_FILE)).unwrap();
        assert_eq!(s.size(&chain).unwrap(), 3);
        assert_eq!(entries(&s), vec![chain.hex().to_owned()]);
        s.remove(&chain).unwrap();
        s.remove(&chain).unwrap();
        assert!(entries(&s).is_empty());
    }

    #[test]
    fn failed_extraction_leaves_nothing() {
        let (_d, s) = snaps();
        let chain = Digest::sha256_of(b"bad");
        let tar = TarBuf::new()
            .symlink("l", "/etc")
            .file("l/passwd", b"x", 0o644)
            .finish();
        assert!(matches!(
            s.create(&chain, &tar[..], &UnpackOptions::default()),
            Err(Error::UnsafeLayer(_))
        ));
        assert!(entries(&s).is_empty());
    }

    #[test]
    fn concurrent_commit_keeps_the_first() {
        let (_d, s) = snaps();
        let chain = Digest::sha256_of(b"c");
        let first = s.prepare().unwrap();
        let second = s.prepare().unwrap();
        fs::write(first.fs().join("a"), b"1").unwrap();
        assert!(first.commit(&chain, 1).unwrap());
        assert!(!second.commit(&chain, 1).unwrap());
        assert_eq!(entries(&s), vec![chain.hex().to_owned()]);
        fs::create_dir(s.root.join(".tmp-999-1")).unwrap();
        s.clean_staging().unwrap();
        assert_eq!(entries(&s), vec![chain.hex().to_owned()]);
    }
}
