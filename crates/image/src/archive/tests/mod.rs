//! Load/save tests over archives built in memory in each supported layout.

mod fixtures;

use std::collections::BTreeMap;
use std::fs;

use tar::EntryType;

use super::*;
use crate::error::Error;
use crate::oci::*;
use crate::snapshot::chain_id;
use crate::testutil::TarBuf;
use fixtures::*;

#[test]
fn loads_legacy_docker_archive_with_shared_layers() {
    let app = layer(&[("app/run", "go")]);
    let a = Img::new(&[(base(), false)]);
    let b = Img::new(&[(base(), false), (app.clone(), true)]);
    let s = store();
    let images = s
        .load(&docker_legacy(&[
            (&a, &["busybox:latest", "busybox:1"]),
            (&b, &["me/app:v1"]),
        ]))
        .unwrap();

    assert_eq!(images.len(), 2);
    assert_eq!(images[0].config_digest, a.id());
    assert_eq!(
        tags(&images[0]),
        [
            "docker.io/library/busybox:latest",
            "docker.io/library/busybox:1"
        ]
    );
    assert_eq!(tags(&images[1]), ["docker.io/me/app:v1"]);
    assert!(images.iter().all(|i| i.manifest_digest.is_none()));

    let l = &images[1].layers;
    assert_eq!(l[0], images[0].layers[0]);
    assert_eq!(
        (l[0].blob.clone(), l[0].media_type.as_str()),
        (b.diff_ids[0].clone(), MEDIA_TYPE_DOCKER_LAYER)
    );
    assert_eq!(l[1].blob, Digest::sha256_of(&b.blobs[1]));
    assert_eq!(l[1].media_type, MEDIA_TYPE_DOCKER_LAYER_GZIP);
    assert_eq!(
        l[1].chain_id,
        chain_id(Some(&l[0].chain_id), &b.diff_ids[1])
    );
    assert_eq!(
        (l[0].size, l[1].size, l[1].blob_size),
        (9, 2, b.blobs[1].len() as u64)
    );
    assert_eq!(
        fs::read(s.snaps.dir(&l[1].chain_id).join("app/run")).unwrap(),
        b"go"
    );

    let mut expected = vec![a.id(), b.id(), l[0].blob.clone(), l[1].blob.clone()];
    expected.sort();
    assert_eq!(s.content.list().unwrap(), expected);
    assert_eq!(s.snaps.list().unwrap().len(), 2);

    // Loading again reuses everything and still succeeds.
    let again = s.load(&docker_legacy(&[(&b, &[])])).unwrap();
    assert_eq!(again[0].layers, images[1].layers);
    assert_eq!(s.content.list().unwrap(), expected);
}

#[test]
fn loads_docker25_layout_preferring_manifest_json() {
    let img = Img::new(&[(base(), false), (layer(&[("x", "1")]), false)]);
    let mut t = TarBuf::new();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, 0o644);
    for b in img.blobs.iter().chain([&img.config]) {
        t.file(&blob_name(&Digest::sha256_of(b)), b, 0o644);
    }
    let m = img.manifest();
    t.file(&blob_name(&Digest::sha256_of(&m)), &m, 0o644);
    t.file(
        "index.json",
        &index(vec![desc(
            MEDIA_TYPE_OCI_MANIFEST,
            &m,
            Some("docker.io/library/x:1"),
            None,
        )]),
        0o644,
    );
    let item = DockerManifestItem {
        config: blob_name(&img.id()),
        repo_tags: Some(vec!["x:1".into()]),
        layers: img.layer_digests().iter().map(blob_name).collect(),
        layer_sources: None,
    };
    let archive = t.file("manifest.json", &json(&[item]), 0o644).finish();

    let s = store();
    let images = s.load(&archive).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].config_digest, img.id());
    assert_eq!(images[0].manifest_digest, None);
    assert_eq!(tags(&images[0]), ["docker.io/library/x:1"]);
    let diffs: Vec<_> = images[0].layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diffs, img.diff_ids);
}

