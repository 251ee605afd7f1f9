//! `save`: writes docker ≥25's archive layout, which is at once an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/…`) and a docker-archive (`manifest.json` pointing at the same
//! blobs), so docker before and after 25, containerd and pouch all load it.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};

use tar::{EntryType, Header};

use super::{SaveItem, blob_name};
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::hashio::{HashReader, Tally};
use crate::oci::{
    ANNOTATION_CONTAINERD_IMAGE_NAME, ANNOTATION_REF_NAME, Descriptor, DockerManifestItem, Index,
    MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, Manifest,
    oci_layer_media_type,
};

/// Writes `items` and every blob they need (each once) as a tar to `w`. Entries have fixed
/// ownership and mtime 0, so saving the same images twice gives the same bytes.
pub fn save(w: impl Write, items: &[SaveItem], content: &ContentStore) -> Result<()> {
    let mut out = Out {
        tar: tar::Builder::new(w),
        written: HashSet::new(),
    };
    out.dir("blobs/")?;
    out.dir("blobs/sha256/")?;
    out.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;

    let mut index = Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_INDEX.to_owned()),
        manifests: Vec::new(),
        annotations: None,
    };
    let mut docker_manifest = Vec::with_capacity(items.len());
    for item in items {
        out.blob(content, &item.config_digest)?;
        for l in &item.layers {
            out.blob(content, &l.blob)?;
        }
        let (manifest_bytes, media_type) = match &item.manifest_digest {
            Some(d) => stored_manifest(content, d)?,
            None => (
                synthesize(content, item)?,
                MEDIA_TYPE_OCI_MANIFEST.to_owned(),
            ),
        };
        let manifest_digest = Digest::sha256_of(&manifest_bytes);
        if out.written.insert(manifest_digest.clone()) {
            out.bytes(&blob_name(&manifest_digest), &manifest_bytes)?;
        }
        let desc = |annotations| Descriptor {
            media_type: media_type.clone(),
            digest: manifest_digest.clone(),
            size: manifest_bytes.len() as u64,
            urls: None,
            annotations,
            platform: None,
        };
        if item.repo_tags.is_empty() {
            index.manifests.push(desc(None));
        }
        for r in &item.repo_tags {
            let mut a =
                BTreeMap::from([(ANNOTATION_CONTAINERD_IMAGE_NAME.to_owned(), r.to_string())]);
            if let Some(tag) = &r.tag {
                a.insert(ANNOTATION_REF_NAME.to_owned(), tag.clone());
            }
            index.manifests.push(desc(Some(a)));
        }
        docker_manifest.push(DockerManifestItem {
            config: blob_name(&item.config_digest),
            repo_tags: (!item.repo_tags.is_empty())
                .then(|| item.repo_tags.iter().map(|r| r.familiar()).collect()),
            layers: item.layers.iter().map(|l| blob_name(&l.blob)).collect(),
            layer_sources: None,
        });
    }
    out.bytes("index.json", &to_json(&index, "index.json")?)?;
    out.bytes(
        "manifest.json",
        &to_json(&docker_manifest, "manifest.json")?,
    )?;
    let mut w = out.tar.into_inner().ctx(|| "write archive")?;
    w.flush().ctx(|| "write archive")
}

fn to_json<T: serde::Serialize>(v: &T, what: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::json(format!("encode {what}"), e))
}

/// A stored manifest and the media type it declares (docker v2 manifests carry theirs).
fn stored_manifest(content: &ContentStore, d: &Digest) -> Result<(Vec<u8>, String)> {
    let bytes = content.read(d)?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::json(format!("parse stored manifest {d}"), e))?;
    let media_type = m
        .media_type
        .unwrap_or_else(|| MEDIA_TYPE_OCI_MANIFEST.to_owned());
    Ok((bytes, media_type))
}

/// An OCI manifest for an image that has none stored (loaded from a docker-archive, imported,
/// committed). It exists only in the archive, so layer media types are translated to OCI's.
fn synthesize(content: &ContentStore, item: &SaveItem) -> Result<Vec<u8>> {
    let layers = item
        .layers
        .iter()
        .map(|l| Descriptor {
            media_type: oci_layer_media_type(&l.media_type).to_owned(),
            digest: l.blob.clone(),
            size: l.size,
            urls: None,
            annotations: None,
            platform: None,
        })
        .collect();
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_owned()),
        config: Descriptor {
            media_type: MEDIA_TYPE_OCI_CONFIG.to_owned(),
            digest: item.config_digest.clone(),
            size: content.size(&item.config_digest)?,
            urls: None,
            annotations: None,
            platform: None,
        },
        layers,
        annotations: None,
    };
    to_json(&manifest, "manifest")
}

struct Out<W: Write> {
    tar: tar::Builder<W>,
    written: HashSet<Digest>,
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

impl<W: Write> Out<W> {
    fn dir(&mut self, name: &str) -> Result<()> {
        let mut h = header(EntryType::Directory, 0o755, 0);
        self.tar
            .append_data(&mut h, name, io::empty())
            .ctx(|| "write archive")
    }

    fn bytes(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let mut h = header(EntryType::Regular, 0o644, data.len() as u64);
        self.tar
            .append_data(&mut h, name, data)
            .ctx(|| "write archive")
    }

    /// Streams a stored blob into the archive once, re-hashing it on the way so a blob corrupted
    /// on disk fails the save instead of producing an archive that will not load.
    fn blob(&mut self, content: &ContentStore, d: &Digest) -> Result<()> {
        if self.written.contains(d) {
            return Ok(());
        }
        let file = content.open_blob(d)?;
        let size = file.metadata().ctx(|| format!("stat blob {d}"))?.len();
        let mut tally = Tally::default();
        let mut h = header(EntryType::Regular, 0o644, size);
        let reader = HashReader::new(file, &mut tally).take(size);
        self.tar
            .append_data(&mut h, blob_name(d), reader)
            .ctx(|| format!("write blob {d} to archive"))?;
        if tally.len() != size || &tally.digest() != d {
            return Err(Error::io(
                format!("blob {d} is corrupt"),
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "content does not match its digest",
                ),
            ));
        }
        self.written.insert(d.clone());
        Ok(())
    }
}
