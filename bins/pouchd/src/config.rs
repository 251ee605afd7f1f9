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
    /// TLS on tcp:// listeners (dockerd's daemon.json keys; see `tcp_security`).
    tls: Option<bool>,
    tlsverify: Option<bool>,
    tlscacert: Option<PathBuf>,
    tlscert: Option<PathBuf>,
    tlskey: Option<PathBuf>,
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
    /// How tcp:// listeners are served; `None` when there is none.
    pub tcp: Option<TcpSecurity>,
    /// The config file's keys as read (an empty object without a file): a reload compares them
    /// to tell which changed keys need a restart.
    pub file: serde_json::Value,
}

/// How the API is served on TCP (unix sockets are never wrapped in TLS: their file mode guards
/// them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpSecurity {
    Tls(TlsFiles),
    /// Plain HTTP, because the operator said `--tls=false` (or `"tls": false`).
    Plain,
}

/// docker's `--tlscacert`, `--tlscert`, `--tlskey`, and whether clients must present a
/// certificate signed by that CA (`--tlsverify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub verify: bool,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
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
    let tcp = match hosts.iter().find(|h| h.starts_with("tcp://")) {
        Some(h) => {
            let keys = TlsKeys {
                tls: file.tls,
                tlsverify: file.tlsverify,
                tlscacert: file.tlscacert,
                tlscert: file.tlscert,
                tlskey: file.tlskey,
            };
            Some(tcp_security(flags, keys, h)?)
        }
        None => None,
    };
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
        tcp,
        file: file_json,
    })
}

/// The config file's TLS keys.
struct TlsKeys {
    tls: Option<bool>,
    tlsverify: Option<bool>,
    tlscacert: Option<PathBuf>,
    tlscert: Option<PathBuf>,
    tlskey: Option<PathBuf>,
}

/// dockerd's rules: `--tlsverify` given at all (true or false) turns TLS on; TLS on verifies
/// clients unless `--tlsverify=false`; the certificate files default to `ca.pem`, `cert.pem`
/// and `key.pem` under `$DOCKER_CERT_PATH` (else `$DOCKER_CONFIG`, else `~/.docker`). Where
/// dockerd only warns (and stalls its start) about plain TCP that nobody asked for, pouchd
/// refuses it: the API gives root to whoever reaches it.
fn tcp_security(flags: &Flags, file: TlsKeys, host: &str) -> Result<TcpSecurity> {
    let verify = flags.tlsverify.or(file.tlsverify);
    let tls = if verify.is_some() {
        Some(true)
    } else {
        flags.tls.or(file.tls)
    };
    match tls {
        Some(true) => {
            let dir = default_cert_dir();
            let pick = |flag: &Option<PathBuf>, key: Option<PathBuf>, name: &str| {
                flag.clone().or(key).unwrap_or_else(|| dir.join(name))
            };
            Ok(TcpSecurity::Tls(TlsFiles {
                verify: verify.unwrap_or(true),
                ca: pick(&flags.tlscacert, file.tlscacert, "ca.pem"),
                cert: pick(&flags.tlscert, file.tlscert, "cert.pem"),
                key: pick(&flags.tlskey, file.tlskey, "key.pem"),
            }))
        }
        Some(false) => Ok(TcpSecurity::Plain),
        None => bail!(
            "refusing to serve the API on {host} without TLS: binding to an IP address without \
             --tlsverify gives root access on this machine to everyone who can reach it. Serve it \
             to clients with certificates (--tlsverify --tlscacert CA --tlscert CERT --tlskey KEY), \
             or pass --tls=false (\"tls\": false in the config file) to serve plain TCP anyway"
        ),
    }
}

/// Where dockerd looks for `ca.pem`, `cert.pem` and `key.pem` when no path is given.
fn default_cert_dir() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    env("DOCKER_CERT_PATH")
        .or_else(|| env("DOCKER_CONFIG"))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env("HOME").unwrap_or_else(|| "/root".into())).join(".docker")
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

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Parser;

    fn security(args: &[&str], file: TlsKeys) -> Result<TcpSecurity> {
        let flags = Flags::parse_from([&["pouchd"], args].concat());
        tcp_security(&flags, file, "tcp://0.0.0.0:2376")
    }

    fn no_keys() -> TlsKeys {
        TlsKeys {
            tls: None,
            tlsverify: None,
            tlscacert: None,
            tlscert: None,
            tlskey: None,
        }
    }

    fn verify_of(s: Result<TcpSecurity>) -> Option<bool> {
        match s.unwrap() {
            TcpSecurity::Tls(f) => Some(f.verify),
            TcpSecurity::Plain => None,
        }
    }

    #[test]
    fn tls_rules_follow_dockerd() {
        // --tlsverify (any value) turns TLS on; TLS on verifies unless --tlsverify=false.
        assert_eq!(verify_of(security(&["--tlsverify"], no_keys())), Some(true));
        assert_eq!(verify_of(security(&["--tls"], no_keys())), Some(true));
        assert_eq!(
            verify_of(security(&["--tlsverify=false"], no_keys())),
            Some(false)
        );
        assert_eq!(
            verify_of(security(&["--tls=false", "--tlsverify=false"], no_keys())),
            Some(false)
        );
        assert_eq!(verify_of(security(&["--tls=false"], no_keys())), None);
        let keys = TlsKeys {
            tls: Some(false),
            ..no_keys()
        };
        assert_eq!(verify_of(security(&[], keys)), None);
        let err = security(&[], no_keys()).unwrap_err().to_string();
        assert!(
            err.contains("refusing to serve the API on tcp://0.0.0.0:2376"),
            "{err}"
        );
    }

    #[test]
    fn flags_win_over_the_file_and_paths_default_to_the_cert_dir() {
        let keys = TlsKeys {
            tlsverify: Some(true),
            tlscacert: Some("/file/ca.pem".into()),
            tlskey: Some("/file/key.pem".into()),
            ..no_keys()
        };
        let TcpSecurity::Tls(f) = security(&["--tlscacert", "/flag/ca.pem"], keys).unwrap() else {
            panic!("no TLS")
        };
        assert_eq!(f.ca, PathBuf::from("/flag/ca.pem"));
        assert_eq!(f.key, PathBuf::from("/file/key.pem"));
        assert_eq!(f.cert, default_cert_dir().join("cert.pem"));
    }
}
