//! `POST /images/create?fromImage=`: pulls an image from a registry.
//!
//! The manifest (and, through an index, the host's or the asked platform's manifest) and the
//! config are fetched first, so a missing image or bad credentials fail before any progress is
//! sent. Layers then download in parallel (at most [`PARALLEL_LAYERS`]), each streamed through
//! one pass that hashes, stores the blob, decompresses, hashes again and extracts into a staged
//! snapshot (no temporary tarball). Layers already stored are skipped; two pulls needing the same
//! layer wait for each other instead of fetching it twice. The image becomes visible only when
//! every layer is in place, in one metadata transaction.

use std::sync::Arc;
use std::time::Instant;

use pouch_api::types::JsonMessage;
use pouch_image::oci::{ImageConfig, Index, Manifest, Platform, is_foreign_layer, is_index};
use pouch_image::registry::{
    self as reg, AuthConfig, BlobReader, Client, RepoClient, parse_platform, select_platform,
};
use pouch_image::{Digest, LoadedImage, LoadedLayer, Reference, chain_id};
use tokio::sync::mpsc::UnboundedSender;

use super::gc::{IN_FLIGHT, Pins, flight_key};
use super::progress::{Progress, bar, send, short, status_detail, status_id};
use super::tag::records;
use crate::context::Blocking;
use crate::error::{Error, ErrorKind, Result};
use crate::store::{insert_image, set_ref};
use crate::{Distribution, now_nanos};

/// Layers downloaded at once per pull.
const PARALLEL_LAYERS: usize = 3;
/// Progress messages are sent at most this often per layer.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The engine error for a registry error; the kinds follow what docker answers.
pub(crate) fn registry_error(e: reg::Error) -> Error {
    match e {
        reg::Error::NotFound(m) => Error::not_found(m),
        reg::Error::Unauthorized(_) | reg::Error::Denied(_) => {
            Error::new(ErrorKind::InvalidArgument, e.to_string())
        }
        reg::Error::Unavailable(m) => Error::new(ErrorKind::Unavailable, m),
        reg::Error::Protocol(m) => Error::invalid(m),
        reg::Error::Image(e) => Error::from(e),
    }
}

/// A pull's target, parsed.
pub(crate) struct Target {
    pub reference: Reference,
    /// The tag or digest to fetch.
    pub what: String,
}

impl Distribution {
    pub(crate) fn registry_client(&self) -> Client {
        Client::new(self.ctx.registry_config())
    }

    /// Parses `fromImage` + `tag` as docker does (the tag may also be a digest).
    pub(crate) fn pull_target(&self, from_image: &str, tag: &str) -> Result<Target> {
        let mut r =
            Reference::parse_normalized(from_image).map_err(|e| Error::invalid(e.to_string()))?;
        if !tag.is_empty() {
            if tag.starts_with("sha256:") {
                r.digest = Some(Digest::parse(tag).map_err(|e| Error::invalid(e.to_string()))?);
                r.tag = None;
            } else {
                if !pouch_image::reference::valid_tag(tag) {
                    return Err(Error::invalid(format!("invalid tag format {tag:?}")));
                }
                r.tag = Some(tag.to_string());
            }
        }
        let r = r.with_default_tag();
        let what = match (&r.digest, &r.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        };
        Ok(Target { reference: r, what })
    }

