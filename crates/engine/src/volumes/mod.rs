//! Volumes: the records in the store and the drivers that hold the data. `local` is built in;
//! any other driver name is a Docker volume plugin, activated on first use.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pouch_api::Filters;
use pouch_api::types::{Volume, VolumeCreateBody, VolumePruneResponse, VolumeUsage};
use pouch_volume::{Driver, LocalDriver, PluginDriver, VolumeError};

use crate::context::Blocking;
use crate::error::{Error, Result};
use crate::images::rfc3339_nanos;
use crate::store::VolumeRecord;
use crate::{Volumes, now_nanos};

/// Docker's label on volumes made for one container.
pub(crate) const ANON_LABEL: &str = "com.docker.volume.anonymous";

pub(crate) struct VolumeDrivers {
    pub local: Arc<LocalDriver>,
    plugins: Mutex<HashMap<String, Arc<PluginDriver>>>,
    /// Serialises create/remove so a name is never half-made twice.
    lock: Mutex<()>,
}

impl VolumeDrivers {
    pub fn open(root: PathBuf) -> Result<VolumeDrivers> {
        Ok(VolumeDrivers {
            local: Arc::new(LocalDriver::new(root).map_err(Error::from)?),
            plugins: Mutex::new(HashMap::new()),
            lock: Mutex::new(()),
        })
    }
}

impl VolumeDrivers {
    /// Serialises volume creation and removal.
    fn serialise(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl From<VolumeError> for Error {
    fn from(e: VolumeError) -> Error {
        match e {
            VolumeError::NotFound(m) => Error::not_found(m),
            VolumeError::Invalid(m) => Error::invalid(m),
            VolumeError::InUse(m) => Error::conflict(m),
            VolumeError::Driver(m) => Error::internal(m),
        }
    }
}

/// What `POST /volumes/create` and container creation ask for.
pub(crate) struct NewVolume {
    pub name: String,
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub anonymous: bool,
}

impl Volumes {
    pub(crate) fn volume_driver(&self, name: &str) -> Result<Arc<dyn Driver>> {
        let v = &self.drivers;
        if name.is_empty() || name == "local" {
            return Ok(v.local.clone());
        }
        let mut plugins = v.plugins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = plugins.get(name) {
            return Ok(d.clone());
        }
        let d = Arc::new(PluginDriver::activate(name)?);
        plugins.insert(name.to_string(), d.clone());
        Ok(d)
    }

    /// Creates a volume, or returns the existing one of that name when the driver agrees (docker's
    /// `volume create` is idempotent).
    pub(crate) fn create_volume_blocking(&self, req: NewVolume) -> Result<VolumeRecord> {
        let _g = self.drivers.serialise();
        let driver_name = if req.driver.is_empty() {
            "local".to_string()
        } else {
            req.driver.clone()
        };
        let name = if req.name.is_empty() {
            crate::containers::random_hex(32)?
        } else {
            req.name.clone()
        };
        pouch_volume::validate_name(&name)?;
        if let Some(v) = self.ctx.store.volume(&name)? {
            if v.driver != driver_name {
                return Err(Error::conflict(format!(
                    "volume name {name} already in use with driver {}; remove it or choose \
                     another name",
                    v.driver
                )));
            }
            return Ok(v);
        }
        let driver = self.volume_driver(&driver_name)?;
        driver.create(&name, &req.options)?;
        if let (Some(r), "local") = (&self.ctx.config.userns_remap, driver_name.as_str()) {
            // As docker: under a remap, new local volumes belong to the remapped root.
            self.ctx
                .chown_for_remap(r, &[self.drivers.local.data(&name)]);
        }
        let mut labels = req.labels;
        if req.anonymous {
            labels.insert(ANON_LABEL.into(), String::new());
        }
        let rec = VolumeRecord {
            name: name.clone(),
            driver: driver_name,
            created: now_nanos(),
            labels,
            options: req.options,
            anonymous: req.anonymous,
        };
        if let Err(e) = self.ctx.store.insert_volume(&rec) {
            let _ = driver.remove(&name);
            return Err(e);
        }
        let mut attrs = BTreeMap::new();
        attrs.insert("driver".to_string(), rec.driver.clone());
        self.ctx.emit("volume", "create", &name, attrs);
        Ok(rec)
    }

    pub async fn create_volume(&self, body: VolumeCreateBody) -> Result<Volume> {
        self.blocking(move |e| {
            let rec = e.create_volume_blocking(NewVolume {
                name: body.name,
                driver: body.driver,
                options: body.driver_opts,
                labels: body.labels,
                anonymous: false,
            })?;
            e.volume_view(&rec, None)
        })
        .await
    }

    fn volume_record(&self, name: &str) -> Result<VolumeRecord> {
        self.ctx
            .store
            .volume(name)?
            .ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))
    }

    /// Containers (ids) whose mounts name the volume.
    pub(crate) fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .ctx
            .store
            .containers()?
            .into_iter()
            .filter(|c| {
                c.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
            .map(|c| c.id)
            .collect())
    }

