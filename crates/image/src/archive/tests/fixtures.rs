//! Archives built in memory in each supported layout, and a throwaway store to load them into.

use std::collections::BTreeMap;
use std::fs;

use crate::archive::{LoadedImage, blob_name, load};
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::error::Error;
use crate::oci::*;
use crate::snapshot::Snapshotter;
use crate::testutil::{TarBuf, gzip};
use crate::unpack::UnpackOptions;

/// A test image: its layer blobs as they appear in the archive, and its config.
pub(super) struct Img {
    pub(super) blobs: Vec<Vec<u8>>,
    pub(super) media_types: Vec<&'static str>,
    pub(super) diff_ids: Vec<Digest>,
    pub(super) config: Vec<u8>,
}

impl Img {
    pub(super) fn new(layers: &[(Vec<u8>, bool)]) -> Img {
        Img::with_diff_ids(layers, None)
    }

    /// Builds an image whose config may claim other diff ids than the layers have.
    pub(super) fn with_diff_ids(layers: &[(Vec<u8>, bool)], diff_ids: Option<Vec<Digest>>) -> Img {
        let diff_ids =
            diff_ids.unwrap_or_else(|| layers.iter().map(|(t, _)| Digest::sha256_of(t)).collect());
        let config = ImageConfig {
            architecture: host_arch().0.into(),
            os: "linux".into(),
            config: Some(RunConfig {
                cmd: Some(vec!["sh".into()]),
                ..RunConfig::default()
            }),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: diff_ids.clone(),
            },
            ..ImageConfig::default()
        };
        Img {
            blobs: layers
                .iter()
                .map(|(t, gz)| if *gz { gzip(t) } else { t.clone() })
                .collect(),
            media_types: layers
                .iter()
                .map(|(_, gz)| {
                    if *gz {
                        MEDIA_TYPE_OCI_LAYER_GZIP
                    } else {
                        MEDIA_TYPE_OCI_LAYER
                    }
                })
                .collect(),
            diff_ids,
            config: serde_json::to_vec(&config).unwrap(),
        }
    }

    pub(super) fn id(&self) -> Digest {
        Digest::sha256_of(&self.config)
    }

    pub(super) fn layer_digests(&self) -> Vec<Digest> {
        self.blobs.iter().map(|b| Digest::sha256_of(b)).collect()
    }

    pub(super) fn manifest(&self) -> Vec<u8> {
        let d = |mt: &str, bytes: &[u8]| Descriptor {
            media_type: mt.into(),
            digest: Digest::sha256_of(bytes),
            size: bytes.len() as u64,
            urls: None,
            annotations: None,
            platform: None,
        };
        serde_json::to_vec(&Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
            config: d(MEDIA_TYPE_OCI_CONFIG, &self.config),
            layers: self
                .blobs
                .iter()
                .zip(&self.media_types)
                .map(|(b, mt)| d(mt, b))
                .collect(),
            annotations: None,
        })
        .unwrap()
    }
}

pub(super) fn layer(files: &[(&str, &str)]) -> Vec<u8> {
    let mut t = TarBuf::new();
    for (name, data) in files {
        t.file(name, data.as_bytes(), 0o644);
    }
    t.finish()
}

pub(super) fn json(v: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

pub(super) fn desc(
    mt: &str,
    bytes: &[u8],
    name: Option<&str>,
    platform: Option<Platform>,
) -> Descriptor {
    Descriptor {
        media_type: mt.into(),
        digest: Digest::sha256_of(bytes),
        size: bytes.len() as u64,
        urls: None,
        annotations: name.map(|n| {
            let key = if n.contains(['/', ':']) {
                ANNOTATION_CONTAINERD_IMAGE_NAME
            } else {
                ANNOTATION_REF_NAME
            };
            BTreeMap::from([(key.to_owned(), n.to_owned())])
        }),
        platform,
    }
}

pub(super) fn index(manifests: Vec<Descriptor>) -> Vec<u8> {
    json(&Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_INDEX.into()),
        manifests,
        annotations: None,
    })
}

