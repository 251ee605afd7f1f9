//! The daemon config file (`/etc/pouch/config.json` by default) merged with flags; flags win.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use pouch_engine::{Config, RuntimeConfig};
use serde::Deserialize;

use crate::Flags;

pub const DEFAULT_CONFIG: &str = "/etc/pouch/config.json";
pub const DEFAULT_HOST: &str = "unix:///var/run/pouchd.sock";

/// The file's keys, named as in docker's daemon.json where docker has one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    #[serde(alias = "data-root")]
    root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    #[serde(default)]
    hosts: Vec<String>,
    debug: Option<bool>,
    pidfile: Option<PathBuf>,
    allow_device_nodes: Option<bool>,
    default_runtime: Option<String>,
    #[serde(default)]
    runtimes: BTreeMap<String, FileRuntime>,
    #[serde(default)]
    labels: Vec<String>,
    /// Registries spoken to over plain HTTP (hosts, `host:port` or CIDRs).
    #[serde(default)]
    insecure_registries: Vec<String>,
    /// docker's list of docker.io mirrors, or a map of registry host → mirror URLs.
    registry_mirrors: Option<Mirrors>,
    /// Where `<host>/ca.crt` files are looked up (default /etc/pouch/certs.d).
    certs_dir: Option<PathBuf>,
    default_registry: Option<String>,
    /// `http://host:port` proxy for registry connections.
    registry_proxy: Option<String>,
    /// Start lxcfs with the daemon.
    enable_lxcfs: Option<bool>,
    /// The lxcfs binary.
    lxcfs: Option<PathBuf>,
    /// Where pouchd mounts lxcfs (default <exec-root>/lxcfs).
    lxcfs_home: Option<PathBuf>,
    /// `default` or `user[:group]`: containers' root maps to a subordinate id range.
    userns_remap: Option<String>,
    /// The default bridge's interface name (`none` disables it).
    bridge: Option<String>,
    /// The default bridge's gateway address and prefix.
    bip: Option<String>,
    fixed_cidr: Option<String>,
    /// IPv6 on the default bridge, with its subnet.
    ipv6: Option<bool>,
    fixed_cidr_v6: Option<String>,
    mtu: Option<u32>,
    /// The nftables table this daemon owns (family ip).
    nft_table: Option<String>,
    /// docker's `[{"base": "10.10.0.0/16", "size": 24}]`: where subnets are chosen from.
    default_address_pools: Option<Vec<AddressPool>>,
    /// CNI conflists and plugin directories.
    cni_config_dir: Option<PathBuf>,
    cni_bin_dir: Option<Vec<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressPool {
    base: String,
    size: u8,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Mirrors {
    DockerHub(Vec<String>),
    PerHost(BTreeMap<String, Vec<String>>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRuntime {
    path: String,
    #[serde(default, rename = "runtimeArgs")]
    runtime_args: Vec<String>,
}

pub struct DaemonConfig {
    pub engine: Config,
    pub hosts: Vec<String>,
    pub pidfile: PathBuf,
    /// The config file's keys as read (an empty object without a file): a reload compares them
    /// to tell which changed keys need a restart.
    pub file: serde_json::Value,
}

pub fn resolve(flags: &Flags) -> Result<DaemonConfig> {
    let (file_json, file) = match &flags.config {
        Some(p) => read(p)?,
        None if Path::new(DEFAULT_CONFIG).exists() => read(Path::new(DEFAULT_CONFIG))?,
        None => (serde_json::json!({}), FileConfig::default()),
    };
    let root = flags
        .root
        .clone()
        .or(file.root)
        .unwrap_or_else(|| "/var/lib/pouch".into());
    let exec_root = flags
        .exec_root
        .clone()
        .or(file.exec_root)
        .unwrap_or_else(|| "/run/pouch".into());
    for (what, p) in [("--root", &root), ("--exec-root", &exec_root)] {
        if !p.is_absolute() {
            bail!("{what} must be an absolute path, got {}", p.display());
        }
    }
    let mut hosts = if flags.hosts.is_empty() {
        file.hosts
    } else {
        flags.hosts.clone()
    };
    if hosts.is_empty() {
        hosts.push(DEFAULT_HOST.to_string());
    }
    let pidfile = flags
        .pidfile
        .clone()
        .or(file.pidfile)
        .unwrap_or_else(|| exec_root.join("pouchd.pid"));
    let mut engine = Config::new(root, exec_root);
    engine.debug = flags.debug || file.debug.unwrap_or(false);
    engine.allow_device_nodes =
        flags.allow_device_nodes || file.allow_device_nodes.unwrap_or(false);
    engine.labels = file.labels;
    engine.runtimes = file
        .runtimes
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                RuntimeConfig {
                    path: v.path,
                    args: v.runtime_args,
                },
            )
        })
        .collect();
    engine.registry.insecure = file.insecure_registries;
    engine.registry.mirrors = match file.registry_mirrors {
        Some(Mirrors::DockerHub(urls)) => BTreeMap::from([("docker.io".to_string(), urls)]),
        Some(Mirrors::PerHost(map)) => map,
        None => BTreeMap::new(),
    };
    if let Some(dir) = file.certs_dir {
        engine.registry.certs_dir = dir;
    }
    engine.registry.proxy = file.registry_proxy;
    engine.enable_lxcfs = flags.enable_lxcfs || file.enable_lxcfs.unwrap_or(false);
    if let Some(p) = flags.lxcfs.clone().or(file.lxcfs) {
        engine.lxcfs_path = p;
    }
    if let Some(p) = flags.lxcfs_home.clone().or(file.lxcfs_home) {
        if !p.is_absolute() {
            bail!("lxcfs-home must be an absolute path, got {}", p.display());
        }
        engine.lxcfs_home = p;
    }
    if let Some(spec) = flags.userns_remap.clone().or(file.userns_remap) {
        let remap = pouch_engine::userns::resolve_remap(
            &spec,
            Path::new("/etc/subuid"),
            Path::new("/etc/subgid"),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        engine.userns_remap = Some(remap);
    }
    engine.registry.default_registry = file.default_registry;
    let net = &mut engine.network;
    if let Some(b) = flags.bridge.clone().or(file.bridge) {
        if b.is_empty() || b.len() > 15 {
            bail!("bridge name {b:?} must have 1 to 15 characters");
        }
        net.bridge = b;
    }
    net.bip = flags.bip.clone().or(file.bip);
    net.fixed_cidr = flags.fixed_cidr.clone().or(file.fixed_cidr);
    net.mtu = flags.mtu.or(file.mtu);
    let v6 = flags.fixed_cidr_v6.clone().or(file.fixed_cidr_v6);
    if flags.ipv6 || file.ipv6.unwrap_or(false) {
        if v6.is_none() {
            bail!(
                "ipv6 on the default bridge needs its subnet: set fixed-cidr-v6 (e.g. fd00:17::/64)"
            );
        }
        net.fixed_cidr_v6 = v6;
    }
    if let Some(t) = file.nft_table {
        net.nft_table = t;
    }
    if let Some(pools) = file.default_address_pools {
        net.address_pools = pools.into_iter().map(|p| (p.base, p.size)).collect();
    }
    if let Some(d) = file.cni_config_dir {
        net.cni_conf_dir = d;
    }
    if let Some(d) = file.cni_bin_dir {
        net.cni_bin_dirs = d;
    }
    if let Some(d) = file.default_runtime {
        if d != pouch_engine::config::BUILTIN_RUNTIME && !engine.runtimes.contains_key(&d) {
            bail!("default-runtime {d:?} is not among the configured runtimes");
        }
        engine.default_runtime = d;
    }
    Ok(DaemonConfig {
        engine,
        hosts,
        pidfile,
        file: file_json,
    })
}

/// The config file as JSON (for comparing keys) and as its typed keys.
fn read(p: &Path) -> Result<(serde_json::Value, FileConfig)> {
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("reading config file {}", p.display()))?;
    let invalid = || format!("config file {} is not valid", p.display());
    let typed = serde_json::from_str(&text).with_context(invalid)?;
    let json = serde_json::from_str(&text).with_context(invalid)?;
    Ok((json, typed))
}
