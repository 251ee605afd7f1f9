//! Registry client for the OCI distribution spec (Docker registry v2): endpoints (mirrors,
//! insecure hosts, certs.d CAs, proxy), the auth challenge flow, manifests with platform
//! selection, resumable blob downloads and uploads.
//!
//! Unlike the rest of this crate the client is async (hyper over tokio); the one blocking piece is
//! [`BlobReader`], which turns a download into a `Read` so a layer can be hashed, decompressed and
//! extracted by the same single pass that `load` uses ([`store_layer`]).

mod auth;
mod client;
mod download;
mod endpoint;
mod http;
mod layer;
mod manifest;
mod transport;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use auth::{AuthConfig, Credentials};
pub use client::{Client, RepoClient};
pub use download::BlobReader;
pub use endpoint::{Endpoint, endpoints_for, is_insecure, registry_host};
pub use http::known_manifest;
pub use layer::{StoredLayer, store_layer};
pub use manifest::{Fetched, build_manifest, parse_platform, select_platform};

/// What the operator configured about registries (the daemon config's registry keys).
#[derive(Clone, Debug, Default)]
pub struct RegistryConfig {
    /// Hosts (`host[:port]`) or CIDRs (`10.0.0.0/8`) spoken to over plain HTTP when HTTPS fails.
    /// Loopback addresses and `localhost` are always insecure, as in docker.
    pub insecure: Vec<String>,
    /// Registry host → mirror base URLs (`http://127.0.0.1:5000`), tried in order before the
    /// registry itself. A mirror serves the registry's repositories under the same names.
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// `<certs_dir>/<host[:port]>/ca.crt` (and any `*.crt`) are extra CAs for that registry.
    pub certs_dir: PathBuf,
    /// `http://host:port` proxy used (through CONNECT) for every registry connection.
    pub proxy: Option<String>,
    /// Serves Docker Hub's names (`busybox` = `docker.io/library/busybox`) instead of Docker Hub:
    /// `host[:port]` or a URL. Names stay canonical; Docker Hub itself is never contacted.
    pub default_registry: Option<String>,
}

/// Errors talking to a registry. Messages follow docker's wording where users grep for them.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// 401: missing or wrong credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403.
    #[error("denied: {0}")]
    Denied(String),
    /// 404 or a registry `*_UNKNOWN` error.
    #[error("{0}")]
    NotFound(String),
    /// Could not connect, TLS failed, or the registry kept failing (5xx).
    #[error("{0}")]
    Unavailable(String),
    /// The registry answered something that breaks the protocol or the image spec.
    #[error("{0}")]
    Protocol(String),
    #[error(transparent)]
    Image(#[from] crate::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
