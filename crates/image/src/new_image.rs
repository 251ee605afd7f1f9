//! The end that `commit` and `import` share: a new layer, stored uncompressed, its snapshot and a
//! config become an image; when a step fails, what the call created on the way is removed again.

use crate::archive::{LoadedImage, LoadedLayer};
use crate::content::{Committed, ContentStore};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::oci::{ImageConfig, MEDIA_TYPE_DOCKER_LAYER};
use crate::snapshot::Snapshotter;

/// What a call has created so far: removed again by [`Undo::run`] if a later step fails.
pub(crate) struct Undo<'a> {
    content: &'a ContentStore,
    snaps: &'a Snapshotter,
    /// The operation, for the logs (`commit`, `import`).
    what: &'static str,
    blobs: Vec<Digest>,
    /// A snapshot this call committed (not one it found already there).
    pub snapshot: Option<Digest>,
}

impl Undo<'_> {
    fn blob(&mut self, put: &Committed) {
        if put.created {
            self.blobs.push(put.digest.clone());
        }
    }

    /// Stores `config` and returns the (untagged) image of `config` and `layers`.
    pub fn image(&mut self, config: ImageConfig, layers: Vec<LoadedLayer>) -> Result<LoadedImage> {
        let bytes =
            serde_json::to_vec(&config).map_err(|e| Error::json("encode image config", e))?;
        let put = self.content.put_new(&bytes, None)?;
        self.blob(&put);
        Ok(LoadedImage {
            config_digest: put.digest,
            config,
            manifest_digest: None,
            layers,
            repo_tags: Vec::new(),
        })
    }

    fn run(self) {
        let what = self.what;
        if let Some(chain) = &self.snapshot
            && let Err(e) = self.snaps.remove(chain)
        {
            tracing::error!(%chain, error = %e, "cannot remove snapshot of failed {what}");
        }
        for blob in &self.blobs {
            if let Err(e) = self.content.remove(blob) {
                tracing::error!(%blob, error = %e, "cannot remove blob of failed {what}");
            }
        }
    }
}

/// Runs `build` (which snapshots the new `layer` blob and makes the image) with an [`Undo`] that
/// already holds that blob if this call stored it; if `build` fails, everything the undo holds is
/// removed before the error is returned.
pub(crate) fn with_undo(
    content: &ContentStore,
    snaps: &Snapshotter,
    what: &'static str,
    layer: &Committed,
    build: impl FnOnce(&mut Undo<'_>) -> Result<LoadedImage>,
) -> Result<LoadedImage> {
    let mut undo = Undo {
        content,
        snaps,
        what,
        blobs: Vec::new(),
        snapshot: None,
    };
    undo.blob(layer);
    let result = build(&mut undo);
    if result.is_err() {
        undo.run();
    }
    result
}

/// A layer stored uncompressed: its blob is its diff id.
pub(crate) fn uncompressed_layer(layer: &Committed, chain_id: Digest, size: u64) -> LoadedLayer {
    LoadedLayer {
        blob: layer.digest.clone(),
        media_type: MEDIA_TYPE_DOCKER_LAYER.to_owned(),
        blob_size: layer.size,
        diff_id: layer.digest.clone(),
        chain_id,
        size,
    }
}
