//! Moving images in and out as archives: `load`, `save` and `import`.

use std::io::{Read, Write};

use pouch_image::{Digest, Reference, SaveItem, SaveLayer};

use super::is_digest_ref;
use super::tag::parse_tag_target;
use crate::Images;
use crate::context::Blocking;
use crate::error::{Error, Result};

/// What `save` will write, resolved up front so that a bad name fails before any byte is sent.
pub struct SavePlan {
    items: Vec<SaveItem>,
}

impl Images {
    /// `POST /images/load`: reads a docker-archive or OCI-layout tarball. Nothing is kept unless
    /// the whole archive is valid. Returns docker's "Loaded image: …" lines.
    pub async fn load_images(&self, body: Box<dyn Read + Send>) -> Result<Vec<String>> {
        let _guard = self.lock.lock().await;
        self.blocking(move |e| {
            let mut body = body;
            let staging = e.ctx.temp_dir("load")?;
            let i = &e.ctx;
            let images =
                pouch_image::load(&mut body, staging.path(), &i.content, &i.snaps, &i.unpack)
                    .map_err(|err| {
                        drain(&mut body);
                        Error::from(err).context("loading image archive")
                    })?;
            if images.is_empty() {
                return Err(Error::invalid("the archive holds no image"));
            }
            e.record_loaded(&images)
        })
        .await
    }

    /// `POST /images/create?fromSrc=-`: makes a one-layer image from a rootfs tarball.
    pub async fn import_image(
        &self,
        body: Box<dyn Read + Send>,
        repo: Option<String>,
        tag: Option<String>,
        changes: Vec<String>,
        message: Option<String>,
    ) -> Result<String> {
        let target = match repo.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => Some(parse_tag_target(r, tag.as_deref().unwrap_or(""))?),
            None => None,
        };
        let _guard = self.lock.lock().await;
        self.blocking(move |e| {
            let mut body = body;
            let i = &e.ctx;
            let mut img = pouch_image::import::import(
                &mut body,
                &changes,
                message.as_deref(),
                &i.content,
                &i.snaps,
                &i.unpack,
            )
            .map_err(|err| {
                drain(&mut body);
                Error::from(err).context("importing rootfs tarball")
            })?;
            img.repo_tags = target.into_iter().collect();
            e.record_loaded(std::slice::from_ref(&img))?;
            e.ctx.emit_image(img.config_digest.as_str(), "import", "");
            Ok(img.config_digest.to_string())
        })
        .await
    }

    /// Resolves the names for `GET /images/get`. A repository name without a tag saves every tag
    /// of that repository; an id saves the image without names; a tag saves that tag.
    pub async fn plan_save(&self, names: Vec<String>) -> Result<SavePlan> {
        if names.is_empty() {
            return Err(Error::invalid("no image names given to save"));
        }
        self.blocking(move |e| {
            let mut items: Vec<SaveItem> = Vec::new();
            for name in &names {
                let (ids, tags) = e.save_targets(name)?;
                for id in ids {
                    let item = match items
                        .iter_mut()
                        .position(|i| i.config_digest.as_str() == id)
                    {
                        Some(pos) => &mut items[pos],
                        None => {
                            items.push(e.save_item(&id)?);
                            items.last_mut().expect("just pushed")
                        }
                    };
                    for t in &tags {
                        if t.digest.is_none() && !item.repo_tags.contains(t) {
                            item.repo_tags.push(t.clone());
                        }
                    }
                }
            }
            Ok(SavePlan { items })
        })
        .await
    }

    fn save_targets(&self, name: &str) -> Result<(Vec<String>, Vec<Reference>)> {
        if let Ok(r) = Reference::parse_normalized(name)
            && r.tag.is_none()
            && r.digest.is_none()
        {
            // All tags of the repository, when it has any.
            let repo = r.name();
            let mut ids = Vec::new();
            let mut tags = Vec::new();
            for rec in self.ctx.store.refs()? {
                if is_digest_ref(&rec.name) {
                    continue;
                }
                if let Ok(t) = Reference::parse_normalized(&rec.name)
                    && t.name() == repo
                {
                    ids.push(rec.image_id.clone());
                    tags.push(t);
                }
            }
            if !ids.is_empty() {
                return Ok((ids, tags));
            }
        }
        let res = self.resolve_image(name)?;
        Ok((vec![res.image.id], res.reference.into_iter().collect()))
    }

    fn save_item(&self, id: &str) -> Result<SaveItem> {
        let img = self
            .ctx
            .store
            .image(id)?
            .ok_or_else(|| Error::not_found(format!("No such image: {id}")))?;
        let layers = self
            .ctx
            .store
            .layers(id)?
            .into_iter()
            .map(|l| {
                Ok(SaveLayer {
                    blob: Digest::parse(&l.blob)?,
                    media_type: l.media_type,
                    size: l.blob_size as u64,
                })
            })
            .collect::<std::result::Result<Vec<_>, pouch_image::Error>>()?;
        Ok(SaveItem {
            config_digest: Digest::parse(id)?,
            manifest_digest: img
                .manifest_digest
                .as_deref()
                .map(Digest::parse)
                .transpose()?,
            layers,
            repo_tags: Vec::new(),
        })
    }

    /// Writes the planned archive. Blobs are only read, so this runs without the image lock; a
    /// concurrent delete makes it fail with a clear error rather than write a broken archive.
    pub async fn write_save(&self, plan: SavePlan, out: Box<dyn Write + Send>) -> Result<()> {
        self.blocking(move |e| {
            pouch_image::save(out, &plan.items, &e.ctx.content)
                .map_err(|err| Error::from(err).context("writing image archive"))
        })
        .await
    }
}

/// Reads what is left of a refused upload, so the client finishes sending before it reads the
/// error (a client still writing into a closed connection may never see the answer).
fn drain(body: &mut (dyn Read + Send)) {
    let _ = std::io::copy(body, &mut std::io::sink());
}
