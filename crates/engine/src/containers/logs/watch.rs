//! Waking log followers when their container's log directory changes: one inotify instance for
//! the whole daemon (instances are a scarce per-user resource; watches are not), one thread
//! reading it, and a [`Wake`] per follower that the thread — or anyone else — can set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Duration;

use pouch_sys::inotify::{self, Inotify};

/// What a follower waits on: set by the watcher on a change in its directory, and by whoever
/// else needs the follower to look again (its container stopped, its client left).
#[derive(Default)]
pub(crate) struct Wake {
    set: Mutex<bool>,
    cond: Condvar,
}

impl Wake {
    pub(crate) fn wake(&self) {
        *self.set.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_all();
    }

    /// Blocks until woken (at most `timeout` when given), then clears the wake-up. Returns
    /// whether it was woken.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> bool {
        let mut set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        while !*set {
            set = match timeout {
                None => self.cond.wait(set).unwrap_or_else(|e| e.into_inner()),
                Some(t) => {
                    let (s, r) = self
                        .cond
                        .wait_timeout(set, t)
                        .unwrap_or_else(|e| e.into_inner());
                    if r.timed_out() && !*s {
                        return false;
                    }
                    s
                }
            };
        }
        *set = false;
        true
    }
}

/// While this lives, changes in `dir` wake its [`Wake`].
pub(crate) struct Subscription {
    dir: PathBuf,
    wake: Arc<Wake>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(w) = watcher() {
            w.unsubscribe(&self.dir, &self.wake);
        }
    }
}

struct Watched {
    wd: i32,
    wakes: Vec<Weak<Wake>>,
}

struct Watcher {
    inotify: Inotify,
    dirs: Mutex<HashMap<PathBuf, Watched>>,
}

const MASK: u32 = inotify::MODIFY | inotify::CREATE | inotify::MOVED | inotify::DELETE;

fn watcher() -> Option<&'static Arc<Watcher>> {
    static WATCHER: OnceLock<Option<Arc<Watcher>>> = OnceLock::new();
    WATCHER
        .get_or_init(|| {
            let inotify = match Inotify::new() {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!("inotify unavailable, log followers will poll: {e}");
                    return None;
                }
            };
            let w = Arc::new(Watcher {
                inotify,
                dirs: Mutex::new(HashMap::new()),
            });
            let reader = Arc::clone(&w);
            let spawned = std::thread::Builder::new()
                .name("log-watch".into())
                .spawn(move || reader.run());
            match spawned {
                Ok(_) => Some(w),
                Err(e) => {
                    tracing::warn!("cannot start the log watcher, log followers will poll: {e}");
                    None
                }
            }
        })
        .as_ref()
}

/// Wakes `wake` on every change in `dir`. `None` when inotify cannot watch it: the caller then
/// has to wait with a timeout.
pub(crate) fn subscribe(dir: &Path, wake: &Arc<Wake>) -> Option<Subscription> {
    let w = watcher()?;
    let mut dirs = w.dirs.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = dirs.get_mut(dir) {
        entry.wakes.push(Arc::downgrade(wake));
    } else {
        let wd = match w.inotify.add_watch(dir, MASK) {
            Ok(wd) => wd,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "cannot watch the log directory, polling: {e}");
                return None;
            }
        };
        dirs.insert(
            dir.to_path_buf(),
            Watched {
                wd,
                wakes: vec![Arc::downgrade(wake)],
            },
        );
    }
    Some(Subscription {
        dir: dir.to_path_buf(),
        wake: Arc::clone(wake),
    })
}

impl Watcher {
    fn unsubscribe(&self, dir: &Path, wake: &Arc<Wake>) {
        let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = dirs.get_mut(dir) else {
            return;
        };
        let me = Arc::downgrade(wake);
        entry
            .wakes
            .retain(|w| !w.ptr_eq(&me) && w.strong_count() > 0);
        if entry.wakes.is_empty() {
            // An error means the kernel dropped the watch already (the directory is gone).
            let _ = self.inotify.rm_watch(entry.wd);
            dirs.remove(dir);
        }
    }

    fn run(&self) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let mut woken = Vec::new();
            let mut all = false;
            let read = self.inotify.read_events(&mut buf, |e| {
                if e.mask & inotify::OVERFLOW != 0 {
                    all = true;
                } else if !woken.contains(&e) {
                    woken.push(e);
                }
            });
            if let Err(e) = read {
                tracing::error!("reading inotify events: {e}");
                std::thread::sleep(Duration::from_secs(1));
                all = true;
            }
            let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
            for watched in dirs.values() {
                if all || woken.iter().any(|e| e.wd == watched.wd) {
                    watched
                        .wakes
                        .iter()
                        .filter_map(Weak::upgrade)
                        .for_each(|w| w.wake());
                }
            }
            // The kernel dropped these watches (their directory was deleted).
            dirs.retain(|_, w| {
                !woken
                    .iter()
                    .any(|e| e.wd == w.wd && e.mask & inotify::IGNORED != 0)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_in_the_directory_wakes_the_subscriber() {
        let dir = tempfile::tempdir().unwrap();
        let wake = Arc::new(Wake::default());
        let sub = subscribe(dir.path(), &wake).expect("inotify works here");
        std::fs::write(dir.path().join("x-json.log"), b"{}\n").unwrap();
        // Bounded so a broken watcher fails the test instead of hanging it.
        assert!(wake.wait(Some(Duration::from_secs(30))), "not woken");
        drop(sub);
        let dirs = watcher().unwrap().dirs.lock().unwrap();
        assert!(!dirs.contains_key(dir.path()));
    }
}
