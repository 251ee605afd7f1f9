//! PouchContainer's disk quota (`--disk-quota 10g`, `/data=5g`): the rootfs's writable layer and
//! local volumes limited with filesystem project quotas (see `pouch_volume::quota`). Checked at
//! create time, so a host without project quotas is told so before anything runs; set again at
//! each start and by `update`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::Containers;
use crate::error::{Error, Result};
use crate::store::ContainerRecord;

impl Containers {
    /// The directories each rule limits, with the size in bytes.
    fn quota_targets(&self, c: &ContainerRecord) -> Result<Vec<(String, Vec<PathBuf>, u64)>> {
        let mut out = Vec::new();
        for (path, size) in &c.config.disk_quota {
            let bytes = pouch_volume::quota::parse_size(size)
                .map_err(|e| Error::invalid(format!("disk quota for {path}: {e}")))?;
            let dirs = if path == "/" {
                let d = self.ctx.container_dir(&c.id).join("rw");
                vec![d.join("upper"), d.join("work")]
            } else {
                let m = c
                    .mounts
                    .iter()
                    .find(|m| m.destination == *path && m.kind == "volume" && m.driver == "local")
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "disk quota for {path}: no local volume is mounted there (quota applies \
                             to / and to the destinations of local volumes)"
                        ))
                    })?;
                vec![self.volumes.drivers.local.data(&m.name)]
            };
            out.push((path.clone(), dirs, bytes));
        }
        Ok(out)
    }

    /// Sets every rule's limit; records the rootfs project id as `QuotaID`.
    pub(crate) fn apply_disk_quota(&self, c: &mut ContainerRecord) -> Result<()> {
        for (path, dirs, bytes) in self.quota_targets(c)? {
            let refs: Vec<&std::path::Path> = dirs.iter().map(PathBuf::as_path).collect();
            let id = pouch_volume::quota::set_quota(&refs, bytes).map_err(|e| {
                let e = Error::from(e);
                Error::new(e.kind, format!("disk quota for {path}: {}", e.message))
            })?;
            if path == "/" {
                c.config.quota_id = id.to_string();
            }
        }
        Ok(())
    }

    /// `update --disk-quota`: merges the new rules, applies them and stores them.
    pub(crate) fn update_disk_quota(
        &self,
        c: &mut ContainerRecord,
        rules: &BTreeMap<String, String>,
    ) -> Result<()> {
        let old = c.config.clone();
        for (k, v) in rules {
            c.config.disk_quota.insert(k.clone(), v.clone());
        }
        if let Err(e) = self.apply_disk_quota(c) {
            c.config = old;
            return Err(e);
        }
        self.ctx.store.update_container_config(&c.id, &c.config)
    }
}
