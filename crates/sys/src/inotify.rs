//! inotify(7): a blocking wait for changes in watched directories, without polling.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Something was written to a file in the directory.
pub const MODIFY: u32 = libc::IN_MODIFY;
/// A file was created in the directory.
pub const CREATE: u32 = libc::IN_CREATE;
/// A file was renamed into or out of the directory.
pub const MOVED: u32 = libc::IN_MOVED_FROM | libc::IN_MOVED_TO;
/// A file in the directory was deleted.
pub const DELETE: u32 = libc::IN_DELETE;
/// The watch is gone: the directory was deleted or the watch removed.
pub const IGNORED: u32 = libc::IN_IGNORED;
/// Events were lost because the queue overflowed (its `wd` is -1).
pub const OVERFLOW: u32 = libc::IN_Q_OVERFLOW;

/// One event: which watch, and what happened (the file name is not kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub wd: i32,
    pub mask: u32,
}

/// An inotify instance. Reading blocks until at least one event is queued.
#[derive(Debug)]
pub struct Inotify {
    file: File,
}

/// `struct inotify_event` without its name: wd, mask, cookie, len.
const HEADER: usize = 16;

impl Inotify {
    pub fn new() -> io::Result<Inotify> {
        // SAFETY: inotify_init1 takes only flags and returns a new descriptor or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Inotify {
            file: File::from(fd),
        })
    }

    /// Watches `path` for the events in `mask`; returns the watch descriptor (the same one
    /// again when the path is already watched, with its mask replaced).
    pub fn add_watch(&self, path: &Path, mask: u32) -> io::Result<i32> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
        // SAFETY: the descriptor is ours and open; `c` is a NUL-terminated string that lives
        // across the call.
        let wd = unsafe { libc::inotify_add_watch(self.file.as_raw_fd(), c.as_ptr(), mask) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(wd)
    }

    /// Stops watching; the kernel then queues an [`IGNORED`] event for `wd`.
    pub fn rm_watch(&self, wd: i32) -> io::Result<()> {
        // SAFETY: the descriptor is ours and open; an unknown `wd` is reported as EINVAL.
        if unsafe { libc::inotify_rm_watch(self.file.as_raw_fd(), wd) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits for events and calls `each` with every event of one read.
    pub fn read_events(&self, buf: &mut [u8], mut each: impl FnMut(Event)) -> io::Result<()> {
        let n = loop {
            match (&self.file).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        let mut at = 0;
        while at + HEADER <= n {
            let field = |i: usize| {
                let b = &buf[at + 4 * i..at + 4 * i + 4];
                u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
            };
            each(Event {
                wd: field(0) as i32,
                mask: field(1),
            });
            at += HEADER + field(3) as usize;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_writes_renames_and_removal_of_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ino = Inotify::new().unwrap();
        let wd = ino
            .add_watch(dir.path(), MODIFY | CREATE | MOVED | DELETE)
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let mut next = || {
            let mut got = Vec::new();
            ino.read_events(&mut buf, |e| got.push(e)).unwrap();
            got
        };
        let p = dir.path().join("a.log");
        std::fs::write(&p, b"x").unwrap();
        let got = next();
        assert!(got.iter().all(|e| e.wd == wd), "{got:?}");
        assert!(got.iter().any(|e| e.mask & CREATE != 0), "{got:?}");
        let mut seen_modify = got.iter().any(|e| e.mask & MODIFY != 0);
        while !seen_modify {
            seen_modify = next().iter().any(|e| e.mask & MODIFY != 0);
        }
        std::fs::rename(&p, dir.path().join("a.log.1")).unwrap();
        assert!(next().iter().any(|e| e.mask & MOVED != 0));
        ino.rm_watch(wd).unwrap();
        assert!(next().iter().any(|e| e.wd == wd && e.mask & IGNORED != 0));
    }
}
