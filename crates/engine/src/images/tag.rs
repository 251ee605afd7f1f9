//! Naming images: `tag`, and recording freshly loaded or imported images with their names.

use std::collections::BTreeMap;

use pouch_image::{LoadedImage, Reference, reference::valid_tag};

use super::{familiar, unix_of};
use crate::context::Blocking;
use crate::error::{Error, Result};
use crate::store::{ImageRecord, LayerRecord, insert_image, set_ref};
use crate::{Images, now_nanos};

impl Images {
    /// `POST /images/{name}/tag?repo=…&tag=…`.
    pub async fn tag_image(&self, name: String, repo: String, tag: String) -> Result<()> {
        let target = parse_tag_target(&repo, &tag)?;
        let _guard = self.lock.lock().await;
        self.blocking(move |e| {
            let img = e.resolve_image(&name)?.image;
            e.ctx
                .store
                .tx(|tx| set_ref(tx, &target.to_string(), &img.id, now_nanos()))?;
            e.ctx.emit_image(&img.id, "tag", &target.familiar());
            Ok(())
        })
        .await
    }

    /// Stores loaded images and points their names at them, in one transaction. Returns one line
    /// per image for the client (and a note for each name that moved off another image).
    pub(crate) fn record_loaded(&self, images: &[LoadedImage]) -> Result<Vec<String>> {
        let now = now_nanos();
        let mut lines = Vec::new();
        self.ctx.store.tx(|tx| {
            for img in images {
                let (rec, layers) = records(img, now)?;
                insert_image(tx, &rec, &layers)?;
                if img.repo_tags.is_empty() {
                    lines.push(format!("Loaded image ID: {}\n", rec.id));
                }
                for r in &img.repo_tags {
                    let name = r.clone().with_default_tag();
                    if let Some(prev) = set_ref(tx, &name.to_string(), &rec.id, now)? {
                        lines.push(format!(
                            "The image {} already exists, renaming the old one with ID {prev} to \
                             empty string\n",
                            familiar(&name.to_string())
                        ));
                    }
                    lines.push(format!("Loaded image: {}\n", name.familiar()));
                }
            }
            Ok(())
        })?;
        for img in images {
            let name = img
                .repo_tags
                .first()
                .map(|r| r.clone().with_default_tag().familiar());
            self.ctx.emit_image(
                img.config_digest.as_str(),
                "load",
                name.as_deref().unwrap_or(""),
            );
        }
        Ok(lines)
    }
}

/// Validates `repo` and `tag` (tag defaults to `latest`) as docker does.
pub(crate) fn parse_tag_target(repo: &str, tag: &str) -> Result<Reference> {
    if repo.is_empty() {
        return Err(Error::invalid("repository name must not be empty"));
    }
    let r = Reference::parse_normalized(repo).map_err(|e| Error::invalid(e.to_string()))?;
    if r.tag.is_some() || r.digest.is_some() {
        if tag.is_empty() {
            return Ok(r.with_default_tag());
        }
        return Err(Error::invalid(format!(
            "invalid repository name {repo:?}: give the tag in the tag parameter only"
        )));
    }
    let tag = if tag.is_empty() { "latest" } else { tag };
    if !valid_tag(tag) {
        return Err(Error::invalid(format!("invalid tag format {tag:?}")));
    }
    Ok(Reference {
        tag: Some(tag.to_string()),
        ..r
    })
}

pub(crate) fn records(img: &LoadedImage, now: i64) -> Result<(ImageRecord, Vec<LayerRecord>)> {
    let cfg = serde_json::to_value(&img.config)?;
    let labels: BTreeMap<String, String> = cfg
        .get("config")
        .and_then(|c| c.get("Labels"))
        .cloned()
        .and_then(|l| serde_json::from_value(l).ok())
        .unwrap_or_default();
    let layers: Vec<LayerRecord> = img
        .layers
        .iter()
        .map(|l| LayerRecord {
            chain_id: l.chain_id.to_string(),
            diff_id: l.diff_id.to_string(),
            blob: l.blob.to_string(),
            media_type: l.media_type.clone(),
            blob_size: l.blob_size as i64,
            size: l.size as i64,
        })
        .collect();
    let rec = ImageRecord {
        id: img.config_digest.to_string(),
        manifest_digest: img.manifest_digest.as_ref().map(|d| d.to_string()),
        created: unix_of(cfg.get("created").and_then(|v| v.as_str())),
        size: layers.iter().map(|l| l.size).sum(),
        labels,
        added_at: now,
    };
    Ok((rec, layers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_targets() {
        assert_eq!(
            parse_tag_target("busybox", "").unwrap().to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            parse_tag_target("localhost:5000/a", "v1")
                .unwrap()
                .to_string(),
            "localhost:5000/a:v1"
        );
        assert!(parse_tag_target("", "x").is_err());
        assert!(parse_tag_target("Busybox", "x").is_err());
        assert!(parse_tag_target("busybox", "bad tag").is_err());
    }
}
