//! Content store: immutable blobs addressed by their sha256, at `<root>/content/blobs/sha256/<hex>`.
//!
//! Blobs are written to `<root>/content/ingest` first, hashed while written, fsynced and then
//! hard-linked into place, so a blob path either does not exist or holds exactly the bytes its name
//! promises, even after a crash. Linking (rather than renaming) also tells the writer atomically
//! whether it created the blob or found it already there, which callers need to undo only their
//! own work.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use crate::digest::{Digest, list_dir};
use crate::error::{Error, IoContext, Result};

static INGEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// The blob store under one root directory. Cheap to clone; all state is on disk.
#[derive(Clone, Debug)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

/// The outcome of publishing a blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Committed {
    pub digest: Digest,
    pub size: u64,
    /// False when an identical blob was already in the store.
    pub created: bool,
}

impl ContentStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let blobs = root.join("content/blobs/sha256");
        let ingest = root.join("content/ingest");
        for dir in [&blobs, &ingest] {
            fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
        }
        Ok(ContentStore { blobs, ingest })
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.hex())
    }

    pub fn has(&self, d: &Digest) -> bool {
        fs::symlink_metadata(self.blob_path(d)).is_ok_and(|m| m.is_file())
    }

    /// Starts a new blob; nothing is visible in the store until [`BlobWriter::commit`].
    pub fn writer(&self) -> Result<BlobWriter> {
        let name = format!(
            "{}-{}",
            std::process::id(),
            INGEST_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.ingest.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .ctx(|| format!("create {}", path.display()))?;
        Ok(BlobWriter {
            file,
            path,
            blobs: self.blobs.clone(),
            sha: Sha256::new(),
            len: 0,
            error: None,
        })
    }

    /// Stores `bytes`, checking them against `expected` first when given.
    pub fn put(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        Ok(self.put_new(bytes, expected)?.digest)
    }

    /// Like [`ContentStore::put`], also telling whether the blob is new.
    pub(crate) fn put_new(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Committed> {
        let digest = Digest::sha256_of(bytes);
        check(expected, &digest)?;
        if self.has(&digest) {
            return Ok(Committed {
                digest,
                size: bytes.len() as u64,
                created: false,
            });
        }
        let mut w = self.writer()?;
        w.write_all(bytes).ctx(|| "write blob")?;
        w.commit_new(Some(&digest))
    }

    /// Reads a whole blob, verifying its digest so on-disk corruption is never passed on.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_blob(d)?
            .read_to_end(&mut bytes)
            .ctx(|| format!("read blob {d}"))?;
        let actual = Digest::sha256_of(&bytes);
        if &actual != d {
            return Err(Error::io(
                format!("blob {d} is corrupt"),
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("content hashes to {actual}"),
                ),
            ));
        }
        Ok(bytes)
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        File::open(self.blob_path(d)).map_err(|e| missing_or_io(d, e))
    }

    pub fn size(&self, d: &Digest) -> Result<u64> {
        fs::metadata(self.blob_path(d))
            .map(|m| m.len())
            .map_err(|e| missing_or_io(d, e))
    }

    /// Deletes a blob; deleting one that is not there succeeds.
    pub fn remove(&self, d: &Digest) -> Result<()> {
        match fs::remove_file(self.blob_path(d)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io(format!("remove blob {d}"), e))
            }
            _ => Ok(()),
        }
    }

    /// Every blob in the store, sorted.
    pub fn list(&self) -> Result<Vec<Digest>> {
        list_dir(&self.blobs)
    }

    /// Deletes leftovers of writes interrupted by a crash. Call at startup, before any writer
    /// exists: it removes everything in the ingest directory.
    pub fn clean_ingest(&self) -> Result<()> {
        for entry in fs::read_dir(&self.ingest).ctx(|| format!("list {}", self.ingest.display()))? {
            let path = entry
                .ctx(|| format!("list {}", self.ingest.display()))?
                .path();
            let res = match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
            if let Err(e) = res
                && e.kind() != io::ErrorKind::NotFound
            {
                return Err(Error::io(format!("remove {}", path.display()), e));
            }
        }
        Ok(())
    }
}

fn missing_or_io(d: &Digest, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        Error::MissingBlob(format!("blob {d} is not in the content store"))
    } else {
        Error::io(format!("open blob {d}"), e)
    }
}