#[test]
fn loads_oci_layout_with_gzip_and_multi_platform_index() {
    let plain = Img::new(&[(base(), true)]);
    let multi = Img::new(&[(layer(&[("m", "multi")]), false)]);
    let untagged = Img::new(&[]);
    let archive = oci_layout(
        &[
            (&plain, Some("quay.io/org/plain:2")),
            (&untagged, Some("latest")),
        ],
        Some((&multi, "registry.local:5000/multi")),
    );
    let s = store();
    let images = s.load(&archive).unwrap();
    assert_eq!(images.len(), 3);

    let p = &images[0];
    assert_eq!(p.config_digest, plain.id());
    assert_eq!(
        p.manifest_digest,
        Some(Digest::sha256_of(&plain.manifest()))
    );
    assert_eq!(tags(p), ["quay.io/org/plain:2"]);
    assert_eq!(p.layers[0].media_type, MEDIA_TYPE_OCI_LAYER_GZIP);
    assert_eq!(p.layers[0].blob, Digest::sha256_of(&plain.blobs[0]));
    assert_eq!(p.layers[0].diff_id, plain.diff_ids[0]);
    assert!(s.content.has(&Digest::sha256_of(&plain.manifest())));

    assert!(
        images[1].repo_tags.is_empty(),
        "a bare ref.name tag names no repository"
    );
    assert!(images[1].layers.is_empty());

    let m = &images[2];
    assert_eq!(m.config_digest, multi.id());
    assert_eq!(tags(m), ["registry.local:5000/multi:latest"]);
    assert!(s.snaps.dir(&m.layers[0].chain_id).join("m").exists());
}

#[test]
fn save_then_load_round_trips() {
    let a = Img::new(&[(base(), false), (layer(&[("a", "1")]), true)]);
    let b = Img::new(&[(base(), false)]);
    let src = store();
    let loaded = src
        .load(&docker_legacy(&[(&a, &["a:1", "a:2"]), (&b, &[])]))
        .unwrap();
    let items: Vec<SaveItem> = loaded
        .iter()
        .map(|i| SaveItem {
            config_digest: i.config_digest.clone(),
            manifest_digest: i.manifest_digest.clone(),
            layers: i
                .layers
                .iter()
                .map(|l| SaveLayer {
                    blob: l.blob.clone(),
                    media_type: l.media_type.clone(),
                    size: l.blob_size,
                })
                .collect(),
            repo_tags: i.repo_tags.clone(),
        })
        .collect();
    let mut archive = Vec::new();
    save(&mut archive, &items, &src.content).unwrap();
    let mut again = Vec::new();
    save(&mut again, &items, &src.content).unwrap();
    assert_eq!(archive, again, "save is deterministic");

    // The docker-archive side of the layout.
    let mut ar = tar::Archive::new(&archive[..]);
    let mut files = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        files.insert(name, data);
    }
    let manifest: Vec<DockerManifestItem> =
        serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest[0].repo_tags,
        Some(vec!["a:1".to_owned(), "a:2".to_owned()])
    );
    assert_eq!(manifest[1].repo_tags, None);
    let idx: Index = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(idx.manifests.len(), 3);
    assert_eq!(
        idx.manifests[0].annotation(ANNOTATION_CONTAINERD_IMAGE_NAME),
        Some("docker.io/library/a:1")
    );
    assert_eq!(idx.manifests[1].annotation(ANNOTATION_REF_NAME), Some("2"));
    let m: Manifest = serde_json::from_slice(&files[&blob_name(&idx.manifests[0].digest)]).unwrap();
    assert_eq!(m.layers[1].media_type, MEDIA_TYPE_OCI_LAYER_GZIP);
    assert_eq!(
        files
            .keys()
            .filter(|k| k.starts_with("blobs/sha256/") && k.len() > 13)
            .count(),
        6
    );

    let dst = store();
    let reloaded = dst.load(&archive).unwrap();
    for (x, y) in loaded.iter().zip(&reloaded) {
        assert_eq!(x.config_digest, y.config_digest);
        assert_eq!(x.layers, y.layers);
        assert_eq!(x.repo_tags, y.repo_tags);
    }
    assert_eq!(src.content.list().unwrap(), dst.content.list().unwrap());
    assert_eq!(src.snaps.list().unwrap(), dst.snaps.list().unwrap());
}

#[test]
fn diff_id_mismatch_fails_cleanly() {
    let good = layer(&[("good", "1")]);
    let evil = layer(&[("evil", "2")]);
    let claimed = vec![
        Digest::sha256_of(&base()),
        Digest::sha256_of(&good),
        Digest::sha256_of(b"other"),
    ];
    let img = Img::with_diff_ids(
        &[(base(), false), (good, false), (evil, true)],
        Some(claimed),
    );
    let s = populated();
    let err = s.assert_fails_cleanly(&docker_legacy(&[(&img, &["x:1"])]), |e| {
        matches!(e, Error::DigestMismatch { .. })
    });
    assert!(err.to_string().contains("layer 2"), "{err}");
}

