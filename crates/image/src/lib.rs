//! Image store: content-addressed blobs, references, OCI/docker manifests, layer unpacking and the
//! overlayfs snapshotter, archive load/save and rootfs import.
//!
//! Everything here is synchronous and blocking (file and tar I/O); async callers run it on a
//! blocking thread. Nothing here keeps metadata about images: callers record what `load` and
//! `import` return, and use the content store and snapshotter as caches addressed by digest.

pub mod archive;
pub mod commit;
pub mod content;
pub mod digest;
pub mod error;
pub mod import;
pub mod oci;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod unpack;

mod hashio;
mod new_image;
#[cfg(test)]
mod testutil;

pub use archive::{LoadedImage, LoadedLayer, SaveItem, SaveLayer, load, save};
pub use content::{BlobWriter, ContentStore};
pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;
pub use snapshot::{Snapshotter, chain_id};
pub use unpack::{UnpackOptions, apply_layer};
