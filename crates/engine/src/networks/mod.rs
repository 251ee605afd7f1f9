//! Networks: the default bridge (`bridge`, Linux bridge `pouch0` by default) made at daemon start,
//! user-defined bridge networks, each container's endpoints (IP leases in the store), its pinned
//! network namespace, published ports and the embedded DNS of user networks. See
//! docs/networking.md.

mod api;
mod cni;
mod container;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use pouch_network::dns::DnsServer;
use pouch_network::firewall::{Firewall, FwNetwork, Nftables, NoFirewall, PortMap, Ruleset};
use pouch_network::ports::{PortBinding, Reservation};
use pouch_network::{BridgeDriver, Cidr, NetworkDriver, NetworkSpec};

use crate::context::Blocking;
use crate::error::{Error, ErrorKind, Result};
use crate::store::NetworkRecord;
use crate::{Networks, now_nanos};

/// The name of the default network, as docker calls it.
pub const DEFAULT_NETWORK: &str = "bridge";

/// Operator settings for networking (`bridge`, `bip`, `fixed-cidr`, `mtu`, … in the daemon
/// config; flags of the same names).
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The default bridge's interface name; `none` disables the default bridge.
    pub bridge: String,
    /// The default bridge's gateway address with prefix (`172.30.0.1/16`); chosen from the
    /// pools when unset.
    pub bip: Option<String>,
    /// Where the default bridge hands out addresses (inside the bip subnet).
    pub fixed_cidr: Option<String>,
    /// Dual stack for the default bridge: its IPv6 subnet (docker's `ipv6` + `fixed-cidr-v6`).
    pub fixed_cidr_v6: Option<String>,
    pub mtu: Option<u32>,
    /// The nftables table (family ip) this daemon owns.
    pub nft_table: String,
    /// Pools for subnets chosen automatically: (base, prefix length of each subnet).
    pub address_pools: Vec<(String, u8)>,
    /// Directory of CNI conflists and the directories searched for CNI plugins.
    pub cni_conf_dir: PathBuf,
    pub cni_bin_dirs: Vec<PathBuf>,
}

impl Default for NetworkConfig {
    fn default() -> NetworkConfig {
        NetworkConfig {
            bridge: "pouch0".into(),
            bip: None,
            fixed_cidr: None,
            fixed_cidr_v6: None,
            mtu: None,
            nft_table: "pouch".into(),
            address_pools: vec![("172.17.0.0/12".into(), 16), ("192.168.0.0/16".into(), 20)],
            cni_conf_dir: "/etc/cni/net.d".into(),
            cni_bin_dirs: vec!["/opt/cni/bin".into(), "/usr/lib/cni".into()],
        }
    }
}

/// What only a running daemon holds: DNS servers and the firewall driver.
pub(crate) struct NetState {
    /// Serialises address choices and firewall rebuilds.
    lock: std::sync::Mutex<()>,
    dns: std::sync::Mutex<HashMap<String, DnsServer>>,
    /// What the DNS servers answer from.
    records: pouch_network::dns::Records,
    firewall: Box<dyn Firewall>,
    upstream: Vec<SocketAddr>,
    /// Set at shutdown: nothing renders the firewall again after it was removed.
    stopped: std::sync::atomic::AtomicBool,
    /// The host ports each running container publishes, held (bound, never listened on) from
    /// its start to its exit, by container id.
    reservations: std::sync::Mutex<HashMap<String, Reservation>>,
}

impl NetState {
    pub fn new(cfg: &NetworkConfig) -> NetState {
        let firewall: Box<dyn Firewall> = if pouch_sys::nft::available() {
            Box::new(Nftables {
                table: cfg.nft_table.clone(),
            })
        } else {
            tracing::warn!(
                "libnftables is not installed: no NAT and no published ports \
                 (apt-get install libnftables1)"
            );
            Box::new(NoFirewall)
        };
        let upstream = pouch_network::dns::upstream_from(
            &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        );
        NetState {
            lock: std::sync::Mutex::new(()),
            dns: Default::default(),
            records: Default::default(),
            firewall,
            upstream,
            stopped: Default::default(),
            reservations: Default::default(),
        }
    }
}

