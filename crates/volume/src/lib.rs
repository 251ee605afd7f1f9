//! Volume drivers behind one small trait: `local` (directories under the root, or a filesystem
//! mounted on demand like docker's local driver) and external plugins over the Docker volume
//! plugin protocol. Also the project-quota helper used for per-volume and per-container disk
//! quota, and the copy that populates a new volume from the image.

pub mod copy;
pub mod local;
pub mod plugin;
pub mod quota;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use local::LocalDriver;
pub use plugin::PluginDriver;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    InUse(String),
    #[error("{0}")]
    Driver(String),
}

pub type Result<T> = std::result::Result<T, VolumeError>;

/// What a driver knows about one of its volumes.
#[derive(Debug, Clone, Default)]
pub struct VolumeInfo {
    pub name: String,
    pub mountpoint: PathBuf,
    pub status: Option<BTreeMap<String, serde_json::Value>>,
}

/// A volume driver. Calls block; the engine runs them on its blocking pool. `caller` identifies
/// the container that mounts, so drivers can count users.
pub trait Driver: Send + Sync {
    fn name(&self) -> &str;
    /// `local` or `global`, as the plugin protocol's capabilities say.
    fn scope(&self) -> String {
        "local".into()
    }
    fn create(&self, name: &str, opts: &BTreeMap<String, String>) -> Result<()>;
    fn remove(&self, name: &str) -> Result<()>;
    /// Where the volume's data is, as inspect shows it (may be empty before a mount for plugins).
    fn get(&self, name: &str) -> Result<VolumeInfo>;
    /// Makes the volume available and returns the host path to bind into the container.
    fn mount(&self, name: &str, caller: &str) -> Result<PathBuf>;
    fn unmount(&self, name: &str, caller: &str) -> Result<()>;
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(VolumeError::Invalid(format!(
            "{name:?} includes invalid characters for a local volume name, only \
             \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, \
             use absolute path"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["data", "a1", "my_vol.2-x", "0abc"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "./data", "../x", "-x", "a/b", "a b", "_x"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
