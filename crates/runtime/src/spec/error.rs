//! The one error type of the spec module.

use std::io;
use std::path::PathBuf;

/// Why a container's settings could not be turned into an OCI spec or written as a bundle.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("no command specified")]
    NoCommand,
    #[error("{what} must be an absolute path, got {path:?}")]
    NotAbsolute { what: &'static str, path: PathBuf },
    #[error("invalid mount destination {0:?}: a mount cannot replace the container's root")]
    RootMount(PathBuf),
    #[error("invalid cgroups path {0:?}: it must be absolute and must not contain \"..\"")]
    CgroupsPath(String),
    #[error("conflicting options: hostname and the UTS mode")]
    HostnameWithSharedUts,
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    #[error(
        "sysctl {0:?} is not namespaced; only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* and net.* can be set for a container"
    )]
    SysctlNotNamespaced(String),
    #[error(
        "sysctl {name:?} is not allowed: the container does not have its own {namespace} namespace"
    )]
    SysctlSharedNamespace {
        name: String,
        namespace: &'static str,
    },
    #[error("unknown ulimit type: {0:?}")]
    UnknownRlimit(String),
    #[error("ulimit {name}: soft limit {soft} is greater than hard limit {hard}")]
    RlimitSoftAboveHard { name: String, soft: u64, hard: u64 },
    #[error("invalid oom_score_adj {0}: it must be between -1000 and 1000")]
    OomScoreAdj(i32),
    #[error("{0}")]
    Resources(String),
    #[error("seccomp profile: {0}")]
    Seccomp(String),
    #[error(
        "invalid device cgroup permissions {mode:?} for {path:?}: use a combination of r, w and m"
    )]
    DeviceMode { path: PathBuf, mode: String },
    #[error("error gathering device information while adding custom device {path:?}: {source}")]
    Device { path: PathBuf, source: io::Error },
    #[error(
        "error gathering device information while adding custom device {path:?}: not a device node"
    )]
    NotADevice { path: PathBuf },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("building the oci spec: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
    #[error("encoding config.json: {0}")]
    Json(#[from] serde_json::Error),
}

impl SpecError {
    /// True when the container's settings are at fault (the API answers 400), false when the
    /// host is (a failed read or write: 500). A missing `--device` counts as the caller's fault.
    pub fn is_invalid_argument(&self) -> bool {
        !matches!(self, Self::Io { .. } | Self::Oci(_) | Self::Json(_))
    }

    pub(super) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
