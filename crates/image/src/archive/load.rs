//! `load`: reads an archive, works out which images it holds, then stores them all or nothing.

use std::io::Read;
use std::path::Path;

use super::staging::{Staging, missing};
use super::store::Writer;
use super::{LoadedImage, PlannedImage, PlannedLayer, oci_layout, tagged};
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::{DockerManifestItem, ImageConfig, is_foreign_layer};
use crate::reference::Reference;
use crate::snapshot::Snapshotter;
use crate::unpack::UnpackOptions;

/// Loads every image of a docker-archive or OCI layout read from `r`.
///
/// `staging` is an empty scratch directory the caller creates and deletes afterwards; the archive
/// is unpacked there first because its parts may come in any order. Blobs and snapshots that
/// already exist are reused (but the archive's copies are still verified). On error nothing this
/// call created is left behind.
pub fn load(
    r: impl Read,
    staging: &Path,
    content: &ContentStore,
    snaps: &Snapshotter,
    opts: &UnpackOptions,
) -> Result<Vec<LoadedImage>> {
    let st = Staging::extract(r, staging)?;
    let plans = if st.exists("manifest.json") {
        plan_docker(&st)?
    } else if st.exists("index.json") {
        oci_layout::plan(&st)?
    } else {
        return Err(Error::InvalidArchive(
            "archive has neither manifest.json (docker) nor index.json (OCI layout)".into(),
        ));
    };
    let mut writer = Writer::new(content, snaps, opts);
    let mut images = Vec::with_capacity(plans.len());
    for plan in plans {
        match writer.store_image(plan) {
            Ok(image) => images.push(image),
            Err(e) => {
                writer.rollback();
                return Err(e);
            }
        }
    }
    Ok(images)
}

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::json(format!("parse {what}"), e))
}

/// docker-archive: `manifest.json` lists each image's config file, tags and layer files. The image
/// id is the config's sha256 and layers are checked against the config's diff ids.
fn plan_docker(st: &Staging) -> Result<Vec<PlannedImage>> {
    let items: Vec<DockerManifestItem> =
        parse_json(&st.read("manifest.json", "the archive")?, "manifest.json")?;
    let mut plans = Vec::with_capacity(items.len());
    for item in items {
        let config_bytes = st.read(&item.config, "manifest.json")?;
        let config_digest = Digest::sha256_of(&config_bytes);
        let config: ImageConfig =
            parse_json(&config_bytes, &format!("image config {}", item.config))?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != item.layers.len() {
            return Err(Error::InvalidArchive(format!(
                "image {config_digest} lists {} layers but its config has {} diff ids",
                item.layers.len(),
                diff_ids.len()
            )));
        }
        let mut repo_tags = Vec::new();
        for t in item.repo_tags.iter().flatten() {
            let r = Reference::parse_normalized(t)
                .map_err(|e| Error::InvalidArchive(format!("manifest.json: tag {t:?}: {e}")))?;
            repo_tags.extend(tagged(r));
        }
        let referrer = format!("manifest.json (image {config_digest})");
        let mut layers = Vec::with_capacity(item.layers.len());
        for (name, diff_id) in item.layers.iter().zip(diff_ids) {
            let Some(path) = st.find(name)? else {
                let foreign = item
                    .layer_sources
                    .as_ref()
                    .and_then(|s| s.get(diff_id.as_str()))
                    .filter(|d| is_foreign_layer(&d.media_type));
                return Err(match foreign {
                    Some(d) => foreign_layer(&d.digest, &d.media_type),
                    None => missing(name, &referrer),
                });
            };
            layers.push(PlannedLayer {
                path,
                name: name.clone(),
                diff_id: diff_id.clone(),
                descriptor: None,
            });
        }
        plans.push(PlannedImage {
            config_digest,
            config_bytes,
            config,
            manifest: None,
            layers,
            repo_tags,
        });
    }
    Ok(plans)
}

pub(super) fn foreign_layer(digest: &Digest, media_type: &str) -> Error {
    Error::Unsupported(format!(
        "foreign layer {digest} ({media_type}) is not in the archive: foreign layers are not supported"
    ))
}
