//! Manifest helpers: platform strings, choosing an image from an index, and the manifest pouch
//! pushes for an image that was loaded without one (docker-archives carry none).

use bytes::Bytes;

use super::{Error, Result};
use crate::digest::Digest;
use crate::oci::{
    Descriptor, Index, MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_MANIFEST, Manifest, Platform,
};

/// A manifest or index as the registry served it.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub media_type: String,
    pub bytes: Bytes,
    pub digest: Digest,
}

/// Parses `os/arch[/variant]` (`linux/arm64/v8`, `linux/amd64`); the OS may be left out
/// (`arm64`), meaning linux.
pub fn parse_platform(s: &str) -> Result<Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    let (os, arch, variant) = match parts.as_slice() {
        [arch] => ("linux", *arch, None),
        [os, arch] => (*os, *arch, None),
        [os, arch, v] => (*os, *arch, Some(*v)),
        _ => ("", "", None),
    };
    if os.is_empty() || arch.is_empty() || variant.is_some_and(str::is_empty) {
        return Err(Error::Protocol(format!(
            "invalid platform {s:?}: give os/arch[/variant], e.g. linux/amd64"
        )));
    }
    Ok(Platform {
        os: os.to_lowercase(),
        architecture: normalize_arch(&arch.to_lowercase()).to_string(),
        variant: variant.map(str::to_lowercase),
        ..Platform::default()
    })
}

fn normalize_arch(a: &str) -> &str {
    match a {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        a => a,
    }
}

/// arm64's variant defaults to v8, as containerd's platform matcher has it.
fn variant_of(p: &Platform) -> Option<&str> {
    match p.variant.as_deref() {
        Some(v) => Some(v),
        None if p.architecture == "arm64" => Some("v8"),
        None => None,
    }
}

/// The index entry for `want`: same OS and architecture, and the same variant when `want` names
/// one (an entry without a variant matches any). Exact variant matches win.
pub fn select_platform<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    let mut best: Option<(&Descriptor, bool)> = None;
    for d in &index.manifests {
        let Some(p) = &d.platform else { continue };
        if p.os != want.os || normalize_arch(&p.architecture) != want.architecture {
            continue;
        }
        let exact = variant_of(p) == variant_of(want);
        if !exact && variant_of(want).is_some() && variant_of(p).is_some() {
            continue;
        }
        if best.is_none_or(|(_, e)| exact && !e) {
            best = Some((d, exact));
        }
    }
    best.map(|(d, _)| d)
}

/// The manifest for an image stored without one: docker's schema 2 when every layer has a docker
/// media type, OCI otherwise. The output is a pure function of its inputs, so pushing the same
/// image again yields the same manifest digest.
pub fn build_manifest(
    config: &Digest,
    config_size: u64,
    layers: &[(String, Digest, u64)],
) -> (String, Bytes) {
    let docker = layers
        .iter()
        .all(|(m, _, _)| m.starts_with("application/vnd.docker."));
    let (mt, cfg_mt) = if docker {
        (MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_CONFIG)
    } else {
        (MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_OCI_CONFIG)
    };
    let desc = |media_type: &str, digest: &Digest, size: u64| Descriptor {
        media_type: media_type.to_string(),
        digest: digest.clone(),
        size,
        urls: None,
        annotations: None,
        platform: None,
    };
    let m = Manifest {
        schema_version: 2,
        media_type: Some(mt.to_string()),
        config: desc(cfg_mt, config, config_size),
        layers: layers.iter().map(|(m, d, s)| desc(m, d, *s)).collect(),
        annotations: None,
    };
    let bytes = serde_json::to_vec_pretty(&m).expect("manifest serializes");
    (mt.to_string(), Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::MEDIA_TYPE_DOCKER_LAYER;
    use crate::testutil::platform_manifest;

    #[test]
    fn selects_platforms() {
        let idx = Index {
            schema_version: 2,
            media_type: None,
            manifests: vec![
                platform_manifest("arm", Some("v6"), 1),
                platform_manifest("arm", Some("v7"), 2),
                platform_manifest("arm64", None, 3),
                platform_manifest("amd64", None, 4),
            ],
            annotations: None,
        };
        let pick =
            |s: &str| select_platform(&idx, &parse_platform(s).unwrap()).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64"), Some(Digest::sha256_of(&[4])));
        assert_eq!(pick("linux/arm/v7"), Some(Digest::sha256_of(&[2])));
        assert_eq!(pick("linux/arm64/v8"), Some(Digest::sha256_of(&[3])));
        assert_eq!(pick("x86_64"), Some(Digest::sha256_of(&[4])));
        assert_eq!(pick("linux/s390x"), None);
        assert!(parse_platform("a/b/c/d").is_err());
    }

    #[test]
    fn built_manifest_is_stable() {
        let c = Digest::sha256_of(b"c");
        let l = vec![(
            MEDIA_TYPE_DOCKER_LAYER.to_string(),
            Digest::sha256_of(b"l"),
            5,
        )];
        let (mt, a) = build_manifest(&c, 1, &l);
        let (_, b) = build_manifest(&c, 1, &l);
        assert_eq!(mt, MEDIA_TYPE_DOCKER_MANIFEST);
        assert_eq!(a, b);
        let m: Manifest = serde_json::from_slice(&a).unwrap();
        assert_eq!(m.config.media_type, MEDIA_TYPE_DOCKER_CONFIG);
    }
}