    fn volume_view(&self, v: &VolumeRecord, usage: Option<VolumeUsage>) -> Result<Volume> {
        let (mountpoint, status, scope) = match self.volume_driver(&v.driver) {
            Ok(d) => match d.get(&v.name) {
                Ok(info) => (
                    info.mountpoint.display().to_string(),
                    info.status,
                    d.scope(),
                ),
                Err(_) => (String::new(), None, d.scope()),
            },
            Err(_) => (String::new(), None, "local".into()),
        };
        Ok(Volume {
            name: v.name.clone(),
            driver: v.driver.clone(),
            mountpoint,
            created_at: rfc3339_nanos(v.created),
            status,
            labels: v.labels.clone(),
            scope,
            options: v.options.clone(),
            usage_data: usage,
        })
    }

    pub async fn inspect_volume(&self, name: String) -> Result<Volume> {
        self.blocking(move |e| {
            let v = e.volume_record(&name)?;
            e.volume_view(&v, None)
        })
        .await
    }

    pub async fn list_volumes(&self, filters: Filters) -> Result<Vec<Volume>> {
        filters
            .validate(&["dangling", "driver", "label", "name"])
            .map_err(Error::invalid)?;
        let dangling = filters.bool("dangling").map_err(Error::invalid)?;
        self.blocking(move |e| {
            let used = e.used_volumes()?;
            let mut out = Vec::new();
            for v in e.ctx.store.volumes()? {
                if let Some(d) = dangling {
                    if d == used.contains_key(&v.name) {
                        continue;
                    }
                }
                if !filters.get("driver").is_empty() && !filters.get("driver").contains(&v.driver) {
                    continue;
                }
                if !filters.get("name").is_empty()
                    && !filters
                        .get("name")
                        .iter()
                        .any(|n| v.name.contains(n.as_str()))
                {
                    continue;
                }
                if !filters.match_labels("label", &v.labels) {
                    continue;
                }
                out.push(e.volume_view(&v, None)?);
            }
            Ok(out)
        })
        .await
    }

    /// Volume name → number of containers using it.
    fn used_volumes(&self) -> Result<HashMap<String, i64>> {
        let mut used = HashMap::new();
        for c in self.ctx.store.containers()? {
            for m in c.mounts.iter().filter(|m| m.kind == "volume") {
                *used.entry(m.name.clone()).or_insert(0) += 1;
            }
        }
        Ok(used)
    }

    /// Removes a volume no container uses. `force` only forgives a volume that does not exist.
    pub(crate) fn remove_volume_blocking(&self, name: &str, force: bool) -> Result<u64> {
        let _g = self.drivers.serialise();
        let v = match self.ctx.store.volume(name)? {
            Some(v) => v,
            None if force => return Ok(0),
            None => return Err(Error::not_found(format!("get {name}: no such volume"))),
        };
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(Error::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        let size = if v.driver == "local" {
            pouch_volume::local::dir_size(&self.drivers.local.data(name))
        } else {
            0
        };
        match self.volume_driver(&v.driver) {
            Ok(d) => match d.remove(name) {
                Ok(()) => {}
                Err(VolumeError::NotFound(_)) => {}
                Err(e) if !force => return Err(e.into()),
                Err(e) => tracing::warn!(volume = name, "driver could not remove it: {e}"),
            },
            Err(e) if !force => return Err(e),
            Err(e) => tracing::warn!(volume = name, "driver unavailable: {}", e.message),
        }
        self.ctx.store.delete_volume(name)?;
        let mut attrs = BTreeMap::new();
        attrs.insert("driver".to_string(), v.driver);
        self.ctx.emit("volume", "destroy", name, attrs);
        Ok(size)
    }

    pub async fn remove_volume(&self, name: String, force: bool) -> Result<()> {
        self.blocking(move |e| e.remove_volume_blocking(&name, force).map(drop))
            .await
    }

    /// Removes unused volumes: only anonymous ones unless the filter `all=true` is given (docker
    /// API ≥ 1.42 semantics).
    pub async fn prune_volumes(&self, filters: Filters) -> Result<VolumePruneResponse> {
        filters
            .validate(&["label", "label!", "all"])
            .map_err(Error::invalid)?;
        let all = filters
            .bool("all")
            .map_err(Error::invalid)?
            .unwrap_or(false);
        self.blocking(move |e| {
            let used = e.used_volumes()?;
            let mut report = VolumePruneResponse::default();
            for v in e.ctx.store.volumes()? {
                if used.contains_key(&v.name)
                    || (!all && !v.anonymous)
                    || !filters.match_labels("label", &v.labels)
                    || filters
                        .get("label!")
                        .iter()
                        .any(|l| label_matches(l, &v.labels))
                {
                    continue;
                }
                match e.remove_volume_blocking(&v.name, false) {
                    Ok(size) => {
                        report.volumes_deleted.push(v.name);
                        report.space_reclaimed += size;
                    }
                    Err(err) => tracing::warn!(volume = v.name, "prune: {}", err.message),
                }
            }
            Ok(report)
        })
        .await
    }

    /// Every volume with its size and reference count, for `system df`.
    pub(crate) fn volumes_usage(&self) -> Result<Vec<Volume>> {
        let used = self.used_volumes()?;
        let mut out = Vec::new();
        for v in self.ctx.store.volumes()? {
            let size = if v.driver == "local" {
                pouch_volume::local::dir_size(&self.drivers.local.data(&v.name)) as i64
            } else {
                -1
            };
            let usage = VolumeUsage {
                size,
                ref_count: used.get(&v.name).copied().unwrap_or(0),
            };
            out.push(self.volume_view(&v, Some(usage))?);
        }
        Ok(out)
    }
}

fn label_matches(filter: &str, labels: &BTreeMap<String, String>) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}
