//! The core of pouchd: one service per resource (containers, exec, images, distribution,
//! networks, volumes, system; see `services.rs`) over a shared context (store, content store,
//! snapshotter, events), and the reconciliation that makes a crash harmless. No HTTP and no gRPC
//! here: the server and CRI crates translate wire requests into these typed calls.

pub mod config;
mod containers;
mod context;
mod df;
pub mod error;
mod events;
mod hostcheck;
mod images;
mod lxcfs;
mod networks;
mod reload;
mod services;
mod store;
mod system;
pub mod userns;
mod volumes;

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pouch_image::{ContentStore, Snapshotter, UnpackOptions};
use pouch_sys::lock::LockFile;

pub use config::{Config, ReloadReport, Reloadable, RuntimeConfig};
pub use containers::{
    AttachStream, CommitOptions, ContainerStatus, ExecStarted, LogBatch, LogLine, LogOptions,
    LogRecord, Started, WaitCondition,
};
pub use error::{Error, ErrorKind, Result};
pub use events::event_matches;
pub use images::SavePlan;
pub use networks::NetworkConfig;
pub use services::{Containers, Distribution, Engine, Exec, Images, Networks, System, Volumes};

use context::Context;
use store::Store;

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
        let drivers = volumes::VolumeDrivers::open(config.root.join("volumes"))?;
        let unpack = UnpackOptions {
            allow_devices: config.allow_device_nodes,
        };
        let net = networks::NetState::new(&config.network);
        let ctx = Arc::new(Context {
            live: std::sync::RwLock::new(config.reloadable()),
            config,
            id,
            store,
            content,
            snaps,
            unpack,
            events: Default::default(),
            cgroup_layout: std::sync::OnceLock::new(),
            userns_fd: std::sync::OnceLock::new(),
            _root_lock: lock,
        });
        let engine = Engine::assemble(ctx, net, drivers);
        engine.reconcile()?;
        Ok(engine)
    }

    /// Drops what a crash left behind: staging dirs, partial blobs, and snapshots or blobs that no
    /// stored image references (written before their image's row was committed).
    fn reconcile(&self) -> Result<()> {
        let i = &self.images().ctx;
        i.content.clean_ingest()?;
        i.snaps.clean_staging()?;
        let tmp = i.config.root.join("tmp");
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        // No pull runs yet, so content GC takes everything no stored image references.
        let freed = self.images().gc_content()?;
        if freed > 0 {
            tracing::info!(
                freed,
                "removed unreferenced snapshots and blobs left by a crash"
            );
        }
        Ok(())
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
