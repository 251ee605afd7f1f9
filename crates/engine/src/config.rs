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
    /// Reloadable (see [`Reloadable`]): the engine reads the live value, this is the first one.
    pub debug: bool,
    /// Let image layers create device nodes (refused by default: a hostile image could ship
    /// `/dev/sda`-like nodes that a container with device access would reach).
    pub allow_device_nodes: bool,
    pub runtimes: BTreeMap<String, RuntimeConfig>,
    pub default_runtime: String,
    /// Reloadable (see [`Reloadable`]).
    pub labels: Vec<String>,
    /// Registry endpoints, mirrors, CAs and proxy (see docs/registry.md). Its `insecure` and
    /// `mirrors` are reloadable (see [`Reloadable`]); the rest needs a restart.
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

/// The part of the config a running daemon changes on reload (pouchd's SIGHUP), as dockerd's
/// reload does: the log level, the daemon labels, and the registries' insecure list and mirrors.
///
/// The engine keeps the live value apart from [`Config`] (`Context::live`), and every reader of
/// these keys reads it there, so a reload takes effect for the next operation (an `/info`, a
/// pull or push) while operations already running finish with the values they started with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloadable {
    pub debug: bool,
    pub labels: Vec<String>,
    /// Hosts, `host:port` or CIDRs spoken to over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Registry host → mirror base URLs.
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
}

/// What a reload changed: the daemon config keys (named as in the config file) whose values
/// differ from the running ones. Empty when the file's reloadable keys did not change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub changed: Vec<&'static str>,
}

impl Reloadable {
    /// The config file keys that differ between `self` and `other`.
    pub fn changed_keys(&self, other: &Reloadable) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.debug != other.debug {
            keys.push("debug");
        }
        if self.labels != other.labels {
            keys.push("labels");
        }
        if self.insecure_registries != other.insecure_registries {
            keys.push("insecure-registries");
        }
        if self.registry_mirrors != other.registry_mirrors {
            keys.push("registry-mirrors");
        }
        keys
    }
}

/// Where per-registry CA certificates live by default (`<dir>/<host[:port]>/ca.crt`), as docker's
/// `/etc/docker/certs.d`.
pub const DEFAULT_CERTS_DIR: &str = "/etc/pouch/certs.d";

/// The runtime linked into pouch-shim; always available.
pub const BUILTIN_RUNTIME: &str = "pouch";

impl Config {
    /// The reloadable part of this config, as the engine starts with it.
    pub fn reloadable(&self) -> Reloadable {
        Reloadable {
            debug: self.debug,
            labels: self.labels.clone(),
            insecure_registries: self.registry.insecure.clone(),
            registry_mirrors: self.registry.mirrors.clone(),
        }
    }

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