fn check(expected: Option<&Digest>, actual: &Digest) -> Result<()> {
    match expected {
        Some(e) if e != actual => Err(Error::DigestMismatch {
            what: "blob".to_owned(),
            expected: e.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

/// A blob being written. Dropping it without [`BlobWriter::commit`] discards the temp file.
#[derive(Debug)]
pub struct BlobWriter {
    file: File,
    path: PathBuf,
    blobs: PathBuf,
    sha: Sha256,
    len: u64,
    /// First write failure: a later commit must not publish a blob with a hole in it.
    error: Option<io::ErrorKind>,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first write failure, so a caller reading through a tee can report the host error
    /// instead of the read error it surfaced as.
    pub(crate) fn write_error(&self) -> Option<io::Error> {
        self.error.map(io::Error::from)
    }

    /// Publishes the blob under its digest after fsync. Fails with [`Error::DigestMismatch`] (and
    /// keeps nothing) when `expected` is given and differs. Committing a blob that already exists
    /// succeeds and leaves the existing file alone.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let c = self.commit_new(expected)?;
        Ok((c.digest, c.size))
    }

    pub(crate) fn commit_new(self, expected: Option<&Digest>) -> Result<Committed> {
        if let Some(kind) = self.error {
            return Err(Error::io("write blob", io::Error::from(kind)));
        }
        let digest = Digest::from_sha256(self.sha.clone());
        check(expected, &digest)?;
        self.file
            .sync_all()
            .ctx(|| format!("sync {}", self.path.display()))?;
        let dest = self.blobs.join(digest.hex());
        let created = match fs::hard_link(&self.path, &dest) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(Error::io(format!("publish blob {digest}"), e)),
        };
        if created {
            File::open(&self.blobs)
                .and_then(|d| d.sync_all())
                .ctx(|| format!("sync {}", self.blobs.display()))?;
        }
        Ok(Committed {
            digest,
            size: self.len,
            created,
        })
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(kind) = self.error {
            return Err(io::Error::new(kind, "earlier write to blob failed"));
        }
        match self.file.write(buf) {
            Ok(n) => {
                self.sha.update(&buf[..n]);
                self.len += n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.error = Some(e.kind());
                }
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a commit the blob lives on under its digest name; this only drops the temp name.
        if let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove ingest file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        (dir, cs)
    }

    fn ingest_is_empty(cs: &ContentStore) -> bool {
        fs::read_dir(&cs.ingest).unwrap().next().is_none()
    }

    #[test]
    fn put_read_list_remove() {
        let (_dir, cs) = store();
        let d = cs.put(b"abc", None).unwrap();
        assert_eq!(d, Digest::sha256_of(b"abc"));
        assert!(cs.has(&d));
        assert_eq!(cs.read(&d).unwrap(), b"abc");
        assert_eq!(cs.size(&d).unwrap(), 3);
        assert_eq!(cs.list().unwrap(), vec![d.clone()]);
        // Idempotent, and reports that nothing new was made.
        assert!(!cs.put_new(b"abc", Some(&d)).unwrap().created);
        cs.remove(&d).unwrap();
        cs.remove(&d).unwrap();
        assert!(!cs.has(&d));
        assert!(matches!(cs.read(&d), Err(Error::MissingBlob(_))));
        assert!(ingest_is_empty(&cs));
    }

    #[test]
    fn mismatch_keeps_nothing() {
        let (_dir, cs) = store();
        let wrong = Digest::sha256_of(b"other");
        assert!(matches!(
            cs.put(b"abc", Some(&wrong)),
            Err(Error::DigestMismatch { .. })
        ));
        let mut w = cs.writer().unwrap();
        w.write_all(b"abc").unwrap();
        assert!(matches!(
            w.commit(Some(&wrong)),
            Err(Error::DigestMismatch { .. })
        ));
        assert!(cs.list().unwrap().is_empty());
        assert!(ingest_is_empty(&cs));
    }

    #[test]
    fn writer_drop_and_clean_ingest() {
        let (_dir, cs) = store();
        let mut w = cs.writer().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert!(ingest_is_empty(&cs));
        fs::write(cs.ingest.join("leftover"), b"x").unwrap();
        cs.clean_ingest().unwrap();
        assert!(ingest_is_empty(&cs));
    }

    #[test]
    fn corrupt_blob_is_detected() {
        let (_dir, cs) = store();
        let d = cs.put(b"abc", None).unwrap();
        fs::write(cs.blob_path(&d), b"abd").unwrap();
        let err = cs.read(&d).unwrap_err();
        assert!(!err.is_invalid_input(), "{err}");
    }
}