/// docker < 25: `<id>/layer.tar`, `<config hex>.json`; a layer seen before is a symlink to the
/// first copy, as docker writes it.
pub(super) fn docker_legacy(images: &[(&Img, &[&str])]) -> Vec<u8> {
    let mut t = TarBuf::new();
    let mut seen: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    let mut items = Vec::new();
    for (k, (img, tags)) in images.iter().enumerate() {
        let mut layers = Vec::new();
        for (i, blob) in img.blobs.iter().enumerate() {
            let id = Digest::sha256_of(format!("{k}-{i}").as_bytes())
                .hex()
                .to_owned();
            let name = format!("{id}/layer.tar");
            t.dir(&id, 0o755);
            match seen.get(blob) {
                Some(first) => t.symlink(&name, &format!("../{first}")),
                None => t.file(&name, blob, 0o644),
            };
            seen.entry(blob.clone()).or_insert(name.clone());
            t.file(&format!("{id}/VERSION"), b"1.0", 0o644);
            layers.push(name);
        }
        let config = format!("{}.json", img.id().hex());
        t.file(&config, &img.config, 0o644);
        items.push(DockerManifestItem {
            config,
            repo_tags: Some(tags.iter().map(|s| s.to_string()).collect()),
            layers,
            layer_sources: None,
        });
    }
    t.file("manifest.json", &json(&items), 0o644).finish()
}

/// An OCI layout; each image is listed under its name, and `nested` adds a multi-platform index
/// whose host entry is `nested`'s image and whose other entry is absent from the archive.
pub(super) fn oci_layout(images: &[(&Img, Option<&str>)], nested: Option<(&Img, &str)>) -> Vec<u8> {
    let mut t = TarBuf::new();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, 0o644);
    let mut top = Vec::new();
    let put = |t: &mut TarBuf, bytes: &[u8]| {
        t.file(&blob_name(&Digest::sha256_of(bytes)), bytes, 0o644);
    };
    let add = |t: &mut TarBuf, img: &Img| -> Vec<u8> {
        put(t, &img.config);
        img.blobs.iter().for_each(|b| put(t, b));
        let m = img.manifest();
        put(t, &m);
        m
    };
    for (img, name) in images {
        let m = add(&mut t, img);
        top.push(desc(MEDIA_TYPE_OCI_MANIFEST, &m, *name, None));
    }
    if let Some((img, name)) = nested {
        let m = add(&mut t, img);
        let other = Platform {
            architecture: if host_arch().0 == "s390x" {
                "ppc64le"
            } else {
                "s390x"
            }
            .into(),
            os: "linux".into(),
            ..Platform::default()
        };
        let idx = index(vec![
            desc(
                MEDIA_TYPE_OCI_MANIFEST,
                b"not in archive",
                None,
                Some(other),
            ),
            desc(MEDIA_TYPE_OCI_MANIFEST, &m, None, Some(Platform::host())),
        ]);
        t.file(&blob_name(&Digest::sha256_of(&idx)), &idx, 0o644);
        top.push(desc(MEDIA_TYPE_OCI_INDEX, &idx, Some(name), None));
    }
    t.file("index.json", &index(top), 0o644).finish()
}

pub(super) struct Store {
    pub(super) dir: tempfile::TempDir,
    pub(super) content: ContentStore,
    pub(super) snaps: Snapshotter,
}

pub(super) fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let content = ContentStore::open(dir.path()).unwrap();
    let snaps = Snapshotter::open(dir.path()).unwrap();
    Store {
        dir,
        content,
        snaps,
    }
}

impl Store {
    pub(super) fn load(&self, archive: &[u8]) -> crate::Result<Vec<LoadedImage>> {
        let staging = tempfile::tempdir().unwrap();
        load(
            archive,
            staging.path(),
            &self.content,
            &self.snaps,
            &UnpackOptions::default(),
        )
    }

    /// Everything on disk, to prove a failed load changed nothing.
    pub(super) fn listing(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["content/blobs/sha256", "content/ingest", "snapshots"] {
            for e in fs::read_dir(self.dir.path().join(sub)).unwrap() {
                out.push(format!(
                    "{sub}/{}",
                    e.unwrap().file_name().to_string_lossy()
                ));
            }
        }
        out.sort();
        out
    }

    pub(super) fn assert_fails_cleanly(
        &self,
        archive: &[u8],
        check: impl Fn(&Error) -> bool,
    ) -> Error {
        let before = self.listing();
        let err = self.load(archive).unwrap_err();
        assert!(check(&err), "unexpected error: {err:?}");
        assert!(err.is_invalid_input(), "{err:?}");
        assert_eq!(
            self.listing(),
            before,
            "a failed load left something behind ({err})"
        );
        err
    }
}

pub(super) fn base() -> Vec<u8> {
    layer(&[("bin/sh", "shell"), ("etc/os-release", "test")])
}

pub(super) fn tags(img: &LoadedImage) -> Vec<String> {
    img.repo_tags.iter().map(|r| r.to_string()).collect()
}

/// A store that already holds `base()` as a loaded image, so failures must keep existing content.
pub(super) fn populated() -> Store {
    let s = store();
    s.load(&docker_legacy(&[(
        &Img::new(&[(base(), false)]),
        &["base:1"],
    )]))
    .unwrap();
    s
}
