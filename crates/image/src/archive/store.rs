//! Writes planned images into the content store and snapshotter, reading each layer exactly once
//! (blob hash, decompression, diff hash and extraction in one pass), and undoes its own work when
//! anything fails.
//!
//! Nothing becomes visible unverified: a layer's blob and snapshot are committed only after both
//! digests matched. Undo removes exactly the blobs and snapshots this load created; callers that
//! load concurrently must serialize image deletion and loads (as the engine's image lock does), or
//! an undo could remove a blob another load just decided to reuse.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{LoadedImage, LoadedLayer, PlannedImage, PlannedLayer};
use crate::content::{BlobWriter, ContentStore};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::hashio::{Compression, HashReader, Tally, TeeReader, decompress, drain};
use crate::oci::{MEDIA_TYPE_DOCKER_LAYER, MEDIA_TYPE_DOCKER_LAYER_GZIP};
use crate::snapshot::{Snapshotter, chain_id};
use crate::unpack::{UnpackOptions, apply_layer};

/// A layer file already read and verified during this load.
struct Verified {
    blob: Digest,
    blob_size: u64,
    diff_id: Digest,
    media_type: String,
}

pub(crate) struct Writer<'a> {
    content: &'a ContentStore,
    snaps: &'a Snapshotter,
    opts: &'a UnpackOptions,
    created_blobs: Vec<Digest>,
    created_snaps: Vec<Digest>,
    verified: HashMap<PathBuf, Verified>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(
        content: &'a ContentStore,
        snaps: &'a Snapshotter,
        opts: &'a UnpackOptions,
    ) -> Writer<'a> {
        Writer {
            content,
            snaps,
            opts,
            created_blobs: Vec::new(),
            created_snaps: Vec::new(),
            verified: HashMap::new(),
        }
    }

    pub(crate) fn store_image(&mut self, plan: PlannedImage) -> Result<LoadedImage> {
        self.put(&plan.config_bytes, &plan.config_digest)?;
        if let Some((digest, bytes)) = &plan.manifest {
            self.put(bytes, digest)?;
        }
        let mut layers: Vec<LoadedLayer> = Vec::with_capacity(plan.layers.len());
        for (i, l) in plan.layers.iter().enumerate() {
            let what = format!("layer {i} ({}) of image {}", l.name, plan.config_digest);
            let parent = layers.last().map(|p| &p.chain_id);
            let layer = self.layer(l, parent, &what)?;
            layers.push(layer);
        }
        Ok(LoadedImage {
            config_digest: plan.config_digest,
            config: plan.config,
            manifest_digest: plan.manifest.map(|(d, _)| d),
            layers,
            repo_tags: plan.repo_tags,
        })
    }

    fn put(&mut self, bytes: &[u8], digest: &Digest) -> Result<()> {
        if self.content.put_new(bytes, Some(digest))?.created {
            self.created_blobs.push(digest.clone());
        }
        Ok(())
    }

    fn layer(
        &mut self,
        l: &PlannedLayer,
        parent: Option<&Digest>,
        what: &str,
    ) -> Result<LoadedLayer> {
        let chain = chain_id(parent, &l.diff_id);
        if let Some(v) = self.verified.get(&l.path)
            && v.diff_id == l.diff_id
            && self.snaps.has(&chain)
        {
            let size = self.snaps.size(&chain)?;
            return Ok(layer_of(v, chain, size));
        }

        let need_blob = l
            .descriptor
            .as_ref()
            .is_none_or(|d| !self.content.has(&d.digest));
        let mut writer = if need_blob {
            Some(self.content.writer()?)
        } else {
            None
        };
        let staged = if self.snaps.has(&chain) {
            None
        } else {
            Some(self.snaps.prepare()?)
        };
        let mut file = File::open(&l.path).ctx(|| format!("open {}", l.path.display()))?;
        let (mut raw, mut diff) = (Tally::default(), Tally::default());
        let dest = staged.as_ref().map(|s| s.fs());
        let piped = pipe(
            &mut file,
            &mut raw,
            &mut diff,
            writer.as_mut(),
            dest.as_deref(),
            self.opts,
        );
        // Whatever follows the compressed stream is part of the blob too.
        let rest = {
            let src = HashReader::new(&mut file, &mut raw);
            match writer.as_mut() {
                Some(w) => drain(TeeReader::new(src, w)),
                None => drain(src),
            }
        };
        if let Some(e) = raw.take_source_error() {
            return Err(Error::io(format!("read {}", l.path.display()), e));
        }
        if let Some(e) = writer.as_ref().and_then(BlobWriter::write_error) {
            return Err(Error::io("write blob", e));
        }
        let (compression, size) = piped?;
        rest.ctx(|| format!("read {}", l.path.display()))?;

        let blob = raw.digest();
        if let Some(d) = &l.descriptor {
            mismatch(&format!("{what}: blob"), &d.digest, &blob)?;
            if d.size != raw.len() {
                return Err(Error::InvalidArchive(format!(
                    "{what}: blob is {} bytes, manifest says {}",
                    raw.len(),
                    d.size
                )));
            }
        }
        mismatch(
            &format!("{what}: uncompressed content"),
            &l.diff_id,
            &diff.digest(),
        )?;

        if let Some(w) = writer {
            let committed = w.commit_new(Some(&blob))?;
            if committed.created {
                self.created_blobs.push(blob.clone());
            }
        }
        let size = match (staged, size) {
            (Some(staged), Some(size)) => {
                if staged.commit(&chain, size)? {
                    self.created_snaps.push(chain.clone());
                    size
                } else {
                    self.snaps.size(&chain)?
                }
            }
            _ => self.snaps.size(&chain)?,
        };
        let media_type = match &l.descriptor {
            Some(d) => d.media_type.clone(),
            None if compression == Compression::Gzip => MEDIA_TYPE_DOCKER_LAYER_GZIP.to_owned(),
            None => MEDIA_TYPE_DOCKER_LAYER.to_owned(),
        };
        let v = Verified {
            blob,
            blob_size: raw.len(),
            diff_id: l.diff_id.clone(),
            media_type,
        };
        let layer = layer_of(&v, chain, size);
        self.verified.insert(l.path.clone(), v);
        Ok(layer)
    }

    /// Removes every blob and snapshot this load created. Keeps going past failures (and logs
    /// them): the error that caused the undo is the one worth returning.
    pub(crate) fn rollback(self) {
        for chain in self.created_snaps.iter().rev() {
            if let Err(e) = self.snaps.remove(chain) {
                tracing::error!(%chain, error = %e, "cannot remove snapshot of failed load");
            }
        }
        for blob in self.created_blobs.iter().rev() {
            if let Err(e) = self.content.remove(blob) {
                tracing::error!(%blob, error = %e, "cannot remove blob of failed load");
            }
        }
    }
}

