//! Read-only image queries: list, inspect, history.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pouch_api::Filters;
use pouch_api::types::{
    GraphDriver, HistoryItem, ImageInspect, ImageMetadata, ImageRunConfig, ImageSummary, RootFs,
};
use pouch_image::{Digest, Reference};

use super::{familiar, glob, is_digest_ref, rfc3339_nanos, unix_of};
use crate::Images;
use crate::context::Blocking;
use crate::error::{Error, ErrorKind, Result};
use crate::store::{ImageRecord, RefRecord};

const LIST_FILTERS: &[&str] = &["dangling", "label", "before", "since", "reference"];

impl Images {
    /// `GET /images/json`, newest first.
    pub async fn list_images(&self, filters: Filters, _digests: bool) -> Result<Vec<ImageSummary>> {
        filters.validate(LIST_FILTERS).map_err(Error::invalid)?;
        for p in filters.get("reference") {
            glob::check(p).map_err(|e| Error::invalid(format!("reference filter {p:?}: {e}")))?;
        }
        // A client that hangs up drops this future: the guard then stops the listing.
        let gone = Arc::new(AtomicBool::new(false));
        let _stop_when_dropped = SetOnDrop(gone.clone());
        self.blocking(move |e| e.list_images_until(&filters, &gone))
            .await
    }

    pub(crate) fn list_images_blocking(
        &self,
        f: &Filters,
        _digests: bool,
    ) -> Result<Vec<ImageSummary>> {
        self.list_images_until(f, &AtomicBool::new(false))
    }

    /// Lists images, giving up between two images once `gone` is set.
    fn list_images_until(&self, f: &Filters, gone: &AtomicBool) -> Result<Vec<ImageSummary>> {
        let store = &self.ctx.store;
        let mut refs: HashMap<String, Vec<RefRecord>> = HashMap::new();
        for r in store.refs()? {
            refs.entry(r.image_id.clone()).or_default().push(r);
        }
        let dangling = f.bool("dangling").map_err(Error::invalid)?;
        let before = self.filter_bound(f, "before")?;
        let since = self.filter_bound(f, "since")?;
        let mut out = Vec::new();
        for img in store.images()? {
            if gone.load(Ordering::Relaxed) {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    "listing images stopped: the client went away",
                ));
            }
            let names = refs.get(&img.id).map(Vec::as_slice).unwrap_or(&[]);
            let tags: Vec<&RefRecord> = names.iter().filter(|r| !is_digest_ref(&r.name)).collect();
            if let Some(d) = dangling
                && d != tags.is_empty()
            {
                continue;
            }
            if !f.match_labels("label", &img.labels) {
                continue;
            }
            if before.as_ref().is_some_and(|b| img.created >= b.created) {
                continue;
            }
            if since.as_ref().is_some_and(|s| img.created <= s.created) {
                continue;
            }
            let patterns = f.get("reference");
            if !patterns.is_empty()
                && !tags
                    .iter()
                    .any(|t| patterns.iter().any(|p| reference_matches(p, &t.name)))
            {
                continue;
            }
            let mut row = summary(&img, names);
            if !patterns.is_empty() {
                // Like docker, show only the names that matched.
                row.repo_tags
                    .retain(|t| patterns.iter().any(|p| reference_matches(p, t)));
            }
            out.push(row);
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    fn filter_bound(&self, f: &Filters, key: &str) -> Result<Option<ImageRecord>> {
        match f.get(key) {
            [] => Ok(None),
            [name] => Ok(Some(self.resolve_image(name)?.image)),
            _ => Err(Error::invalid(format!(
                "filter '{key}' takes a single image"
            ))),
        }
    }

    /// `GET /images/{name}/json`.
    pub async fn inspect_image(&self, name: String) -> Result<ImageInspect> {
        self.blocking(move |e| e.inspect_image_blocking(&name))
            .await
    }

