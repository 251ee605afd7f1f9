//! `POST /images/{name}/push`: uploads an image's blobs and manifest to its registry.
//!
//! The manifest pushed is the one the image arrived with when the store kept it (pulled images,
//! OCI layouts); otherwise one is built from the stored blobs, deterministically, so pushing the
//! same image twice gives the same digest. Layers are pushed as stored (compressed or not).

use std::sync::Arc;
use std::time::Instant;

use pouch_api::types::{JsonMessage, ProgressDetail, PushResult};
use pouch_image::oci::MEDIA_TYPE_OCI_MANIFEST;
use pouch_image::registry::{AuthConfig, build_manifest};
use pouch_image::{Digest, Reference};
use tokio::sync::mpsc::UnboundedSender;

use super::is_digest_ref;
use super::progress::{bar, send, short, status_detail};
use super::pull::registry_error;
use crate::Distribution;
use crate::context::Blocking;
use crate::error::{Error, Result};

/// Layers uploaded at once per push.
const PARALLEL_UPLOADS: usize = 3;

/// The one field of a stored manifest that push needs to send it back.
#[derive(serde::Deserialize)]
struct MediaTypeOnly {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
}

/// One tag to push, resolved before anything is sent.
struct PushItem {
    reference: Reference,
    config: Digest,
    /// (media type, blob, size) per layer, bottom first.
    layers: Vec<(String, Digest, u64)>,
    /// Diff ids, for the progress ids docker shows.
    diff_ids: Vec<Digest>,
    manifest_digest: Option<Digest>,
    /// Other repositories of the same registry that this store's names say hold each blob;
    /// tried as cross-repository mounts before uploading.
    mount_from: std::collections::HashMap<Digest, Vec<String>>,
}

