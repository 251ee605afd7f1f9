//! `docker load` / `docker save`: image archives in docker's formats and the OCI image layout.
//!
//! [`load`] accepts docker-archive (both the legacy `<id>/layer.tar` layout and docker ≥25's
//! `blobs/sha256` one) and OCI image layouts; [`save`] writes docker ≥25's combined layout, which old
//! and new docker versions, containerd and pouch all load. Loading verifies every blob against its
//! digest and every layer against the config's diff ids, and is all-or-nothing: on failure it
//! removes every blob and snapshot it created.

mod load;
mod oci_layout;
mod save;
mod staging;
mod store;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::digest::Digest;
use crate::oci::{Descriptor, ImageConfig};
use crate::reference::Reference;

pub use load::load;
pub use save::save;

/// A layer as stored by a load or import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedLayer {
    /// Digest of the blob as stored (compressed or not, as it came).
    pub blob: Digest,
    pub media_type: String,
    pub blob_size: u64,
    /// Digest of the uncompressed tar (`rootfs.diff_ids[i]`).
    pub diff_id: Digest,
    /// Snapshot holding this layer on top of its parents.
    pub chain_id: Digest,
    /// Unpacked size: sum of the layer's regular file sizes.
    pub size: u64,
}

/// An image a load or import stored; the caller records it (names, ids) in its metadata.
#[derive(Clone, Debug)]
pub struct LoadedImage {
    /// The image id.
    pub config_digest: Digest,
    pub config: ImageConfig,
    /// The manifest blob, when the archive had one (OCI layouts); docker-archives have none.
    pub manifest_digest: Option<Digest>,
    pub layers: Vec<LoadedLayer>,
    /// Normalized and tagged (`docker.io/library/busybox:latest`).
    pub repo_tags: Vec<Reference>,
}

/// A layer to save: a blob in the content store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveLayer {
    pub blob: Digest,
    pub media_type: String,
    pub size: u64,
}

/// An image to save, with the names to give it in the archive.
#[derive(Clone, Debug)]
pub struct SaveItem {
    pub config_digest: Digest,
    /// The stored manifest to ship; when `None` an OCI manifest is made up for the archive.
    pub manifest_digest: Option<Digest>,
    pub layers: Vec<SaveLayer>,
    pub repo_tags: Vec<Reference>,
}

/// Archive path of a blob.
pub(crate) fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// What a format-specific reader found: one image, checked for consistency but with its layers
/// not read yet.
pub(crate) struct PlannedImage {
    pub config_digest: Digest,
    pub config_bytes: Vec<u8>,
    pub config: ImageConfig,
    pub manifest: Option<(Digest, Vec<u8>)>,
    pub layers: Vec<PlannedLayer>,
    pub repo_tags: Vec<Reference>,
}

pub(crate) struct PlannedLayer {
    /// The layer file inside the staging directory.
    pub path: PathBuf,
    /// Its name in the archive, for messages.
    pub name: String,
    pub diff_id: Digest,
    /// The manifest's descriptor (OCI): the blob must match it. `None` for docker-archives, whose
    /// layers are identified by their diff id only.
    pub descriptor: Option<Descriptor>,
}

/// Drops a digest from a name and adds `latest` if it has no tag: the names an archive gives are
/// tags, and a digest-only name is not one.
pub(crate) fn tagged(r: Reference) -> Option<Reference> {
    if r.tag.is_none() && r.digest.is_some() {
        return None;
    }
    Some(Reference { digest: None, ..r }.with_default_tag())
}