#[test]
fn oci_blob_digest_mismatch_fails_cleanly() {
    let marker = "distinctive layer content";
    let img = Img::new(&[
        (base(), false),
        (layer(&[("n", "1")]), true),
        (layer(&[("o", marker)]), false),
    ]);
    let archive = oci_layout(&[(&img, Some("x:1"))], None);
    let s = populated();
    // A flipped data byte keeps the tar well-formed: only the digest check can catch it.
    let mut bad = archive.clone();
    let at = bad
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .unwrap();
    bad[at] ^= 0x20;
    let err = s.assert_fails_cleanly(&bad, |e| matches!(e, Error::DigestMismatch { .. }));
    assert!(err.to_string().contains("layer 2"), "{err}");
    // In a gzip layer the same damage trips the gzip checksum first.
    let mut bad = archive;
    let gz = &img.blobs[1];
    let at = bad.windows(gz.len()).position(|w| w == &gz[..]).unwrap();
    bad[at + gz.len() - 5] ^= 0xff;
    s.assert_fails_cleanly(&bad, |e| matches!(e, Error::InvalidArchive(_)));
}

#[test]
fn missing_blob_fails_cleanly() {
    let img = Img::new(&[(base(), false), (layer(&[("n", "1")]), false)]);
    let mut t = TarBuf::new();
    t.file(&format!("{}.json", img.id().hex()), &img.config, 0o644);
    t.file("l0.tar", &img.blobs[0], 0o644);
    let item = DockerManifestItem {
        config: format!("{}.json", img.id().hex()),
        repo_tags: None,
        layers: vec!["l0.tar".into(), blob_name(&img.diff_ids[1])],
        layer_sources: None,
    };
    let archive = t.file("manifest.json", &json(&[item]), 0o644).finish();
    let s = populated();
    let err = s.assert_fails_cleanly(&archive, |e| matches!(e, Error::MissingBlob(_)));
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("blob {} referenced by", img.diff_ids[1])),
        "{msg}"
    );
    assert!(msg.contains("is not in the archive"), "{msg}");

    let oci = oci_layout(&[(&img, None)], None);
    let hex = img.diff_ids[1].hex();
    let name = format!("blobs/sha256/{hex}");
    let at = oci
        .windows(name.len())
        .position(|w| w == name.as_bytes())
        .unwrap();
    let mut oci = oci;
    oci[at + name.len() - 1] = b'x'; // rename the file (and fix the header checksum below)
    let mut header = tar::Header::new_old();
    header.as_mut_bytes().copy_from_slice(&oci[at..at + 512]);
    header.set_cksum();
    oci[at..at + 512].copy_from_slice(header.as_bytes());
    s.assert_fails_cleanly(
        &oci,
        |e| matches!(e, Error::MissingBlob(m) if m.contains("referenced by manifest")),
    );
}

#[test]
fn truncated_and_malformed_archives_fail_cleanly() {
    let img = Img::new(&[
        (base(), false),
        (layer(&[("big", &"x".repeat(5000))]), false),
    ]);
    let archive = docker_legacy(&[(&img, &["t:1"])]);
    let s = populated();
    for cut in [archive.len() / 2, archive.len() - 1024 - 700] {
        s.assert_fails_cleanly(&archive[..cut], |e| matches!(e, Error::InvalidArchive(_)));
    }
    s.assert_fails_cleanly(&TarBuf::new().file("hello", b"", 0o644).finish(), |e| {
        matches!(e, Error::InvalidArchive(_))
    });
    let escape = TarBuf::new()
        .raw(b"../manifest.json", EntryType::Regular, b"[]", b"")
        .finish();
    s.assert_fails_cleanly(&escape, |e| matches!(e, Error::InvalidArchive(_)));
}

#[test]
fn hostile_layer_fails_cleanly() {
    let evil = TarBuf::new()
        .symlink("etc", "/etc")
        .file("etc/passwd", b"root::0:0", 0o644)
        .finish();
    let img = Img::new(&[
        (base(), false),
        (layer(&[("fine", "1")]), false),
        (evil, false),
    ]);
    let s = populated();
    s.assert_fails_cleanly(&docker_legacy(&[(&img, &["evil:1"])]), |e| {
        matches!(e, Error::UnsafeLayer(_))
    });
    let xz = Img::new(&[(vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0, 0], false)]);
    s.assert_fails_cleanly(&docker_legacy(&[(&xz, &[])]), |e| {
        matches!(e, Error::Unsupported(_))
    });
}

#[test]
fn absent_foreign_layer_is_unsupported() {
    let mut img = Img::new(&[(base(), true)]);
    img.media_types[0] = MEDIA_TYPE_OCI_FOREIGN_LAYER_GZIP;
    let m = img.manifest();
    let mut t = TarBuf::new();
    for b in [&img.config, &m] {
        t.file(&blob_name(&Digest::sha256_of(b)), b, 0o644);
    }
    let idx = index(vec![desc(MEDIA_TYPE_OCI_MANIFEST, &m, Some("win:1"), None)]);
    let archive = t.file("index.json", &idx, 0o644).finish();
    let s = populated();
    let err = s.assert_fails_cleanly(&archive, |e| matches!(e, Error::Unsupported(_)));
    assert!(err.to_string().contains("foreign layer"), "{err}");
}