impl Distribution {
    /// Pushes `name` (with `tag`, or every tag of the repository when `tag` is empty).
    pub async fn push_image(
        &self,
        name: String,
        tag: String,
        auth_header: Option<String>,
        progress: UnboundedSender<JsonMessage>,
    ) -> Result<()> {
        let auth = match auth_header.as_deref() {
            Some(h) => AuthConfig::from_header(h).map_err(registry_error)?,
            None => AuthConfig::default(),
        };
        let items = self.blocking(move |e| e.push_items(&name, &tag)).await?;
        let first = &items[0].reference;
        let client = self.registry_client();
        let endpoint = client
            .endpoints(&first.domain, false)
            .map_err(registry_error)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal("no registry endpoint"))?;
        let repo = client
            .repo(&endpoint, &first.path, auth.credentials(), true)
            .await
            .map_err(registry_error)?;
        send(
            &progress,
            JsonMessage::status(format!("The push refers to repository [{}]", first.name())),
        );
        for item in items {
            self.push_one(&repo, item, &progress).await?;
        }
        Ok(())
    }

    fn push_items(&self, name: &str, tag: &str) -> Result<Vec<PushItem>> {
        let r = Reference::parse_normalized(name).map_err(|e| Error::invalid(e.to_string()))?;
        let mut refs = Vec::new();
        if !tag.is_empty() {
            refs.push(Reference {
                tag: Some(tag.to_string()),
                digest: None,
                ..r
            });
        } else if r.tag.is_some() || r.digest.is_some() {
            refs.push(r);
        } else {
            for rec in self.ctx.store.refs()? {
                if is_digest_ref(&rec.name) {
                    continue;
                }
                if let Ok(t) = Reference::parse_normalized(&rec.name)
                    && t.name() == r.name()
                {
                    refs.push(t);
                }
            }
            if refs.is_empty() {
                return Err(Error::not_found(format!(
                    "An image does not exist locally with the tag: {}",
                    r.familiar_name()
                )));
            }
        }
        let mut items = Vec::new();
        for reference in refs {
            let res = self
                .images
                .resolve_image(&reference.to_string())
                .map_err(|e| {
                    if e.kind == crate::ErrorKind::NotFound {
                        Error::not_found(format!(
                            "An image does not exist locally with the tag: {}",
                            reference.familiar_name()
                        ))
                    } else {
                        e
                    }
                })?;
            let layers = self.ctx.store.layers(&res.image.id)?;
            let mut out = Vec::new();
            let mut diff_ids = Vec::new();
            for l in layers {
                out.push((l.media_type, Digest::parse(&l.blob)?, l.blob_size as u64));
                diff_ids.push(Digest::parse(&l.diff_id)?);
            }
            let mount_from = self.mount_sources(&reference, &out)?;
            items.push(PushItem {
                reference,
                config: Digest::parse(&res.image.id)?,
                layers: out,
                diff_ids,
                manifest_digest: res
                    .image
                    .manifest_digest
                    .as_deref()
                    .map(Digest::parse)
                    .transpose()?,
                mount_from,
            });
        }
        Ok(items)
    }

    /// For each layer blob, the other repositories on `target`'s registry that hold it as far
    /// as this store knows (images named there, pulled or pushed, that use the blob).
    fn mount_sources(
        &self,
        target: &Reference,
        layers: &[(String, Digest, u64)],
    ) -> Result<std::collections::HashMap<Digest, Vec<String>>> {
        let mut out: std::collections::HashMap<Digest, Vec<String>> = Default::default();
        let mut blobs_of: std::collections::HashMap<String, Vec<String>> = Default::default();
        for rec in self.ctx.store.refs()? {
            let Ok(r) = Reference::parse_normalized(&rec.name) else {
                continue;
            };
            if r.domain != target.domain || r.path == target.path {
                continue;
            }
            if !blobs_of.contains_key(&rec.image_id) {
                let blobs = self.ctx.store.layers(&rec.image_id)?;
                blobs_of.insert(
                    rec.image_id.clone(),
                    blobs.into_iter().map(|l| l.blob).collect(),
                );
            }
            for (_, blob, _) in layers {
                if blobs_of[&rec.image_id].iter().any(|b| b == blob.as_str()) {
                    let repos = out.entry(blob.clone()).or_default();
                    if !repos.contains(&r.path) {
                        repos.push(r.path.clone());
                    }
                }
            }
        }
        Ok(out)
    }

    async fn push_one(
        &self,
        repo: &pouch_image::registry::RepoClient,
        item: PushItem,
        progress: &UnboundedSender<JsonMessage>,
    ) -> Result<()> {
        let content = &self.ctx.content;
        for d in &item.diff_ids {
            send(progress, status_detail("Preparing", &short(d)));
        }
        // Layers go up in parallel (at most PARALLEL_UPLOADS), each blob once.
        let sem = Arc::new(tokio::sync::Semaphore::new(PARALLEL_UPLOADS));
        let mut tasks = tokio::task::JoinSet::new();
        let mut seen = std::collections::HashSet::new();
        for ((_, blob, size), diff) in item.layers.iter().zip(&item.diff_ids).rev() {
            if !seen.insert(blob.clone()) {
                continue;
            }
            let (repo, sem, progress) = (repo.clone(), sem.clone(), progress.clone());
            let (blob, total, id) = (blob.clone(), *size, short(diff));
            let path = content.blob_path(&blob);
            let from = item.mount_from.get(&blob).cloned().unwrap_or_default();
            tasks.spawn(async move {
                let _permit = sem.acquire_owned().await.expect("semaphore open");
                push_layer(&repo, &blob, &path, total, &id, &from, &progress).await
            });
        }
        while let Some(res) = tasks.join_next().await {
            let res = res.map_err(|e| Error::internal(format!("upload task failed: {e}")))?;
            if let Err(e) = res {
                tasks.abort_all();
                return Err(e);
            }
        }
        if !repo.has_blob(&item.config).await.map_err(registry_error)? {
            repo.upload_file(
                &item.config,
                &content.blob_path(&item.config),
                Arc::new(|_| {}),
            )
            .await
            .map_err(registry_error)?;
        }
        let (media_type, bytes) = match item.manifest_digest.as_ref().filter(|d| content.has(d)) {
            Some(d) => {
                let bytes = content.read(d)?;
                let mt = serde_json::from_slice::<MediaTypeOnly>(&bytes)
                    .ok()
                    .and_then(|v| v.media_type)
                    .unwrap_or_else(|| MEDIA_TYPE_OCI_MANIFEST.to_string());
                (mt, bytes)
            }
            None => {
                let config_size = content.size(&item.config)?;
                let (mt, bytes) = build_manifest(&item.config, config_size, &item.layers);
                (mt, bytes.to_vec())
            }
        };
        let digest = Digest::sha256_of(&bytes);
        let size = bytes.len();
        let tag = item
            .reference
            .tag
            .clone()
            .unwrap_or_else(|| digest.to_string());
        repo.put_manifest(&tag, &media_type, bytes)
            .await
            .map_err(registry_error)?;
        send(
            progress,
            JsonMessage::status(format!("{tag}: digest: {digest} size: {size}")),
        );
        send(
            progress,
            JsonMessage {
                progress_detail: Some(ProgressDetail::default()),
                aux: Some(PushResult {
                    tag: tag.clone(),
                    digest: digest.to_string(),
                    size: size as u64,
                }),
                ..Default::default()
            },
        );
        self.ctx
            .emit_image(item.config.as_str(), "push", &item.reference.familiar());
        Ok(())
    }

    /// `POST /auth`: checks credentials against a registry. Returns docker's status line.
    pub async fn registry_login(
        &self,
        username: String,
        password: String,
        server: String,
    ) -> Result<String> {
        let domain = server_domain(&server);
        let client = self.registry_client();
        let endpoint = client
            .endpoints(&domain, false)
            .map_err(registry_error)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal("no registry endpoint"))?;
        let creds = pouch_image::registry::Credentials::Basic(username, password);
        client
            .login(&endpoint, creds)
            .await
            .map_err(registry_error)?;
        Ok("Login Succeeded".to_string())
    }
}

/// The registry domain of a login server address (`https://index.docker.io/v1/`, `host:5000`).
pub(crate) fn server_domain(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// Uploads one layer unless the registry has it, with docker's progress messages.
async fn push_layer(
    repo: &pouch_image::registry::RepoClient,
    blob: &Digest,
    path: &std::path::Path,
    total: u64,
    id: &str,
    mount_from: &[String],
    progress: &UnboundedSender<JsonMessage>,
) -> Result<()> {
    if repo.has_blob(blob).await.map_err(registry_error)? {
        send(progress, status_detail("Layer already exists", id));
        return Ok(());
    }
    for from in mount_from.iter().take(3) {
        // A failed mount only means an upload; its error is not the push's.
        if repo.mount_blob(blob, from).await.unwrap_or(false) {
            send(progress, status_detail(&format!("Mounted from {from}"), id));
            return Ok(());
        }
    }
    let tick = {
        let (p, id) = (progress.clone(), id.to_string());
        let last = std::sync::Mutex::new(Instant::now());
        Arc::new(move |n: u64| {
            let mut l = last.lock().expect("progress clock");
            if n == total || l.elapsed().as_millis() >= 100 {
                *l = Instant::now();
                send(&p, bar("Pushing", &id, n, total));
            }
        })
    };
    repo.upload_file(blob, path, tick)
        .await
        .map_err(registry_error)
        .map_err(|e| e.context(&format!("pushing layer {blob}")))?;
    send(progress, status_detail("Pushed", id));
    Ok(())
}
