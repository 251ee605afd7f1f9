//! OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`): follows indexes down to image
//! manifests, picking the host platform from multi-platform indexes.

use std::collections::HashMap;

use super::load::{foreign_layer, parse_json};
use super::staging::{Staging, missing};
use super::store::mismatch;
use super::{PlannedImage, PlannedLayer, blob_name, tagged};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::{
    ANNOTATION_CONTAINERD_IMAGE_NAME, ANNOTATION_REF_NAME, Descriptor, ImageConfig, Index,
    Manifest, Platform, is_foreign_layer, is_index, is_manifest,
};
use crate::reference::Reference;

/// Nested indexes followed before assuming a cycle.
const MAX_DEPTH: usize = 8;

pub(super) fn plan(st: &Staging) -> Result<Vec<PlannedImage>> {
    if st.exists("oci-layout") {
        let layout: serde_json::Value =
            parse_json(&st.read("oci-layout", "the archive")?, "oci-layout")?;
        if layout
            .get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .is_none()
        {
            return Err(Error::InvalidArchive(
                "oci-layout has no imageLayoutVersion".into(),
            ));
        }
    }
    let index: Index = parse_json(&st.read("index.json", "the archive")?, "index.json")?;
    let host = Platform::host();

    // Manifests in first-seen order, each with every name that pointed at it.
    let mut order: Vec<Descriptor> = Vec::new();
    let mut names: HashMap<Digest, Vec<Reference>> = HashMap::new();
    for desc in &index.manifests {
        let refs = names_of(desc);
        for m in resolve(st, desc, "index.json", &host, 0)? {
            let entry = names.entry(m.digest.clone()).or_insert_with(|| {
                order.push(m.clone());
                Vec::new()
            });
            for r in &refs {
                if !entry.contains(r) {
                    entry.push(r.clone());
                }
            }
        }
    }
    if order.is_empty() {
        return Err(Error::InvalidArchive(
            "index.json lists no image manifests".into(),
        ));
    }
    order
        .into_iter()
        .map(|desc| {
            let tags = names.remove(&desc.digest).unwrap_or_default();
            plan_image(st, &desc, tags)
        })
        .collect()
}

/// The names a top-level descriptor gives its image. containerd and docker put the full name in
/// `io.containerd.image.name`; `org.opencontainers.image.ref.name` is a full name for some tools
/// but only a tag (`latest`) for others (skopeo, the spec's own example), and a bare tag names no
/// repository, so it is used only when it has a repository part.
fn names_of(desc: &Descriptor) -> Vec<Reference> {
    let name = desc
        .annotation(ANNOTATION_CONTAINERD_IMAGE_NAME)
        .or_else(|| {
            desc.annotation(ANNOTATION_REF_NAME)
                .filter(|n| n.contains(['/', ':', '@']))
        });
    let Some(name) = name else { return Vec::new() };
    match Reference::parse_normalized(name) {
        Ok(r) => tagged(r).into_iter().collect(),
        Err(e) => {
            tracing::warn!(name, error = %e, "ignoring invalid image name in index.json");
            Vec::new()
        }
    }
}

/// The image manifests `desc` stands for: itself, or the host's entry of the index it points to.
/// Other media types (attestations, artifacts) stand for none.
fn resolve(
    st: &Staging,
    desc: &Descriptor,
    referrer: &str,
    host: &Platform,
    depth: usize,
) -> Result<Vec<Descriptor>> {
    if is_manifest(&desc.media_type) {
        return Ok(vec![desc.clone()]);
    }
    if !is_index(&desc.media_type) {
        tracing::debug!(digest = %desc.digest, media_type = %desc.media_type, "skipping non-image descriptor");
        return Ok(Vec::new());
    }
    if depth >= MAX_DEPTH {
        return Err(Error::InvalidArchive(format!(
            "index {} is nested too deeply",
            desc.digest
        )));
    }
    let what = format!("index {}", desc.digest);
    let index: Index = parse_json(&read_blob(st, desc, referrer, "index")?, &what)?;
    let chosen = pick_platform(&index.manifests, host).ok_or_else(|| {
        Error::Unsupported(format!(
            "{what} has no image for platform {}/{}",
            host.os, host.architecture
        ))
    })?;
    resolve(st, chosen, &what, host, depth + 1)
}