impl From<pouch_network::Error> for Error {
    fn from(e: pouch_network::Error) -> Error {
        match e {
            pouch_network::Error::Invalid(m) => Error::invalid(m),
            pouch_network::Error::Sys(m) => Error::internal(m),
        }
    }
}

pub(crate) fn spec_of(n: &NetworkRecord) -> Result<NetworkSpec> {
    let subnet: Cidr = n.subnet.parse()?;
    Ok(NetworkSpec {
        bridge: n.bridge.clone(),
        subnet,
        gateway: n.gateway.parse::<Ipv4Addr>().ok(),
        gateway6: gateway6_of(n)?,
        mtu: n.mtu,
    })
}

/// A dual-stack network's IPv6 gateway with the subnet's prefix length.
pub(crate) fn gateway6_of(n: &NetworkRecord) -> Result<Option<pouch_network::ipam::Cidr6>> {
    if n.subnet6.is_empty() {
        return Ok(None);
    }
    let sub: pouch_network::ipam::Cidr6 = n.subnet6.parse()?;
    let gw = n.gateway6.parse().unwrap_or(sub.first_host());
    Ok(Some(pouch_network::ipam::Cidr6 {
        addr: gw,
        prefix: sub.prefix,
    }))
}

impl Networks {
    fn net(&self) -> &NetState {
        &self.state
    }

    fn net_cfg(&self) -> &NetworkConfig {
        &self.ctx.config.network
    }

