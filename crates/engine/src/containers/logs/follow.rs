//! `logs --follow`: reading what the shim appends, across rotations, woken by inotify instead of
//! polling, until the container stops or the client leaves.
//!
//! The follower holds the file it reads open. A rotation renames that file (or, with one file,
//! unlinks it) and never writes to it again, so once the live path names another file, reading
//! the held one to its end gets everything, and the next file is the one rotated after it:
//! found by its position among `<log>.1`, `<log>.2`, … — which is right even when several
//! rotations happened while the follower was busy.

use std::fs::{File, Metadata};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Reader;
use super::files::{numbered, read_lines, rotated, same_file};
use super::watch::{self, Wake};
use crate::error::Result;

/// Without inotify (no instance, or no watch), followers look again this often.
const FALLBACK_POLL: Duration = Duration::from_millis(250);

/// Set by the daemon side when the follower should finish: the container stopped, or the
/// client left. `wake` makes a waiting follower look at once.
#[derive(Default, Clone)]
pub(crate) struct Stop {
    pub(crate) flag: Arc<AtomicBool>,
    pub(crate) wake: Arc<Wake>,
}

impl Stop {
    pub(crate) fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.wake.wake();
    }
}

/// Follows the log from `off` in `cur` (the live file when the history was read, if any).
pub(super) fn follow(
    r: &mut Reader<'_>,
    path: &Path,
    mut cur: Option<File>,
    mut off: u64,
    buf: &mut Vec<u8>,
    stop: &Stop,
) -> Result<()> {
    let sub = path
        .parent()
        .and_then(|dir| watch::subscribe(dir, &stop.wake));
    let timeout = sub.is_none().then_some(FALLBACK_POLL);
    loop {
        // Read the stop flag first: whatever was logged before it was set is read below.
        let stopping = stop.flag.load(Ordering::SeqCst);
        let live = std::fs::metadata(path).ok();
        if cur.is_none() && live.is_some() {
            cur = File::open(path).ok();
            off = 0;
        }
        if let Some(file) = &cur {
            let meta = file.metadata()?;
            // Checked before reading: a rotation happens after the last write to the file.
            let rotated = !live.as_ref().is_some_and(|l| same_file(l, &meta));
            if meta.len() < off {
                off = 0; // truncated in place
            }
            let (o, stopped) = read_lines(file, off, None, buf, |l| r.line(l))?;
            off = o;
            if stopped || !r.send() {
                return Ok(());
            }
            if rotated && let Some(next) = next_file(path, &meta) {
                cur = Some(next);
                off = 0;
                continue;
            }
        }
        if stopping {
            return Ok(());
        }
        stop.wake.wait(timeout);
    }
}

/// The file written after `cur` (which is no longer the live file): the next newer rotated
/// file, the live file, or — when `cur` was rotated away entirely — the oldest file left.
/// `None` while that file does not exist yet (mid-rotation).
fn next_file(path: &Path, cur: &Metadata) -> Option<File> {
    for _ in 0..3 {
        let mut files = rotated(path);
        let at = files
            .iter()
            .position(|(_, f)| f.metadata().is_ok_and(|m| same_file(&m, cur)));
        match at {
            Some(0) => {
                let live = File::open(path).ok()?;
                // Still `.1` after opening the live file: no rotation in between, so the live
                // file is the one that came after it.
                if std::fs::metadata(numbered(path, 1)).is_ok_and(|m| same_file(&m, cur)) {
                    return Some(live);
                }
            }
            Some(i) => return Some(files.swap_remove(i - 1).1),
            None => {
                return files
                    .pop()
                    .map(|(_, f)| f)
                    .or_else(|| File::open(path).ok());
            }
        }
    }
    File::open(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_next_file_is_the_one_rotated_after() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let write = |p: &Path, s: &str| {
            std::fs::File::create(p)
                .unwrap()
                .write_all(s.as_bytes())
                .unwrap()
        };
        write(&numbered(&p, 3), "a");
        write(&numbered(&p, 2), "b");
        write(&numbered(&p, 1), "c");
        write(&p, "d");
        let meta = |p: &Path| std::fs::metadata(p).unwrap();
        let content = |f: File| std::io::read_to_string(f).unwrap();
        assert_eq!(
            content(next_file(&p, &meta(&numbered(&p, 3))).unwrap()),
            "b"
        );
        assert_eq!(
            content(next_file(&p, &meta(&numbered(&p, 2))).unwrap()),
            "c"
        );
        assert_eq!(
            content(next_file(&p, &meta(&numbered(&p, 1))).unwrap()),
            "d"
        );
        // A file rotated away entirely: the oldest that is left comes next.
        let gone = File::open(numbered(&p, 3)).unwrap().metadata().unwrap();
        std::fs::remove_file(numbered(&p, 3)).unwrap();
        assert_eq!(content(next_file(&p, &gone).unwrap()), "b");
        // Mid-rotation, with no live file yet: nothing to switch to.
        let live = meta(&p);
        std::fs::rename(numbered(&p, 2), numbered(&p, 3)).unwrap();
        std::fs::rename(numbered(&p, 1), numbered(&p, 2)).unwrap();
        std::fs::rename(&p, numbered(&p, 1)).unwrap();
        assert!(next_file(&p, &live).is_none());
    }

    /// A writer that logs and rotates like the shim (keeping every file) while a follower
    /// reads: every line arrives once and in order, however the two interleave — also when
    /// several rotations happen while the follower is busy.
    #[test]
    fn follows_across_rotations_without_losing_or_repeating_lines() {
        use super::super::{LogBatch, LogOptions, Reader};
        const LINES: usize = 3000;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        std::fs::File::create(&p).unwrap();
        let opts = LogOptions {
            stdout: true,
            stderr: true,
            follow: true,
            ..LogOptions::default()
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<LogBatch>(4);
        let stop = Stop::default();
        let follower = std::thread::spawn({
            let (p, stop) = (p.clone(), stop.clone());
            move || {
                let mut r = Reader::new(&opts, &tx);
                let mut buf = Vec::new();
                let cur = File::open(&p).ok();
                follow(&mut r, &p, cur, 0, &mut buf, &stop).unwrap();
            }
        });
        let writer = std::thread::spawn({
            let (p, stop) = (p.clone(), stop.clone());
            move || {
                let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
                let mut rotated = 0;
                for i in 0..LINES {
                    if i % 20 == 19 {
                        for n in (1..=rotated).rev() {
                            std::fs::rename(numbered(&p, n), numbered(&p, n + 1)).unwrap();
                        }
                        std::fs::rename(&p, numbered(&p, 1)).unwrap();
                        rotated += 1;
                        f = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&p)
                            .unwrap();
                    }
                    let line = format!(
                        "{{\"log\":\"{i}\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00Z\"}}\n"
                    );
                    f.write_all(line.as_bytes()).unwrap();
                }
                // The container stopped: everything it logged is on disk.
                stop.stop();
            }
        });
        let mut got = Vec::new();
        while let Some(b) = rx.blocking_recv() {
            got.extend(
                b.iter()
                    .map(|r| String::from_utf8(r.data.to_vec()).unwrap()),
            );
        }
        writer.join().unwrap();
        follower.join().unwrap();
        let nums: Vec<usize> = got.iter().map(|s| s.trim_end().parse().unwrap()).collect();
        assert_eq!(nums, (0..LINES).collect::<Vec<_>>());
    }
}
