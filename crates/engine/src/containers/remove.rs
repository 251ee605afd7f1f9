//! `DELETE /containers/{id}` and `POST /containers/prune`.

use pouch_api::Filters;
use pouch_api::types::ContainerPruneReport;

use crate::Containers;
use crate::context::Blocking;
use crate::context::to_completion;
use crate::error::{Error, Result};

impl Containers {
    /// Removes a container; a running one only with `force` (it is killed first). With `volumes`,
    /// its anonymous volumes go too (`rm -v`, `run --rm`).
    pub async fn remove_container(&self, name: &str, force: bool, volumes: bool) -> Result<()> {
        let name = name.to_string();
        let this = self.clone();
        to_completion(async move { this.remove_container_now(&name, force, volumes).await }).await
    }

    /// The operation itself; see [`to_completion`].
    async fn remove_container_now(&self, name: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.ctx.resolve_container(name)?;
        let live = self.live.get(&c.id);
        let _op = live.op.lock().await;
        let Some(c) = self.ctx.store.container(&c.id)? else {
            return Ok(());
        };
        if c.state.status.is_running() {
            if !force {
                let verb = c.state.status;
                return Err(Error::conflict(format!(
                    "cannot remove container \"/{}\": container is {verb}: stop the container before \
                     removing or force remove",
                    c.name
                )));
            }
            self.stop_locked(&c.id, Some("KILL".into()), Some(-1))
                .await?;
        }
        // Whatever the record says (a start cut short leaves it "created" with a live shim),
        // the shim and every process of the container end before anything else goes.
        let mut errors = self.end_container(&c.id, &[]).await;
        live.set_shim(None);
        {
            let c = c.clone();
            if let Err(e) = self
                .blocking(move |e| e.networks.release_container_network(&c))
                .await
            {
                errors.push(e.to_string());
            }
        }
        if let Err(e) = pouch_sys::mount::unmount(&self.ctx.container_rootfs(&c.id)) {
            errors.push(e.to_string());
        }
        for dir in [
            self.ctx.container_state_dir(&c.id),
            self.ctx.container_dir(&c.id),
        ] {
            if let Err(e) = std::fs::remove_dir_all(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                errors.push(format!("remove {}: {e}", dir.display()));
            }
        }
        if !errors.is_empty() {
            return Err(Error::internal(format!(
                "could not remove container {}: {}",
                c.id,
                errors.join("; ")
            )));
        }
        self.ctx.store.delete_container(&c.id)?;
        self.ctx.emit_container(&c, "destroy", &[]);
        if volumes {
            let c = c.clone();
            self.blocking(move |e| {
                e.remove_anonymous_volumes(&c);
                Ok(())
            })
            .await?;
        }
        live.removed.send_replace(true);
        self.live.forget(&c.id);
        tracing::info!(container = %c.id, "removed");
        Ok(())
    }

    pub async fn prune_containers(&self, filters: Filters) -> Result<ContainerPruneReport> {
        filters
            .validate(&["label", "until"])
            .map_err(Error::invalid)?;
        if filters.contains("until") {
            return Err(Error::not_implemented(
                "the 'until' prune filter is not supported yet",
            ));
        }
        let mut report = ContainerPruneReport::default();
        for c in self.ctx.store.containers()? {
            if c.state.status.is_running() || !filters.match_labels("label", &c.config.labels) {
                continue;
            }
            let size = dir_size(&self.ctx.container_dir(&c.id).join("rw/upper"));
            self.remove_container(&c.id, false, false).await?;
            report.containers_deleted.push(c.id);
            report.space_reclaimed += size;
        }
        Ok(report)
    }
}

/// Bytes in regular files under `dir` (symlinks not followed).
pub(crate) fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
