//! Storing one layer as it arrives: the compressed bytes are hashed and written to the content
//! store while they are decompressed, hashed again and extracted into a staged snapshot. Both are
//! published only after both digests matched, so an interrupted or corrupt download leaves
//! nothing behind (the blob writer and the staging directory clean up when dropped).

use std::io::Read;

use crate::content::{BlobWriter, ContentStore};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::hashio::{HashReader, Tally, TeeReader, decompress, drain};
use crate::oci::Descriptor;
use crate::snapshot::Snapshotter;
use crate::unpack::{UnpackOptions, apply_layer};

/// What [`store_layer`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLayer {
    /// Unpacked size.
    pub size: u64,
    pub blob_created: bool,
    pub snapshot_created: bool,
}

/// Reads the blob `desc` from `r` and stores it (unless the content store has it) and its
/// snapshot `chain` (unless the snapshotter has it), verifying the blob against `desc` and the
/// uncompressed stream against `diff_id`. `what` names the layer in errors.
#[allow(clippy::too_many_arguments)]
pub fn store_layer(
    r: impl Read,
    desc: &Descriptor,
    diff_id: &Digest,
    chain: &Digest,
    content: &ContentStore,
    snaps: &Snapshotter,
    opts: &UnpackOptions,
    what: &str,
) -> Result<StoredLayer> {
    let mut writer = if content.has(&desc.digest) {
        None
    } else {
        Some(content.writer()?)
    };
    let staged = if snaps.has(chain) {
        None
    } else {
        Some(snaps.prepare()?)
    };
    let (mut raw, mut diff) = (Tally::default(), Tally::default());
    let mut r = r;
    let size = {
        let src = HashReader::new(&mut r, &mut raw);
        let src: Box<dyn Read + '_> = match writer.as_mut() {
            Some(w) => Box::new(TeeReader::new(src, w)),
            None => Box::new(src),
        };
        (|| {
            let (_, plain) = decompress(src)?;
            let mut plain = HashReader::new(plain, &mut diff);
            let size = match &staged {
                Some(s) => Some(apply_layer(&mut plain, &s.fs(), opts)?),
                None => None,
            };
            drain(&mut plain).map_err(|e| Error::InvalidArchive(format!("corrupt layer: {e}")))?;
            Ok::<_, Error>(size)
        })()
    };
    // A download failure surfaces as a read error deep in the decompressor; report it as such.
    if let Some(e) = raw.take_source_error() {
        return Err(Error::io(format!("download {what}"), e));
    }
    if let Some(e) = writer.as_ref().and_then(BlobWriter::write_error) {
        return Err(Error::io("write blob", e));
    }
    let size = size?;
    // Whatever follows the compressed stream is part of the blob too.
    {
        let src = HashReader::new(&mut r, &mut raw);
        match writer.as_mut() {
            Some(w) => drain(TeeReader::new(src, w)),
            None => drain(src),
        }
        .map_err(|e| Error::io(format!("download {what}"), e))?;
    }
    let blob = raw.digest();
    if blob != desc.digest {
        return Err(Error::DigestMismatch {
            what: format!("{what}: blob"),
            expected: desc.digest.to_string(),
            actual: blob.to_string(),
        });
    }
    if raw.len() != desc.size {
        return Err(Error::InvalidArchive(format!(
            "{what}: blob is {} bytes, manifest says {}",
            raw.len(),
            desc.size
        )));
    }
    let got = diff.digest();
    if &got != diff_id {
        return Err(Error::DigestMismatch {
            what: format!("{what}: uncompressed content"),
            expected: diff_id.to_string(),
            actual: got.to_string(),
        });
    }
    let blob_created = match writer {
        Some(w) => w.commit_new(Some(&blob))?.created,
        None => false,
    };
    let (size, snapshot_created) = match (staged, size) {
        (Some(staged), Some(size)) => {
            if staged.commit(chain, size)? {
                (size, true)
            } else {
                (snaps.size(chain)?, false)
            }
        }
        _ => (snaps.size(chain)?, false),
    };
    Ok(StoredLayer {
        size,
        blob_created,
        snapshot_created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TarBuf;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn stores_verified_and_refuses_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let snaps = Snapshotter::open(dir.path()).unwrap();
        let tar = TarBuf::new().file("etc/x", b"hello", 0o644).finish();
        let blob = gz(&tar);
        let diff_id = Digest::sha256_of(&tar);
        let desc = Descriptor {
            media_type: crate::oci::MEDIA_TYPE_OCI_LAYER_GZIP.into(),
            digest: Digest::sha256_of(&blob),
            size: blob.len() as u64,
            urls: None,
            annotations: None,
            platform: None,
        };
        let opts = UnpackOptions::default();
        // Corrupt: one flipped byte in the compressed stream. Nothing is kept.
        let mut bad = blob.clone();
        let n = bad.len();
        bad[n - 10] ^= 0xff;
        assert!(store_layer(&bad[..], &desc, &diff_id, &diff_id, &cs, &snaps, &opts, "l").is_err());
        assert!(cs.list().unwrap().is_empty());
        assert!(snaps.list().unwrap().is_empty());

        let s = store_layer(
            &blob[..],
            &desc,
            &diff_id,
            &diff_id,
            &cs,
            &snaps,
            &opts,
            "l",
        )
        .unwrap();
        assert!(s.blob_created && s.snapshot_created);
        assert_eq!(s.size, 5);
        assert_eq!(cs.read(&desc.digest).unwrap(), blob);
        assert_eq!(
            std::fs::read(snaps.dir(&diff_id).join("etc/x")).unwrap(),
            b"hello"
        );
    }
}
