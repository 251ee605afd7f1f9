//! Containers: one file per operation. The store holds what must survive a restart; `Live` holds
//! what only a running daemon has (the shim connection, waiters, pending attaches).

mod archive;
mod attach;
mod commit;
mod create;
mod exec;
mod exit;
mod fs;
mod lifecycle;
mod logs;
mod mounts;
mod query;
mod quota;
mod reconcile;
mod remove;
mod security;
mod signal;
mod start;
mod state;
mod stats;
mod update;
mod wait;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pouch_runtime::shim::{ExitInfo, ShimClient};
use tokio::sync::watch;

pub use attach::AttachStream;
pub use commit::CommitOptions;
pub use exec::ExecStarted;
pub(crate) use exec::Execs;
pub use logs::{LogBatch, LogLine, LogOptions, LogRecord};
pub use start::Started;
pub(crate) use start::find_init;
pub use state::ContainerStatus;
pub use wait::WaitCondition;

use crate::Containers;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::store::ContainerRecord;

/// Runtime-only state of one container.
pub(crate) struct Live {
    /// The container's operation lock. Every change of its state holds it: start, stop, kill,
    /// restart, pause, unpause, update, rename, remove, network connect/disconnect, and the
    /// recording of an exit.
    pub op: Arc<tokio::sync::Mutex<()>>,
    /// An exit the shim reported that is not recorded yet. The exit watcher posts it here, then
    /// takes the operation lock and records it; an operation that holds the lock and waits for
    /// the exit (stop) takes it from here and records it itself, so neither waits for the other.
    pub posted: watch::Sender<Option<ExitInfo>>,
    pub shim: Mutex<Option<ShimClient>>,
    /// Replaced after every recorded exit; waiters watch it.
    pub exits: watch::Sender<ExitMark>,
    /// Set once the container is gone from the store.
    pub removed: watch::Sender<bool>,
    /// Attach requests made before start, connected once the shim exists.
    pub pending: Mutex<Vec<attach::Pending>>,
}

impl Live {
    fn new() -> Live {
        Live {
            op: Arc::new(tokio::sync::Mutex::new(())),
            posted: watch::channel(None).0,
            shim: Mutex::new(None),
            exits: watch::channel(ExitMark::default()).0,
            removed: watch::channel(false).0,
            pending: Mutex::new(Vec::new()),
        }
    }

    pub fn shim(&self) -> Option<ShimClient> {
        self.shim.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_shim(&self, s: Option<ShimClient>) {
        *self.shim.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// Hands over an exit to be recorded by whoever holds the operation lock next.
    pub fn post_exit(&self, exit: ExitInfo) {
        self.posted.send_replace(Some(exit));
    }

    /// The posted exit, if nobody recorded it yet. Call with the operation lock held.
    pub fn take_exit(&self) -> Option<ExitInfo> {
        self.posted.send_replace(None)
    }
}

/// The latest recorded exit: `seq` counts exits since the daemon started.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExitMark {
    pub seq: u64,
    pub code: i64,
    pub error: String,
}

#[derive(Default)]
pub(crate) struct LiveMap(Mutex<HashMap<String, Arc<Live>>>);

impl LiveMap {
    pub fn get(&self, id: &str) -> Arc<Live> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(id.to_string())
            .or_insert_with(|| Arc::new(Live::new()))
            .clone()
    }

    pub fn forget(&self, id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// The per-container operation lock, for services other than `Containers` that change a
/// container (network connect/disconnect). Every operation on a container takes it.
#[derive(Clone)]
pub(crate) struct ContainerLocks(pub(crate) Arc<LiveMap>);

impl ContainerLocks {
    pub async fn lock(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.0.get(id).op.clone().lock_owned().await
    }
}

/// Paths and lookups every service uses for containers: they depend only on the config and the
/// store, so networks and volumes reach them without holding `Containers`.
impl Context {
    /// Finds a container by full id, name (with or without `/`) or unique id prefix.
    pub(crate) fn resolve_container(&self, name: &str) -> Result<ContainerRecord> {
        let store = &self.store;
        let no_such = || Error::not_found(format!("No such container: {name}"));
        if name.is_empty() {
            return Err(no_such());
        }
        if let Some(c) = store.container(name)? {
            return Ok(c);
        }
        if let Some(id) = store.container_by_name(name.strip_prefix('/').unwrap_or(name))? {
            return store.container(&id)?.ok_or_else(no_such);
        }
        if name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let ids = store.container_ids_with_prefix(&name.to_ascii_lowercase())?;
            match ids.as_slice() {
                [] => {}
                [id] => return store.container(id)?.ok_or_else(no_such),
                _ => {
                    return Err(Error::invalid(format!(
                        "multiple IDs found with provided prefix: {name}"
                    )));
                }
            }
        }
        Err(no_such())
    }

    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.config.root.join("containers").join(id)
    }

    /// Where the shim keeps its socket, pid and exit files, and the OCI bundle.
    pub(crate) fn container_state_dir(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("containers").join(id)
    }

    pub(crate) fn container_rootfs(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("rootfs")
    }

    pub(crate) fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }
}

/// A container's record read under its operation lock; the lock is held while this lives.
pub(crate) struct Locked {
    pub c: ContainerRecord,
    pub live: Arc<Live>,
    _op: tokio::sync::OwnedMutexGuard<()>,
}

impl Containers {
    /// Resolves `name`, takes the container's operation lock and reads its record again under
    /// it: what the caller sees cannot change until it drops the result.
    pub(crate) async fn lock_container(&self, name: &str) -> Result<Locked> {
        let c = self.ctx.resolve_container(name)?;
        let live = self.live.get(&c.id);
        let op = live.op.clone().lock_owned().await;
        let c = self
            .ctx
            .store
            .container(&c.id)?
            .ok_or_else(|| Error::not_found(format!("No such container: {name}")))?;
        Ok(Locked { c, live, _op: op })
    }

    pub(crate) fn save_state(&self, c: &ContainerRecord) -> Result<()> {
        self.ctx.store.update_container_state(&c.id, &c.state)
    }
}

/// `n` random bytes as lower-case hex.
pub(crate) fn random_hex(n: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(hex::encode(buf))
}
