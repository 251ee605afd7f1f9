//! Serde types for the OCI image spec and docker's image formats (manifest v2 schema 2, image
//! config, `docker save`'s manifest.json).
//!
//! Only the fields pouch reads are typed. Configs keep every other field in `extra` so that a
//! config pouch rewrites (commit, import) does not silently drop what another tool put there; blobs
//! that are merely stored are kept as the original bytes and never re-serialized.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;

pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MEDIA_TYPE_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const MEDIA_TYPE_DOCKER_FOREIGN_LAYER: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar";
pub const MEDIA_TYPE_DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_TYPE_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const MEDIA_TYPE_OCI_FOREIGN_LAYER: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
pub const MEDIA_TYPE_OCI_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

/// Annotation containerd and docker ≥25 put the full image name in.
pub const ANNOTATION_CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation for a reference name (a full reference or only a tag, depending on the tool).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// True for manifest-list / image-index media types.
pub fn is_index(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_INDEX || media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

/// True for single-image manifest media types.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_MANIFEST || media_type == MEDIA_TYPE_DOCKER_MANIFEST
}

/// True for layers registries may not serve ("foreign" / "non-distributable"), e.g. Windows bases.
pub fn is_foreign_layer(media_type: &str) -> bool {
    matches!(
        media_type,
        MEDIA_TYPE_DOCKER_FOREIGN_LAYER
            | MEDIA_TYPE_DOCKER_FOREIGN_LAYER_GZIP
            | MEDIA_TYPE_OCI_FOREIGN_LAYER
            | MEDIA_TYPE_OCI_FOREIGN_LAYER_GZIP
    )
}

/// The OCI equivalent of a docker layer media type (OCI ones are returned unchanged).
pub fn oci_layer_media_type(media_type: &str) -> &str {
    match media_type {
        MEDIA_TYPE_DOCKER_LAYER => MEDIA_TYPE_OCI_LAYER,
        MEDIA_TYPE_DOCKER_LAYER_GZIP => MEDIA_TYPE_OCI_LAYER_GZIP,
        MEDIA_TYPE_DOCKER_FOREIGN_LAYER => MEDIA_TYPE_OCI_FOREIGN_LAYER,
        MEDIA_TYPE_DOCKER_FOREIGN_LAYER_GZIP => MEDIA_TYPE_OCI_FOREIGN_LAYER_GZIP,
        other => other,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this process runs on, named as Go (and so every image index) names it.
    pub fn host() -> Platform {
        let (architecture, variant) = host_arch();
        Platform {
            architecture: architecture.to_owned(),
            os: "linux".to_owned(),
            variant: variant.map(str::to_owned),
            ..Platform::default()
        }
    }
}

/// GOARCH (and default variant) of the running binary.
pub fn host_arch() -> (&'static str, Option<&'static str>) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "x86" => ("386", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" => ("arm", Some("v7")),
        "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
        "riscv64" => ("riscv64", None),
        "loongarch64" => ("loong64", None),
        "mips64" if cfg!(target_endian = "little") => ("mips64le", None),
        "mips" if cfg!(target_endian = "little") => ("mipsle", None),
        other => (other, None),
    }
}

/// An image manifest: OCI `image.manifest.v1` or docker `manifest.v2` (same shape).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index (OCI) or manifest list (docker), and the `index.json` of an OCI layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The image configuration blob; its sha256 is the image id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields pouch does not interpret (`container_config`, `docker_version`, `os.version`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> RootFs {
        RootFs {
            kind: "layers".to_owned(),
            diff_ids: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

/// The set type docker uses for `ExposedPorts` and `Volumes`: keys mapped to `{}`.
pub type EmptySet = BTreeMap<String, Map<String, Value>>;

/// The runtime defaults of an image (`config` in the image config), with docker's field names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<EmptySet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<EmptySet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// Fields pouch does not interpret (`Hostname`, `Shell`, `StopTimeout`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of a docker-archive's `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerManifestItem {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(default)]
    pub layers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_sources: Option<BTreeMap<String, Descriptor>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_unknown_fields() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"Cmd":["sh"],
            "Hostname":"x","Labels":{"a":"b"},"ExposedPorts":{"80/tcp":{}}},
            "rootfs":{"type":"layers","diff_ids":[]},"docker_version":"24.0","container_config":{"Cmd":null},
            "os.version":"1","history":[{"created_by":"x","empty_layer":true}]}"#;
        let cfg: ImageConfig = serde_json::from_str(json).unwrap();
        let rc = cfg.config.as_ref().unwrap();
        assert_eq!(rc.cmd.as_deref(), Some(&["sh".to_owned()][..]));
        assert!(rc.exposed_ports.as_ref().unwrap().contains_key("80/tcp"));
        assert_eq!(rc.extra["Hostname"], "x");
        assert_eq!(cfg.extra["docker_version"], "24.0");
        assert_eq!(cfg.history[0].empty_layer, Some(true));
        let back: Value = serde_json::to_value(&cfg).unwrap();
        let orig: Value = serde_json::from_str(json).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn manifest_and_index_parse() {
        let d = Digest::sha256_of(b"x");
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_OCI_INDEX}","manifests":[{{"mediaType":"{MEDIA_TYPE_OCI_MANIFEST}",
            "digest":"{d}","size":1,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}},
            "annotations":{{"{ANNOTATION_REF_NAME}":"latest"}}}}]}}"#
        );
        let idx: Index = serde_json::from_str(&json).unwrap();
        assert_eq!(
            idx.manifests[0].annotation(ANNOTATION_REF_NAME),
            Some("latest")
        );
        assert_eq!(
            idx.manifests[0]
                .platform
                .as_ref()
                .unwrap()
                .variant
                .as_deref(),
            Some("v8")
        );
        assert!(is_index(idx.media_type.as_deref().unwrap()));
        assert_eq!(
            oci_layer_media_type(MEDIA_TYPE_DOCKER_LAYER_GZIP),
            MEDIA_TYPE_OCI_LAYER_GZIP
        );
        assert_eq!(Platform::host().os, "linux");
    }
}
