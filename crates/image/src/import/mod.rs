//! `docker import`: a plain rootfs tarball becomes a one-layer image.

mod changes;

use std::io::Read;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::archive::LoadedImage;
use crate::content::ContentStore;
use crate::error::{Error, Result};
use crate::hashio::{TeeReader, decompress, drain};
use crate::new_image::{uncompressed_layer, with_undo};
use crate::oci::{History, ImageConfig, RootFs, RunConfig, host_arch};
use crate::snapshot::Snapshotter;
use crate::unpack::{UnpackOptions, apply_layer};

pub use changes::apply_changes;

/// Imports the tarball read from `r` (plain or gzip) as a new single-layer image.
///
/// The layer is stored uncompressed, so its blob digest is its diff id and chain id. `changes` are
/// Dockerfile instructions applied to an empty config (as `docker import --change`); `message`
/// becomes the history comment. The image is untagged; the caller names it. On error nothing this
/// call created is left behind.
pub fn import(
    r: impl Read,
    changes: &[String],
    message: Option<&str>,
    content: &ContentStore,
    snaps: &Snapshotter,
    opts: &UnpackOptions,
) -> Result<LoadedImage> {
    let mut run = RunConfig::default();
    apply_changes(&mut run, changes)?;
    let created = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .map_err(|e| Error::Unsupported(format!("cannot format the current time: {e}")))?;

    // One pass: decompress, keep the plain tar as the blob, extract it.
    let mut writer = content.writer()?;
    let staged = snaps.prepare()?;
    let extracted = (|| {
        let (_, plain) = decompress(r)?;
        let mut plain = TeeReader::new(plain, &mut writer);
        let size = apply_layer(&mut plain, &staged.fs(), opts)?;
        drain(&mut plain).map_err(|e| Error::InvalidArchive(format!("corrupt tarball: {e}")))?;
        Ok(size)
    })();
    if let Some(e) = writer.write_error() {
        return Err(Error::io("write layer blob", e));
    }
    let size = extracted?;
    let layer = writer.commit_new(None)?;
    let diff_id = layer.digest.clone();

    with_undo(content, snaps, "import", &layer, |undo| {
        if staged.commit(&diff_id, size)? {
            undo.snapshot = Some(diff_id.clone());
        }
        let size = snaps.size(&diff_id)?;
        let config = ImageConfig {
            created: Some(created.clone()),
            architecture: host_arch().0.to_owned(),
            os: "linux".to_owned(),
            config: Some(run),
            rootfs: RootFs {
                kind: "layers".to_owned(),
                diff_ids: vec![diff_id.clone()],
            },
            history: vec![History {
                created: Some(created),
                comment: Some(message.unwrap_or("Imported from -").to_owned()),
                ..History::default()
            }],
            ..ImageConfig::default()
        };
        let layers = vec![uncompressed_layer(&layer, diff_id.clone(), size)];
        undo.image(config, layers)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{TarBuf, gzip};

    #[test]
    fn imports_a_rootfs_with_changes() {
        let dir = tempfile::tempdir().unwrap();
        let content = ContentStore::open(dir.path()).unwrap();
        let snaps = Snapshotter::open(dir.path()).unwrap();
        let tar = TarBuf::new()
            .dir("bin", 0o755)
            .file("bin/sh", b"#!", 0o755)
            .finish();
        let changes: Vec<String> = [
            "CMD [\"/bin/sh\"]",
            "env A=1 B=\"two words\"",
            "WORKDIR /app",
            "EXPOSE 80",
        ]
        .map(String::from)
        .to_vec();
        let img = import(
            &gzip(&tar)[..],
            &changes,
            Some("hello"),
            &content,
            &snaps,
            &UnpackOptions::default(),
        )
        .unwrap();

        let diff = crate::Digest::sha256_of(&tar);
        let l = &img.layers[0];
        assert_eq!((&l.blob, &l.diff_id, &l.chain_id), (&diff, &diff, &diff));
        assert_eq!((l.blob_size, l.size), (tar.len() as u64, 2));
        assert_eq!(content.read(&diff).unwrap(), tar);
        assert!(snaps.dir(&diff).join("bin/sh").exists());

        let stored: ImageConfig =
            serde_json::from_slice(&content.read(&img.config_digest).unwrap()).unwrap();
        assert_eq!(stored, img.config);
        assert_eq!(stored.rootfs.diff_ids, vec![diff]);
        assert_eq!(stored.os, "linux");
        assert_eq!(stored.history[0].comment.as_deref(), Some("hello"));
        let run = stored.config.unwrap();
        assert_eq!(run.cmd, Some(vec!["/bin/sh".to_owned()]));
        assert_eq!(
            run.env,
            Some(vec!["A=1".to_owned(), "B=two words".to_owned()])
        );
        assert_eq!(run.working_dir.as_deref(), Some("/app"));
        assert!(run.exposed_ports.unwrap().contains_key("80/tcp"));
        assert!(img.repo_tags.is_empty());
    }

    #[test]
    fn failed_import_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let content = ContentStore::open(dir.path()).unwrap();
        let snaps = Snapshotter::open(dir.path()).unwrap();
        let tar = TarBuf::new()
            .symlink("x", "/etc")
            .file("x/passwd", b"", 0o644)
            .finish();
        let err = import(
            &tar[..],
            &[],
            None,
            &content,
            &snaps,
            &UnpackOptions::default(),
        );
        assert!(matches!(err, Err(Error::UnsafeLayer(_))));
        let bad_change = import(
            &tar[..],
            &["FROM x".into()],
            None,
            &content,
            &snaps,
            &UnpackOptions::default(),
        );
        assert!(matches!(bad_change, Err(Error::Unsupported(_))));
        assert!(content.list().unwrap().is_empty());
        assert!(snaps.list().unwrap().is_empty());
        assert_eq!(
            std::fs::read_dir(dir.path().join("snapshots"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("content/ingest"))
                .unwrap()
                .count(),
            0
        );
    }
}