/// The best entry for `host`: same os and architecture, preferring the same variant; an entry
/// without a platform is a last resort.
fn pick_platform<'a>(entries: &'a [Descriptor], host: &Platform) -> Option<&'a Descriptor> {
    let rank = |d: &Descriptor| -> Option<u8> {
        if !is_manifest(&d.media_type) && !is_index(&d.media_type) {
            return None;
        }
        let Some(p) = &d.platform else { return Some(0) };
        if p.os != host.os || p.architecture != host.architecture {
            return None;
        }
        match (&p.variant, &host.variant) {
            (Some(a), Some(b)) if a == b => Some(3),
            (None, _) | (_, None) => Some(2),
            _ => Some(1),
        }
    };
    let mut best: Option<(u8, &Descriptor)> = None;
    for d in entries {
        if let Some(r) = rank(d)
            && best.is_none_or(|(b, _)| r > b)
        {
            best = Some((r, d));
        }
    }
    best.map(|(_, d)| d)
}

/// Reads a metadata blob and checks it against its descriptor.
fn read_blob(st: &Staging, desc: &Descriptor, referrer: &str, kind: &str) -> Result<Vec<u8>> {
    let bytes = st.read(&blob_name(&desc.digest), referrer)?;
    mismatch(
        &format!("{kind} {}", desc.digest),
        &desc.digest,
        &Digest::sha256_of(&bytes),
    )?;
    if bytes.len() as u64 != desc.size {
        return Err(Error::InvalidArchive(format!(
            "{kind} {} is {} bytes, its descriptor says {}",
            desc.digest,
            bytes.len(),
            desc.size
        )));
    }
    Ok(bytes)
}

fn plan_image(st: &Staging, desc: &Descriptor, repo_tags: Vec<Reference>) -> Result<PlannedImage> {
    let manifest_bytes = read_blob(st, desc, "index.json", "manifest")?;
    let what = format!("manifest {}", desc.digest);
    let manifest: Manifest = parse_json(&manifest_bytes, &what)?;
    let config_bytes = read_blob(st, &manifest.config, &what, "config")?;
    let config: ImageConfig = parse_json(
        &config_bytes,
        &format!("image config {}", manifest.config.digest),
    )?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(Error::InvalidArchive(format!(
            "{what} lists {} layers but its config has {} diff ids",
            manifest.layers.len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (l, diff_id) in manifest.layers.iter().zip(diff_ids) {
        let name = blob_name(&l.digest);
        let Some(path) = st.find(&name)? else {
            return Err(if is_foreign_layer(&l.media_type) {
                foreign_layer(&l.digest, &l.media_type)
            } else {
                missing(&name, &what)
            });
        };
        layers.push(PlannedLayer {
            path,
            name,
            diff_id: diff_id.clone(),
            descriptor: Some(l.clone()),
        });
    }
    Ok(PlannedImage {
        config_digest: manifest.config.digest.clone(),
        config_bytes,
        config,
        manifest: Some((desc.digest.clone(), manifest_bytes)),
        layers,
        repo_tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::platform_manifest;

    #[test]
    fn picks_host_platform() {
        let host = Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: Some("v8".into()),
            ..Platform::default()
        };
        let entries = [
            platform_manifest("amd64", None, 0),
            platform_manifest("arm64", None, 1),
            platform_manifest("arm64", Some("v8"), 2),
        ];
        assert_eq!(
            pick_platform(&entries, &host).unwrap().digest,
            entries[2].digest
        );
        assert_eq!(
            pick_platform(&entries[..2], &host).unwrap().digest,
            entries[1].digest
        );
        assert!(pick_platform(&entries[..1], &host).is_none());
    }
}
