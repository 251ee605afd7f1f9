//! Untagging and deleting images, pruning, and removing the layers and blobs no image needs.

use std::collections::BTreeSet;

use pouch_api::Filters;
use pouch_api::types::{DeleteItem, ImagePruneReport};
use pouch_image::{Digest, Reference};

use super::{familiar, is_digest_ref};
use crate::Images;
use crate::context::Blocking;
use crate::error::{Error, Result};
use crate::store::{delete_image, delete_ref};

impl Images {
    /// `DELETE /images/{name}`: a name untags (and deletes the image when it was its last name);
    /// an id deletes the image, untagging it everywhere, but only with `force` when the image is
    /// named in more than one repository.
    pub async fn remove_image(&self, name: String, force: bool) -> Result<Vec<DeleteItem>> {
        let _guard = self.lock.lock().await;
        let items = self
            .blocking(move |e| e.remove_image_blocking(&name, force))
            .await?;
        self.emit_deletions(&items);
        Ok(items)
    }

    fn emit_deletions(&self, items: &[DeleteItem]) {
        let id = items.iter().find_map(|i| match i {
            DeleteItem::Deleted(d) => Some(d.clone()),
            DeleteItem::Untagged(_) => None,
        });
        for i in items {
            match i {
                DeleteItem::Untagged(name) => {
                    self.ctx
                        .emit_image(id.as_deref().unwrap_or(""), "untag", name)
                }
                DeleteItem::Deleted(d) if Some(d) == id.as_ref() => {
                    self.ctx.emit_image(d, "delete", "")
                }
                DeleteItem::Deleted(_) => {}
            }
        }
    }

    fn remove_image_blocking(&self, name: &str, force: bool) -> Result<Vec<DeleteItem>> {
        let resolved = self.resolve_image(name)?;
        let id = resolved.image.id.clone();
        let refs = self.ctx.store.refs_of(&id)?;
        let users = self.ctx.store.container_ids_using_image(&id)?;
        let mut items = Vec::new();
        if let Some(r) = resolved.reference.filter(|r| r.digest.is_none()) {
            let full = r.to_string();
            // As docker: when the last tag of a repository goes, the digest references of that
            // repository (`repo@sha256:…`, recorded by pulls) go with it.
            let repo = r.name();
            let same_repo =
                |n: &str| Reference::parse_normalized(n).is_ok_and(|x| x.name() == repo);
            let tag_left = refs
                .iter()
                .any(|x| x.name != full && !is_digest_ref(&x.name) && same_repo(&x.name));
            let doomed: Vec<String> = if tag_left {
                Vec::new()
            } else {
                refs.iter()
                    .filter(|x| is_digest_ref(&x.name) && same_repo(&x.name))
                    .map(|x| x.name.clone())
                    .collect()
            };
            self.ctx.store.tx(|tx| {
                delete_ref(tx, &full)?;
                for d in &doomed {
                    delete_ref(tx, d)?;
                }
                Ok(())
            })?;
            items.push(DeleteItem::Untagged(r.familiar()));
            items.extend(doomed.iter().map(|d| DeleteItem::Untagged(familiar(d))));
            if refs
                .iter()
                .any(|x| x.name != full && !doomed.contains(&x.name))
                || !users.is_empty()
            {
                // Docker keeps an image that containers use once its last name goes.
                return Ok(items);
            }
        } else {
            let repos: BTreeSet<String> = refs
                .iter()
                .filter_map(|r| Reference::parse_normalized(&r.name).ok())
                .map(|r| r.name())
                .collect();
            if let Some(user) = users.first() {
                return Err(Error::conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by \
                     container {}",
                    short_id(&id),
                    &user[..12]
                )));
            }
            if repos.len() > 1 && !force {
                return Err(Error::conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in \
                     multiple repositories",
                    short_id(&id)
                )));
            }
            items.extend(refs.iter().map(|r| DeleteItem::Untagged(familiar(&r.name))));
        }
        items.extend(self.delete_image_and_content(&id)?);
        Ok(items)
    }

    /// Removes the image row (and its names), then the snapshots and blobs nothing else uses.
    fn delete_image_and_content(&self, id: &str) -> Result<Vec<DeleteItem>> {
        let layers = self.ctx.store.layers(id)?;
        let manifest = self.ctx.store.image(id)?.and_then(|i| i.manifest_digest);
        self.ctx.store.tx(|tx| delete_image(tx, id))?;
        let mut items = vec![DeleteItem::Deleted(id.to_string())];
        let (chains, blobs) = self.ctx.store.referenced_content()?;
        let mut errors = Vec::new();
        for l in layers.iter().rev() {
            if !chains.contains(&l.chain_id) {
                match Digest::parse(&l.chain_id)
                    .map_err(Error::from)
                    .and_then(|c| self.ctx.snaps.remove(&c).map_err(Error::from))
                {
                    Ok(()) => items.push(DeleteItem::Deleted(l.chain_id.clone())),
                    Err(e) => errors.push(e.message),
                }
            }
        }
        let candidates = layers
            .iter()
            .map(|l| l.blob.clone())
            .chain(manifest)
            .chain([id.to_string()]);
        for b in candidates {
            if !blobs.contains(&b)
                && let Err(e) = Digest::parse(&b)
                    .map_err(Error::from)
                    .and_then(|d| self.ctx.content.remove(&d).map_err(Error::from))
            {
                errors.push(e.message);
            }
        }
        if !errors.is_empty() {
            // The image is gone from the store; what failed here is reclaimed at the next start.
            tracing::warn!(
                image = id,
                ?errors,
                "could not remove all content of a deleted image"
            );
        }
        Ok(items)
    }

    /// `POST /images/prune`: unused dangling images, or with `dangling=false` every unused image.
    pub async fn prune_images(&self, filters: Filters) -> Result<ImagePruneReport> {
        filters
            .validate(&["dangling", "label", "until"])
            .map_err(Error::invalid)?;
        let only_dangling = filters
            .bool("dangling")
            .map_err(Error::invalid)?
            .unwrap_or(true);
        if filters.contains("until") {
            return Err(Error::not_implemented(
                "the 'until' prune filter is not supported yet",
            ));
        }
        let _guard = self.lock.lock().await;
        self.blocking(move |e| {
            let mut report = ImagePruneReport::default();
            for img in e.ctx.store.images()? {
                let refs = e.ctx.store.refs_of(&img.id)?;
                let tagged = refs.iter().any(|r| !is_digest_ref(&r.name));
                if (only_dangling && tagged)
                    || !filters.match_labels("label", &img.labels)
                    || !e.ctx.store.container_ids_using_image(&img.id)?.is_empty()
                {
                    continue;
                }
                let layers = e.ctx.store.layers(&img.id)?;
                report
                    .images_deleted
                    .extend(refs.iter().map(|r| DeleteItem::Untagged(familiar(&r.name))));
                let deleted = e.delete_image_and_content(&img.id)?;
                // The snapshots removed are reported as `Deleted: <chain id>`: their sizes are
                // what the prune gave back.
                report.space_reclaimed += layers
                    .iter()
                    .filter(|l| deleted.contains(&DeleteItem::Deleted(l.chain_id.clone())))
                    .map(|l| l.size as u64)
                    .sum::<u64>();
                report.images_deleted.extend(deleted);
            }
            report.space_reclaimed += e.gc_content()?;
            Ok(report)
        })
        .await
    }
}

pub(crate) fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}
