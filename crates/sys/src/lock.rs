//! Advisory whole-file locks that die with their holder, used so two daemons never share a root.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// An exclusive `flock` held for as long as the value lives (and released by the kernel when the
/// process dies, so a crashed daemon never leaves a stale lock behind).
#[derive(Debug)]
pub struct LockFile {
    _lock: Flock<File>,
}

impl LockFile {
    /// Takes the lock without waiting. `Ok(None)` means another process holds it.
    pub fn try_lock(path: &Path) -> io::Result<Option<LockFile>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(LockFile { _lock: lock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(io::Error::from(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_in_another_open_file_description_fails() {
        let dir = std::env::temp_dir().join(format!("pouch-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("lock");
        let held = LockFile::try_lock(&p).unwrap();
        assert!(held.is_some());
        assert!(LockFile::try_lock(&p).unwrap().is_none());
        drop(held);
        assert!(LockFile::try_lock(&p).unwrap().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