    fn inspect_image_blocking(&self, name: &str) -> Result<ImageInspect> {
        let img = self.resolve_image(name)?.image;
        let cfg = self.image_config(&img.id)?;
        let cfg_json = serde_json::to_value(&cfg)?;
        let refs = self.ctx.store.refs_of(&img.id)?;
        let layers = self.ctx.store.layers(&img.id)?;
        let dirs: Vec<String> = layers
            .iter()
            .rev()
            .filter_map(|l| Digest::parse(&l.chain_id).ok())
            .map(|c| self.ctx.snaps.dir(&c).display().to_string())
            .collect();
        let mut data = BTreeMap::new();
        if let Some((upper, lower)) = dirs.split_first() {
            data.insert("UpperDir".to_string(), upper.clone());
            if !lower.is_empty() {
                data.insert("LowerDir".to_string(), lower.join(":"));
            }
        }
        let s = |k: &str| {
            cfg_json
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        Ok(ImageInspect {
            id: img.id.clone(),
            repo_tags: refs
                .iter()
                .filter(|r| !is_digest_ref(&r.name))
                .map(|r| familiar(&r.name))
                .collect(),
            repo_digests: refs
                .iter()
                .filter(|r| is_digest_ref(&r.name))
                .map(|r| familiar(&r.name))
                .collect(),
            parent: String::new(),
            comment: cfg_json
                .get("history")
                .and_then(|h| h.as_array())
                .and_then(|h| h.last())
                .and_then(|h| h.get("comment"))
                .and_then(|c| c.as_str())
                .unwrap_or("")
                .to_string(),
            created: s("created"),
            docker_version: s("docker_version"),
            author: s("author"),
            config: run_config(&cfg_json, "config")?,
            container_config: run_config(&cfg_json, "container_config")?,
            container: s("container"),
            architecture: s("architecture"),
            variant: cfg_json
                .get("variant")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            os: s("os"),
            size: img.size,
            virtual_size: img.size,
            graph_driver: GraphDriver {
                name: "overlay2".into(),
                data,
            },
            root_fs: RootFs {
                kind: "layers".into(),
                layers: layers.iter().map(|l| l.diff_id.clone()).collect(),
            },
            metadata: ImageMetadata {
                last_tag_time: refs.iter().map(|r| r.updated_at).max().map(rfc3339_nanos),
            },
        })
    }

    /// `GET /images/{name}/history`, newest first, with each layer's size on the step that made it.
    pub async fn image_history(&self, name: String) -> Result<Vec<HistoryItem>> {
        self.blocking(move |e| {
            let img = e.resolve_image(&name)?.image;
            let cfg = serde_json::to_value(e.image_config(&img.id)?)?;
            let layers = e.ctx.store.layers(&img.id)?;
            let tags: Vec<String> = e
                .ctx
                .store
                .refs_of(&img.id)?
                .iter()
                .filter(|r| !is_digest_ref(&r.name))
                .map(|r| familiar(&r.name))
                .collect();
            let empty = Vec::new();
            let hist = cfg
                .get("history")
                .and_then(|h| h.as_array())
                .unwrap_or(&empty);
            let mut sizes = layers.iter().map(|l| l.size);
            let mut items: Vec<HistoryItem> = hist
                .iter()
                .map(|h| {
                    let str_of =
                        |k: &str| h.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                    let empty_layer = h
                        .get("empty_layer")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false);
                    HistoryItem {
                        id: "<missing>".into(),
                        created: unix_of(h.get("created").and_then(|v| v.as_str())),
                        created_by: str_of("created_by"),
                        tags: Vec::new(),
                        size: if empty_layer {
                            0
                        } else {
                            sizes.next().unwrap_or(0)
                        },
                        comment: str_of("comment"),
                    }
                })
                .collect();
            items.reverse();
            match items.first_mut() {
                Some(top) => {
                    top.id = img.id.clone();
                    top.tags = tags;
                }
                None => items.push(HistoryItem {
                    id: img.id.clone(),
                    created: img.created,
                    created_by: String::new(),
                    tags,
                    size: img.size,
                    comment: String::new(),
                }),
            }
            Ok(items)
        })
        .await
    }
}

fn summary(img: &ImageRecord, names: &[RefRecord]) -> ImageSummary {
    ImageSummary {
        id: img.id.clone(),
        parent_id: String::new(),
        repo_tags: names
            .iter()
            .filter(|r| !is_digest_ref(&r.name))
            .map(|r| familiar(&r.name))
            .collect(),
        repo_digests: names
            .iter()
            .filter(|r| is_digest_ref(&r.name))
            .map(|r| familiar(&r.name))
            .collect(),
        created: img.created,
        size: img.size,
        shared_size: -1,
        virtual_size: img.size,
        labels: img.labels.clone(),
        containers: -1,
    }
}

/// docker's `reference=` filter: a glob against the familiar name, with or without the tag.
fn reference_matches(pattern: &str, full: &str) -> bool {
    let Ok(r) = Reference::parse_normalized(full) else {
        return false;
    };
    let pattern_has_tag = pattern
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'));
    if pattern_has_tag {
        glob::matches(pattern, &r.familiar()).unwrap_or(false)
    } else {
        glob::matches(pattern, &r.familiar_name()).unwrap_or(false)
    }
}

/// Sets its flag when dropped: tells blocking work that the request it serves was abandoned.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The run config under `key` of an image config blob, in docker's shape (the empty shape when
/// the blob has none).
fn run_config(blob: &serde_json::Value, key: &str) -> Result<ImageRunConfig> {
    match blob.get(key) {
        None | Some(serde_json::Value::Null) => Ok(ImageRunConfig::default()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| Error::internal(format!("image config {key}: {e}"))),
    }
}