    /// Pulls an image, sending docker's progress messages. Errors before the first message
    /// (no such image, bad credentials, registry down) are returned without any message sent.
    pub async fn pull_image(
        &self,
        from_image: String,
        tag: String,
        platform: Option<String>,
        auth_header: Option<String>,
        progress: UnboundedSender<JsonMessage>,
    ) -> Result<String> {
        let auth = match auth_header.as_deref() {
            Some(h) => AuthConfig::from_header(h).map_err(registry_error)?,
            None => AuthConfig::default(),
        };
        let platform = match platform.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => parse_platform(p).map_err(registry_error)?,
            None => Platform::host(),
        };
        // The API's "no tag at all" means every tag (`docker pull --all-tags`).
        let bare = Reference::parse_normalized(&from_image)
            .is_ok_and(|r| r.tag.is_none() && r.digest.is_none());
        if tag.is_empty() && bare {
            return self
                .pull_all_tags(&from_image, auth, platform, progress)
                .await;
        }
        let target = self.pull_target(&from_image, &tag)?;
        self.pull(target, auth, platform, progress).await
    }

    async fn pull_all_tags(
        &self,
        from_image: &str,
        auth: AuthConfig,
        platform: Platform,
        progress: Progress,
    ) -> Result<String> {
        let r =
            Reference::parse_normalized(from_image).map_err(|e| Error::invalid(e.to_string()))?;
        let client = self.registry_client();
        let mut tags = None;
        let mut last = None;
        for ep in client.endpoints(&r.domain, true).map_err(registry_error)? {
            let listed = async {
                client
                    .repo(&ep, &r.path, auth.credentials(), false)
                    .await?
                    .list_tags()
                    .await
            };
            match listed.await {
                Ok(t) => {
                    tags = Some(t);
                    break;
                }
                Err(e) if ep.mirror => last = Some(e),
                Err(e) => return Err(registry_error(e)),
            }
        }
        let Some(mut tags) = tags else {
            return Err(registry_error(last.unwrap_or_else(|| {
                reg::Error::Unavailable(format!("no endpoint for {}", r.domain))
            })));
        };
        if tags.is_empty() {
            return Err(Error::not_found(format!(
                "repository {} has no tags",
                r.familiar_name()
            )));
        }
        tags.sort();
        for t in tags {
            let target = self.pull_target(from_image, &t)?;
            self.pull(target, auth.clone(), platform.clone(), progress.clone())
                .await?;
        }
        Ok(r.familiar_name())
    }

    async fn pull(
        &self,
        target: Target,
        auth: AuthConfig,
        platform: Platform,
        progress: Progress,
    ) -> Result<String> {
        let r = &target.reference;
        let familiar = r.familiar();
        let client = self.registry_client();
        let (repo, top) = self.fetch_top(&client, &target, &auth).await?;
        let (manifest_digest, manifest_bytes) = if is_index(&top.media_type) {
            let index: Index = serde_json::from_slice(&top.bytes)
                .map_err(|e| Error::invalid(format!("bad image index from registry: {e}")))?;
            let desc = select_platform(&index, &platform).ok_or_else(|| {
                Error::not_found(format!(
                    "no matching manifest for {} in the manifest list entries",
                    platform_string(&platform)
                ))
            })?;
            let (_, bytes, d) = repo
                .get_manifest(desc.digest.as_str())
                .await
                .map_err(registry_error)?;
            (d, bytes)
        } else {
            (top.digest.clone(), top.bytes.clone())
        };
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| Error::invalid(format!("bad image manifest from registry: {e}")))?;
        if let Some(l) = manifest
            .layers
            .iter()
            .find(|l| is_foreign_layer(&l.media_type))
        {
            return Err(Error::not_implemented(format!(
                "image {familiar} has a foreign (non-distributable) layer {} ({}): such layers \
                 are only for Windows images and are not pulled",
                l.digest, l.media_type
            )));
        }
        let config_bytes = repo
            .get_blob_bytes(&manifest.config.digest)
            .await
            .map_err(registry_error)?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| Error::invalid(format!("bad image config from registry: {e}")))?;
        let diff_ids = config.rootfs.diff_ids.clone();
        if diff_ids.len() != manifest.layers.len() {
            return Err(Error::invalid(format!(
                "image {familiar}: the manifest lists {} layers but the config has {} diff ids",
                manifest.layers.len(),
                diff_ids.len()
            )));
        }

        send(
            &progress,
            status_id(&format!("Pulling from {}", r.path), &tag_or_digest(r)),
        );
        let id = manifest.config.digest.clone();
        let mut chains = Vec::with_capacity(diff_ids.len());
        for d in &diff_ids {
            let c = chain_id(chains.last(), d);
            chains.push(c);
        }
        let _pins = Pins::new(
            &self.ctx.config.root,
            chains
                .iter()
                .chain(manifest.layers.iter().map(|l| &l.digest))
                .map(|d| d.to_string()),
        );
        let up_to_date = self.ctx.store.image(id.as_str())?.is_some()
            && chains.iter().all(|c| self.ctx.snaps.has(c));

        let sem = Arc::new(tokio::sync::Semaphore::new(PARALLEL_LAYERS));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, desc) in manifest.layers.iter().enumerate() {
            let short = short(&desc.digest);
            let chain = chains[i].clone();
            if self.ctx.snaps.has(&chain) && self.ctx.content.has(&desc.digest) {
                send(&progress, status_detail("Already exists", &short));
                continue;
            }
            send(&progress, status_detail("Pulling fs layer", &short));
            let (e, repo, sem, progress) =
                (self.clone(), repo.clone(), sem.clone(), progress.clone());
            let (desc, diff_id) = (desc.clone(), diff_ids[i].clone());
            let what = format!("layer {i} ({}) of {familiar}", desc.digest);
            tasks.spawn(async move {
                let _permit = sem.acquire_owned().await.expect("semaphore open");
                e.fetch_layer(repo, desc, diff_id, chain, short, what, progress)
                    .await
            });
        }
        while let Some(res) = tasks.join_next().await {
            let res = res.map_err(|e| Error::internal(format!("layer task failed: {e}")))?;
            if let Err(e) = res {
                tasks.abort_all();
                return Err(e);
            }
        }

        // Record under the image lock, after checking that nothing removed a layer meanwhile.
        let _guard = self.images.lock.lock().await;
        let e = self.clone();
        let top_digest = top.digest.clone();
        let reference = r.clone();
        let created = self
            .blocking(move |e2| {
                let i = &e2.ctx;
                let mut layers = Vec::with_capacity(manifest.layers.len());
                for (n, desc) in manifest.layers.iter().enumerate() {
                    let chain = &chains[n];
                    if !i.snaps.has(chain) || !i.content.has(&desc.digest) {
                        return Err(Error::conflict(format!(
                            "layer {} was removed while the image was pulled; pull again",
                            desc.digest
                        )));
                    }
                    layers.push(LoadedLayer {
                        blob: desc.digest.clone(),
                        media_type: desc.media_type.clone(),
                        blob_size: desc.size,
                        diff_id: diff_ids[n].clone(),
                        chain_id: chain.clone(),
                        size: i.snaps.size(chain)?,
                    });
                }
                i.content.put(&config_bytes, Some(&id))?;
                i.content.put(&manifest_bytes, Some(&manifest_digest))?;
                let img = LoadedImage {
                    config_digest: id.clone(),
                    config,
                    manifest_digest: Some(manifest_digest),
                    layers,
                    repo_tags: Vec::new(),
                };
                let (rec, layer_recs) = records(&img, now_nanos())?;
                let now = now_nanos();
                let digest_ref = Reference {
                    tag: None,
                    digest: Some(top_digest),
                    ..reference.clone()
                };
                i.store.tx(|tx| {
                    insert_image(tx, &rec, &layer_recs)?;
                    if reference.digest.is_none() {
                        set_ref(tx, &reference.to_string(), &rec.id, now)?;
                    }
                    set_ref(tx, &digest_ref.to_string(), &rec.id, now)?;
                    Ok(())
                })?;
                Ok(rec.id)
            })
            .await?;
        e.ctx.emit_image(&created, "pull", &familiar);
        send(
            &progress,
            JsonMessage::status(format!("Digest: {}", top.digest)),
        );
        let status = if up_to_date {
            format!("Status: Image is up to date for {familiar}")
        } else {
            format!("Status: Downloaded newer image for {familiar}")
        };
        send(&progress, JsonMessage::status(status));
        Ok(familiar)
    }

    /// Finds the manifest or index the reference names: mirrors first, then the registry. A
    /// mirror that fails or lacks the image is skipped.
    async fn fetch_top(
        &self,
        client: &Client,
        target: &Target,
        auth: &AuthConfig,
    ) -> Result<(RepoClient, reg::Fetched)> {
        let r = &target.reference;
        let endpoints = client.endpoints(&r.domain, true).map_err(registry_error)?;
        let mut last = None;
        for ep in &endpoints {
            let attempt = async {
                let repo = client.repo(ep, &r.path, auth.credentials(), false).await?;
                let (media_type, bytes, digest) = repo.get_manifest(&target.what).await?;
                if !reg::known_manifest(&media_type) {
                    return Err(reg::Error::Protocol(format!(
                        "unsupported manifest media type {media_type:?} for {}",
                        r.familiar()
                    )));
                }
                Ok((
                    repo,
                    reg::Fetched {
                        media_type,
                        bytes,
                        digest,
                    },
                ))
            };
            match attempt.await {
                Ok(found) => return Ok(found),
                Err(e) if ep.mirror => {
                    tracing::info!(mirror = %ep.host, error = %e, "mirror failed; trying the next endpoint");
                    last = Some(e);
                }
                Err(reg::Error::NotFound(m)) => {
                    let shown = match &r.digest {
                        Some(d) => format!("{}@{d}", r.familiar_name()),
                        None => r.familiar(),
                    };
                    let why = m.split_once(": ").map_or(m.as_str(), |(_, w)| w);
                    return Err(Error::not_found(format!(
                        "manifest for {shown} not found: {why}"
                    )));
                }
                Err(e) => return Err(registry_error(e)),
            }
        }
        Err(registry_error(last.unwrap_or_else(|| {
            reg::Error::Unavailable(format!("no endpoint for {}", r.domain))
        })))
    }

    #[allow(clippy::too_many_arguments)]
    async fn fetch_layer(
        &self,
        repo: RepoClient,
        desc: pouch_image::oci::Descriptor,
        diff_id: Digest,
        chain: Digest,
        short: String,
        what: String,
        progress: Progress,
    ) -> Result<()> {
        let root = self.ctx.config.root.clone();
        let key = flight_key(&root, chain.as_str());
        let lock = IN_FLIGHT
            .lock()
            .expect("in-flight map")
            .entry(key.clone())
            .or_default()
            .clone();
        let _held = lock.lock().await;
        let res = self
            .fetch_layer_locked(repo, &desc, diff_id, &chain, &short, what, &progress)
            .await;
        {
            let mut map = IN_FLIGHT.lock().expect("in-flight map");
            if Arc::strong_count(&lock) <= 2 {
                map.remove(&key);
            }
        }
        res
    }

    #[allow(clippy::too_many_arguments)]
    async fn fetch_layer_locked(
        &self,
        repo: RepoClient,
        desc: &pouch_image::oci::Descriptor,
        diff_id: Digest,
        chain: &Digest,
        short: &str,
        what: String,
        progress: &Progress,
    ) -> Result<()> {
        let i = &self.ctx;
        if i.snaps.has(chain) && i.content.has(&desc.digest) {
            send(progress, status_detail("Already exists", short));
            return Ok(());
        }
        let handle = tokio::runtime::Handle::current();
        let total = desc.size;
        let tick = {
            let (progress, short) = (progress.clone(), short.to_string());
            let mut last = Instant::now();
            Box::new(move |n: u64| {
                if n == total || last.elapsed() >= PROGRESS_EVERY {
                    last = Instant::now();
                    send(&progress, bar("Downloading", &short, n, total));
                }
            }) as Box<dyn FnMut(u64) + Send>
        };
        let (desc2, chain2) = (desc.clone(), chain.clone());
        let local = i.content.has(&desc.digest);
        self.blocking(move |e| {
            let i = &e.ctx;
            let reader: Box<dyn std::io::Read> = if local {
                Box::new(i.content.open_blob(&desc2.digest)?)
            } else {
                Box::new(BlobReader::new(
                    handle,
                    repo,
                    desc2.digest.clone(),
                    desc2.size,
                    tick,
                ))
            };
            pouch_image::registry::store_layer(
                reader, &desc2, &diff_id, &chain2, &i.content, &i.snaps, &i.unpack, &what,
            )
            .map_err(Error::from)?;
            Ok(())
        })
        .await?;
        send(progress, status_detail("Pull complete", short));
        Ok(())
    }
}

fn tag_or_digest(r: &Reference) -> String {
    match (&r.tag, &r.digest) {
        (_, Some(d)) => d.to_string(),
        (Some(t), None) => t.clone(),
        _ => "latest".to_string(),
    }
}

fn platform_string(p: &Platform) -> String {
    match &p.variant {
        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}
