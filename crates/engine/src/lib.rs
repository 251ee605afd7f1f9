//! The core of pouchd: images (and, as they arrive, containers, networks, volumes), the metadata
//! store and the reconciliation that makes a crash harmless. No HTTP and no gRPC here: the server
//! and CRI crates translate wire requests into these typed calls.

pub mod config;
mod containers;
mod df;
pub mod error;
mod events;
mod hostcheck;
mod images;
mod lxcfs;
mod networks;
mod store;
mod system;
pub mod userns;
mod volumes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pouch_image::{ContentStore, Snapshotter, UnpackOptions};
use pouch_sys::lock::LockFile;

pub use config::{Config, RuntimeConfig};
pub use containers::{
    AttachStream, CommitOptions, ExecStarted, LogLine, LogOptions, Started, WaitCondition,
};
pub use error::{Error, ErrorKind, Result};
pub use events::event_matches;
pub use images::SavePlan;
pub use networks::NetworkConfig;

use store::Store;

/// A cheap handle to the engine; clones share one state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    id: String,
    store: Store,
    content: ContentStore,
    snaps: Snapshotter,
    unpack: UnpackOptions,
    /// Serialises image mutations (load, import, tag, delete, prune) so that a delete never removes
    /// a layer that a concurrent load has decided to reuse.
    image_lock: tokio::sync::Mutex<()>,
    live: containers::LiveMap,
    execs: containers::Execs,
    cgroup_layout: std::sync::OnceLock<pouch_runtime::spec::CgroupLayout>,
    events: events::Events,
    volumes: volumes::Volumes,
    lxcfs: lxcfs::Lxcfs,
    userns_fd: std::sync::OnceLock<std::os::fd::OwnedFd>,
    networks: networks::NetState,
    _root_lock: LockFile,
}

impl Engine {
    /// Opens (creating if needed) the root and exec-root, takes the root's lock, opens the store and
    /// removes whatever a crash left half-made.
    pub fn open(config: Config) -> Result<Engine> {
        for dir in [&config.root, &config.exec_root, &config.root.join("tmp")] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::internal(format!("cannot create {}: {e}", dir.display())))?;
        }
        let lock_path = config.root.join("pouchd.lock");
        let lock = LockFile::try_lock(&lock_path)
            .map_err(|e| Error::internal(format!("cannot lock {}: {e}", lock_path.display())))?
            .ok_or_else(|| {
                Error::conflict(format!(
                    "another pouchd is already using the root {} (it holds {}); stop it or pass \
                     a different --root",
                    config.root.display(),
                    lock_path.display()
                ))
            })?;
        let store = Store::open(&config.root.join("pouch.db"))?;
        let content = ContentStore::open(&config.root)?;
        let snaps = Snapshotter::open(&config.root)?;
        let id = engine_id(&config.root)?;
        let volumes = volumes::Volumes::open(config.root.join("volumes"))?;
        let unpack = UnpackOptions {
            allow_devices: config.allow_device_nodes,
        };
        let networks = networks::NetState::new(&config.network);
        let engine = Engine {
            inner: Arc::new(Inner {
                config,
                id,
                store,
                content,
                snaps,
                unpack,
                image_lock: tokio::sync::Mutex::new(()),
                live: Default::default(),
                execs: Default::default(),
                cgroup_layout: std::sync::OnceLock::new(),
                events: Default::default(),
                volumes,
                lxcfs: Default::default(),
                userns_fd: std::sync::OnceLock::new(),
                networks,
                _root_lock: lock,
            }),
        };
        engine.reconcile()?;
        Ok(engine)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Drops what a crash left behind: staging dirs, partial blobs, and snapshots or blobs that no
    /// stored image references (written before their image's row was committed).
    fn reconcile(&self) -> Result<()> {
        let i = &self.inner;
        i.content.clean_ingest()?;
        i.snaps.clean_staging()?;
        let tmp = i.config.root.join("tmp");
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        // No pull runs yet, so content GC takes everything no stored image references.
        let freed = self.gc_content()?;
        if freed > 0 {
            tracing::info!(
                freed,
                "removed unreferenced snapshots and blobs left by a crash"
            );
        }
        Ok(())
    }

    /// Runs blocking work (SQLite, file I/O) off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let e = self.clone();
        tokio::task::spawn_blocking(move || f(&e))
            .await
            .map_err(|e| Error::internal(format!("worker failed: {e}")))?
    }

    /// A fresh private directory under `<root>/tmp`, removed at the next start if a crash skips
    /// the caller's cleanup.
    fn temp_dir(&self, prefix: &str) -> Result<TempDir> {
        let n = now_nanos();
        let p = self
            .inner
            .config
            .root
            .join("tmp")
            .join(format!("{prefix}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The daemon's stable identity (`/info` `ID`), created on first start.
fn engine_id(root: &Path) -> Result<String> {
    let p = root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&p) {
        let s = s.trim();
        if !s.is_empty() {
            return Ok(s.to_string());
        }
    }
    let mut buf = [0u8; 16];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    let h = hex::encode(buf);
    let id = format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    let tmp = root.join("engine-id.tmp");
    std::fs::write(&tmp, &id)?;
    std::fs::rename(&tmp, &p)?;
    Ok(id)
}

pub(crate) fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
