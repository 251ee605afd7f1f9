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
mod remove;
mod security;
mod signal;
mod start;
mod stats;
mod update;
mod wait;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pouch_runtime::shim::ShimClient;
use tokio::sync::watch;

pub use attach::AttachStream;
pub use commit::CommitOptions;
pub use exec::ExecStarted;
pub(crate) use exec::Execs;
pub use logs::{LogLine, LogOptions};
pub use start::Started;
pub(crate) use start::find_init;
pub use wait::WaitCondition;

use crate::Containers;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::store::ContainerRecord;

/// Runtime-only state of one container.
pub(crate) struct Live {
    /// Serialises start, stop, restart and remove of this container.
    pub op: Arc<tokio::sync::Mutex<()>>,
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

impl Containers {
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