fn layer_of(v: &Verified, chain_id: Digest, size: u64) -> LoadedLayer {
    LoadedLayer {
        blob: v.blob.clone(),
        media_type: v.media_type.clone(),
        blob_size: v.blob_size,
        diff_id: v.diff_id.clone(),
        chain_id,
        size,
    }
}

pub(crate) fn mismatch(what: &str, expected: &Digest, actual: &Digest) -> Result<()> {
    if expected == actual {
        return Ok(());
    }
    Err(Error::DigestMismatch {
        what: what.to_owned(),
        expected: expected.to_string(),
        actual: actual.to_string(),
    })
}

/// The single pass over a layer file: raw bytes are hashed (and copied to `writer`), then
/// decompressed, hashed again and extracted into `dest` (or only hashed when `dest` is `None`).
/// Returns the compression found and the unpacked size.
fn pipe(
    file: &mut File,
    raw: &mut Tally,
    diff: &mut Tally,
    writer: Option<&mut BlobWriter>,
    dest: Option<&Path>,
    opts: &UnpackOptions,
) -> Result<(Compression, Option<u64>)> {
    let src = HashReader::new(file, raw);
    let src: Box<dyn Read + '_> = match writer {
        Some(w) => Box::new(TeeReader::new(src, w)),
        None => Box::new(src),
    };
    let (compression, plain) = decompress(src)?;
    let mut plain = HashReader::new(plain, diff);
    let size = match dest {
        Some(dest) => Some(apply_layer(&mut plain, dest, opts)?),
        None => None,
    };
    drain(&mut plain).map_err(|e| Error::InvalidArchive(format!("corrupt layer: {e}")))?;
    Ok((compression, size))
}
