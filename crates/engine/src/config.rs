//! What the engine needs to know about its host and its operator's choices.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// An OCI runtime registered by name (`runtimes` in the daemon config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub path: String,
    pub args: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Persistent state: `pouch.db`, content, snapshots.
    pub root: PathBuf,
    /// Runtime state that does not survive a reboot: bundles, shim sockets.
    pub exec_root: PathBuf,
    pub debug: bool,
    /// Let image layers create device nodes (refused by default: a hostile image could ship
    /// `/dev/sda`-like nodes that a container with device access would reach).
    pub allow_device_nodes: bool,
    pub runtimes: BTreeMap<String, RuntimeConfig>,
    pub default_runtime: String,
    pub labels: Vec<String>,
    /// Registry endpoints, mirrors, CAs and proxy (see docs/registry.md).
    pub registry: pouch_image::registry::RegistryConfig,
    /// Start lxcfs with the daemon (containers still opt in with `EnableLxcfs`).
    pub enable_lxcfs: bool,
    /// The lxcfs binary (looked up in PATH when relative).
    pub lxcfs_path: PathBuf,
    /// Where pouchd mounts its lxcfs.
    pub lxcfs_home: PathBuf,
    /// `--userns-remap`: the host ids container root and its range map to.
    pub userns_remap: Option<crate::userns::Remap>,
    /// The default bridge, subnets, firewall table and CNI directories (docs/networking.md).
    pub network: crate::networks::NetworkConfig,
}

/// Where per-registry CA certificates live by default (`<dir>/<host[:port]>/ca.crt`), as docker's
/// `/etc/docker/certs.d`.
pub const DEFAULT_CERTS_DIR: &str = "/etc/pouch/certs.d";

/// The runtime linked into pouch-shim; always available.
pub const BUILTIN_RUNTIME: &str = "pouch";

impl Config {
    pub fn new(root: PathBuf, exec_root: PathBuf) -> Config {
        let lxcfs_home = exec_root.join("lxcfs");
        Config {
            root,
            exec_root,
            debug: false,
            allow_device_nodes: false,
            runtimes: BTreeMap::new(),
            default_runtime: BUILTIN_RUNTIME.to_string(),
            enable_lxcfs: false,
            lxcfs_path: PathBuf::from("lxcfs"),
            lxcfs_home,
            userns_remap: None,
            network: Default::default(),
            labels: Vec::new(),
            registry: pouch_image::registry::RegistryConfig {
                certs_dir: PathBuf::from(DEFAULT_CERTS_DIR),
                ..Default::default()
            },
        }
    }
}
