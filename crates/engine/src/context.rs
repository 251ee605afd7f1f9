//! What every service shares: the daemon's configuration and identity, the metadata store, the
//! content store and snapshotter, the event stream, and facts about the host read once. Services
//! hold it behind an `Arc`; it holds no per-resource runtime state (that lives in each service).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock};

use pouch_image::{ContentStore, Snapshotter, UnpackOptions};
use pouch_sys::lock::LockFile;

use crate::config::{Config, Reloadable};
use crate::error::{Error, Result};
use crate::events::Events;
use crate::now_nanos;
use crate::store::Store;

pub(crate) struct Context {
    /// The config the daemon started with. Its reloadable keys are read from `live` instead.
    pub config: Config,
    /// The reloadable keys' current values (`Engine::reload` replaces them).
    pub live: RwLock<Reloadable>,
    /// The daemon's stable identity (`/info` `ID`).
    pub id: String,
    pub store: Store,
    pub content: ContentStore,
    pub snaps: Snapshotter,
    pub unpack: UnpackOptions,
    pub events: Events,
    pub cgroup_layout: OnceLock<pouch_runtime::spec::CgroupLayout>,
    pub userns_fd: OnceLock<std::os::fd::OwnedFd>,
    /// Held for the daemon's life: a second pouchd on the same root is refused.
    pub _root_lock: LockFile,
}

impl Context {
    /// The reloadable keys as they are now.
    pub(crate) fn live(&self) -> Reloadable {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The registry settings for a new pull, push or login: the started config with the live
    /// insecure list and mirrors.
    pub(crate) fn registry_config(&self) -> pouch_image::registry::RegistryConfig {
        let live = self.live();
        pouch_image::registry::RegistryConfig {
            insecure: live.insecure_registries,
            mirrors: live.registry_mirrors,
            ..self.config.registry.clone()
        }
    }

    /// A fresh private directory under `<root>/tmp`, removed at the next start if a crash skips
    /// the caller's cleanup.
    pub(crate) fn temp_dir(&self, prefix: &str) -> Result<TempDir> {
        let n = now_nanos();
        let p = self
            .config
            .root
            .join("tmp")
            .join(format!("{prefix}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

/// Runs blocking work (SQLite, file I/O) off the async workers, handing the closure a clone of
/// the service it was called on. Every service gets it through the blanket impl.
pub(crate) trait Blocking: Clone + Send + Sync + 'static {
    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Self) -> Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send {
        let s = self.clone();
        async move {
            tokio::task::spawn_blocking(move || f(&s))
                .await
                .map_err(|e| Error::internal(format!("worker failed: {e}")))?
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Blocking for S {}

/// Runs an operation on a task of its own, so that it finishes even when its caller's future is
/// dropped. A face drops a request's future when the client hangs up; an operation that changes
/// a container (start: rootfs, network, shim, record) must not stop half-way, or it leaves a
/// shim running under a record that says "created".
pub(crate) async fn to_completion<T: Send + 'static>(
    op: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(op)
        .await
        .map_err(|e| Error::internal(format!("operation failed: {e}")))?
}

pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