    fn driver(&self) -> &'static dyn NetworkDriver {
        &BridgeDriver
    }

    /// The driver of a stored network (bridge unless it says otherwise).
    fn driver_for(&self, n: &NetworkRecord) -> Result<Box<dyn NetworkDriver>> {
        Ok(match n.driver.as_str() {
            "macvlan" => Box::new(pouch_network::macvlan::MacvlanDriver {
                parent: n.options.get("parent").cloned().unwrap_or_default(),
                mode: pouch_network::macvlan::mode_number(
                    n.options
                        .get("macvlan_mode")
                        .map(String::as_str)
                        .unwrap_or(""),
                )?,
            }),
            _ => Box::new(BridgeDriver),
        })
    }

    /// Pools to choose subnets from.
    fn pools(&self) -> Result<Vec<(Cidr, u8)>> {
        self.net_cfg()
            .address_pools
            .iter()
            .map(|(b, s)| Ok((b.parse::<Cidr>()?, *s)))
            .collect()
    }

    /// A subnet overlapping neither the host's routes nor any stored network. Call with the host
    /// lock held, and create the bridge before releasing it.
    fn choose_subnet(&self) -> Result<Cidr> {
        let mut taken = pouch_network::host_networks();
        for n in self.ctx.store.networks()? {
            if let Ok(c) = n.subnet.parse::<Cidr>() {
                taken.push(c);
            }
        }
        pouch_network::ipam::pick_subnet(&self.pools()?, &taken).ok_or_else(|| {
            Error::new(
                ErrorKind::Unavailable,
                "all predefined address pools have been fully subnetted",
            )
        })
    }

    /// At daemon start: the default network, every bridge, the firewall and the DNS servers.
    /// Failures are logged: a host that cannot do bridges still runs `--network none|host`.
    pub(crate) async fn init_networks(&self) {
        let r = self
            .blocking(|e| {
                e.ensure_default_network()?;
                let mut errs = Vec::new();
                if let Err(err) = e.sync_cni_networks() {
                    errs.push(format!("CNI networks: {err}"));
                }
                for n in e.ctx.store.networks()? {
                    if n.driver == "bridge"
                        && let Err(err) = spec_of(&n).and_then(|s| Ok(e.driver().create(&s)?))
                    {
                        errs.push(format!("network {}: {err}", n.name));
                    }
                }
                if let Err(err) = e.rebuild_firewall() {
                    errs.push(err.to_string());
                }
                if errs.is_empty() {
                    Ok(())
                } else {
                    Err(Error::internal(errs.join("; ")))
                }
            })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "setting up networks");
        }
        if let Ok(nets) = self.ctx.store.networks() {
            for n in nets.into_iter().filter(|n| n.dns) {
                self.start_dns(&n).await;
            }
        }
        self.watch_firewall();
    }

    /// docker may start (and make its DOCKER-USER chain) after pouchd: every few seconds, check
    /// that our accepts are there and render the firewall again when they are not.
    fn watch_firewall(&self) {
        let weak = (
            std::sync::Arc::downgrade(&self.ctx),
            std::sync::Arc::downgrade(&self.state),
        );
        let locks = self.locks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                let (Some(ctx), Some(state)) = (weak.0.upgrade(), weak.1.upgrade()) else {
                    return;
                };
                let e = Networks {
                    ctx,
                    state,
                    locks: locks.clone(),
                };
                let _ = e
                    .blocking(|e| {
                        let nets = e.ctx.store.networks()?;
                        let bridges: Vec<&str> = nets
                            .iter()
                            .filter(|n| n.driver == "bridge")
                            .map(|n| n.bridge.as_str())
                            .collect();
                        if !e.net().firewall.in_place(&bridges) {
                            tracing::info!(
                                "docker's DOCKER-USER chain changed: adding our accepts again"
                            );
                            e.rebuild_firewall()?;
                        }
                        Ok(())
                    })
                    .await;
            }
        });
    }

    fn ensure_default_network(&self) -> Result<()> {
        let cfg = self.net_cfg().clone();
        if cfg.bridge == "none" {
            return Ok(());
        }
        let existing = self
            .ctx
            .store
            .networks()?
            .into_iter()
            .find(|n| n.name == DEFAULT_NETWORK);
        let _host = pouch_network::host_lock()?;
        let bip: Option<Cidr> = cfg.bip.as_deref().map(str::parse).transpose()?;
        let fixed: Option<Cidr> = cfg.fixed_cidr.as_deref().map(str::parse).transpose()?;
        let v6: Option<pouch_network::ipam::Cidr6> =
            cfg.fixed_cidr_v6.as_deref().map(str::parse).transpose()?;
        if let Some(n) = &existing {
            let same_bip = bip.is_none_or(|b| n.subnet == b.network().to_string());
            let same_v6 = n.subnet6 == v6.map(|c| c.network().to_string()).unwrap_or_default();
            if n.bridge == cfg.bridge && same_bip && same_v6 && n.mtu == cfg.mtu {
                return self.driver().create(&spec_of(n)?).map_err(Into::into);
            }
            // The operator changed the default bridge: replace it.
            let _ = self.driver().delete(&spec_of(n)?);
        }
        let (subnet, gateway) = match bip {
            Some(b) => (b.network(), b.addr),
            None => {
                let s = match &existing {
                    Some(n) if n.bridge == cfg.bridge => n.subnet.parse()?,
                    _ => self.choose_subnet()?,
                };
                (s, s.first_host())
            }
        };
        let rec = NetworkRecord {
            id: existing
                .as_ref()
                .map(|n| n.id.clone())
                .unwrap_or(crate::containers::random_hex(32)?),
            name: DEFAULT_NETWORK.into(),
            driver: "bridge".into(),
            created: existing.as_ref().map(|n| n.created).unwrap_or(now_nanos()),
            bridge: cfg.bridge.clone(),
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            ip_range: fixed.map(|f| f.network().to_string()).unwrap_or_default(),
            subnet6: v6.map(|c| c.network().to_string()).unwrap_or_default(),
            gateway6: v6.map(|c| c.first_host().to_string()).unwrap_or_default(),
            internal: false,
            attachable: false,
            dns: false,
            mtu: cfg.mtu,
            labels: Default::default(),
            options: [
                ("com.docker.network.bridge.default_bridge", "true"),
                ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                ("com.docker.network.bridge.name", cfg.bridge.as_str()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        };
        if existing.is_some() {
            self.ctx.store.update_network(&rec)?;
        } else {
            self.ctx.store.insert_network(&rec)?;
        }
        self.driver().create(&spec_of(&rec)?)?;
        Ok(())
    }

    /// Renders the firewall from the store: every bridge network, and the published ports of
    /// containers whose network is set up.
    pub(crate) fn rebuild_firewall(&self) -> Result<()> {
        let _g = self.net().lock.lock().unwrap_or_else(|p| p.into_inner());
        self.rebuild_firewall_locked()
    }

    fn rebuild_firewall_locked(&self) -> Result<()> {
        if self.net().stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let store = &self.ctx.store;
        let nets = store.networks()?;
        let mut rules = Ruleset::default();
        for n in nets.iter().filter(|n| n.driver == "bridge") {
            rules.networks.push(FwNetwork {
                bridge: n.bridge.clone(),
                subnet: n.subnet.parse()?,
                internal: n.internal,
                subnet6: (!n.subnet6.is_empty())
                    .then(|| n.subnet6.parse())
                    .transpose()?,
                masquerade: n
                    .options
                    .get("com.docker.network.bridge.enable_ip_masquerade")
                    .is_none_or(|v| v != "false"),
            });
        }
        for (cid, ports) in store.all_container_ports()? {
            let bound: Vec<PortBinding> = serde_json::from_str(&ports).unwrap_or_default();
            let Some(ep) = store.endpoints_of_container(&cid)?.into_iter().next() else {
                continue;
            };
            let Ok(ip) = ep.ip.parse::<Ipv4Addr>() else {
                continue;
            };
            for b in bound {
                rules.ports.push(PortMap {
                    host_ip: b.host_ip,
                    host_port: b.host_port,
                    proto: b.proto,
                    container_ip: ip,
                    container_port: b.container_port,
                });
            }
        }
        self.net().firewall.apply(&rules)?;
        Ok(())
    }

    async fn start_dns(&self, n: &NetworkRecord) {
        let Ok(gw) = n.gateway.parse::<Ipv4Addr>() else {
            return;
        };
        match DnsServer::start(gw, self.net().upstream.clone(), self.net().records.clone()).await {
            Ok(s) => {
                self.net()
                    .dns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(n.id.clone(), s);
                let _ = self.refresh_dns(&n.id);
            }
            Err(e) => tracing::warn!(network = %n.name, error = %e, "embedded DNS not started"),
        }
    }

    /// Rebuilds what the DNS servers answer: every set-up member of a DNS-enabled network by
    /// name, aliases and short id, and each member address's networks.
    pub(crate) fn refresh_dns(&self, _network_id: &str) -> Result<()> {
        let store = &self.ctx.store;
        let nets: HashMap<String, bool> = store
            .networks()?
            .into_iter()
            .map(|n| (n.id, n.dns))
            .collect();
        let mut reg = pouch_network::dns::Registry::default();
        let mut by_container: HashMap<String, Vec<String>> = HashMap::new();
        let mut ips: Vec<(String, Ipv4Addr)> = Vec::new();
        for ep in store.endpoints()? {
            if !nets.get(&ep.network_id).copied().unwrap_or(false)
                || !self.ctx.netns_path(&ep.container_id).exists()
            {
                continue;
            }
            let Some(c) = store.container(&ep.container_id)? else {
                continue;
            };
            let Ok(ip) = ep.ip.parse::<Ipv4Addr>() else {
                continue;
            };
            let mut names = vec![c.name.to_ascii_lowercase(), c.id[..12].to_string()];
            names.extend(ep.aliases.iter().map(|a| a.to_ascii_lowercase()));
            let ip6 = ep.ip6.parse::<std::net::Ipv6Addr>().ok();
            let m = reg.names.entry(ep.network_id.clone()).or_default();
            for n in names {
                let e = m.entry(n).or_default();
                e.push(ip.into());
                e.extend(ip6.map(std::net::IpAddr::from));
            }
            by_container
                .entry(c.id.clone())
                .or_default()
                .push(ep.network_id.clone());
            ips.push((c.id, ip));
        }
        for (cid, ip) in ips {
            reg.clients
                .insert(ip, by_container.get(&cid).cloned().unwrap_or_default());
        }
        *self
            .net()
            .records
            .write()
            .unwrap_or_else(|p| p.into_inner()) = reg;
        Ok(())
    }

    /// At a clean shutdown with no container running: remove the bridges and the firewall
    /// table (they are made again at the next start). With containers running, keep everything.
    pub(crate) async fn shutdown_networks(&self) {
        let running = self
            .ctx
            .store
            .containers()
            .map(|cs| cs.iter().any(|c| c.state.status.is_running()))
            .unwrap_or(true);
        self.net()
            .dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        if running {
            return;
        }
        {
            // Taken so that no rebuild is half-way while the table goes.
            let _g = self.net().lock.lock().unwrap_or_else(|p| p.into_inner());
            self.net()
                .stopped
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        let _ = self
            .blocking(|e| {
                let mut errs = Vec::new();
                if let Err(err) = e.net().firewall.remove() {
                    errs.push(err.to_string());
                }
                for n in e.ctx.store.networks()? {
                    if n.driver == "bridge"
                        && let Err(err) = spec_of(&n).and_then(|s| Ok(e.driver().delete(&s)?))
                    {
                        errs.push(err.to_string());
                    }
                }
                if !errs.is_empty() {
                    tracing::warn!(errors = ?errs, "removing networks at shutdown");
                }
                Ok(())
            })
            .await;
    }

    /// Finds a network by full id, name, or unique id prefix.
    pub(crate) fn resolve_network(&self, name: &str) -> Result<NetworkRecord> {
        match self.resolve_network_once(name) {
            Err(e) if e.kind == ErrorKind::NotFound => {
                // A conflist may have appeared since the last look.
                self.sync_cni_networks()?;
                self.resolve_network_once(name)
            }
            r => r,
        }
    }

    fn resolve_network_once(&self, name: &str) -> Result<NetworkRecord> {
        let nets = self.ctx.store.networks()?;
        if let Some(n) = nets.iter().find(|n| n.id == name || n.name == name) {
            return Ok(n.clone());
        }
        let m: Vec<&NetworkRecord> = nets
            .iter()
            .filter(|n| !name.is_empty() && n.id.starts_with(name))
            .collect();
        match m.as_slice() {
            [n] => Ok((*n).clone()),
            [] => Err(Error::not_found(format!("network {name} not found"))),
            _ => Err(Error::invalid(format!(
                "network {name} is ambiguous ({} matches found based on ID prefix)",
                m.len()
            ))),
        }
    }
}

impl Networks {
    /// After restore: whatever a crash left behind (a pinned namespace, a veth on one of our
    /// bridges, published ports) of a container that is not running goes.
    pub(crate) async fn reconcile_networks(&self) {
        let r = self
            .blocking(|e| {
                let store = &e.ctx.store;
                let live: HashMap<String, bool> = store
                    .containers()?
                    .into_iter()
                    .map(|c| {
                        let running = c.state.status.is_running();
                        (c.id, running)
                    })
                    .collect();
                let running = |id: &str| live.get(id).copied().unwrap_or(false);
                let mut cleaned = 0;
                let dir = e.ctx.config.exec_root.join("netns");
                if let Ok(rd) = std::fs::read_dir(&dir) {
                    for f in rd.flatten() {
                        let id = f.file_name().to_string_lossy().into_owned();
                        if !running(&id) {
                            match store.container(&id)? {
                                Some(c) => {
                                    let _ = e.teardown_container_network(&c);
                                }
                                None => {
                                    let _ = pouch_network::remove_netns(&f.path());
                                }
                            }
                            cleaned += 1;
                        }
                    }
                }
                for n in store.networks()? {
                    for port in pouch_network::bridge::bridge_ports(&n.bridge) {
                        let Some(prefix) = port.strip_prefix("vp").filter(|p| p.len() >= 10) else {
                            continue;
                        };
                        let owner = live
                            .iter()
                            .find(|(id, _)| id.starts_with(&prefix[..10]))
                            .map(|(id, r)| (id.clone(), *r));
                        if owner.is_none_or(|(_, r)| !r) {
                            let _ = pouch_network::bridge::delete_link(&port);
                            cleaned += 1;
                        }
                    }
                }
                let mut ports_changed = false;
                for (cid, _) in store.all_container_ports()? {
                    if !running(&cid) {
                        store.set_container_ports(&cid, None)?;
                        ports_changed = true;
                    } else {
                        e.hold_ports_again(&cid)?;
                    }
                }
                for ep in store.endpoints()? {
                    if !live.contains_key(&ep.container_id) {
                        store.delete_endpoint(&ep.network_id, &ep.container_id)?;
                        cleaned += 1;
                    }
                }
                if ports_changed {
                    e.rebuild_firewall()?;
                }
                if cleaned > 0 {
                    tracing::info!(
                        cleaned,
                        "removed network leftovers of containers that are gone"
                    );
                }
                for n in store.networks()? {
                    e.refresh_dns(&n.id)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "reconciling networks");
        }
    }
}
