//! `/networks`: create, list, inspect, remove, prune, connect and disconnect.

use std::collections::BTreeMap;

use pouch_api::Filters;
use pouch_api::types::{
    EndpointConfig, Ipam, IpamConfig, Network, NetworkContainer, NetworkCreateRequest,
    NetworkCreateResponse, NetworkPruneResponse,
};
use pouch_network::{Cidr, Mode};

use super::DEFAULT_NETWORK;
use super::container::veth_name;
use crate::context::Blocking;
use crate::error::{Error, Result};
use crate::store::NetworkRecord;
use crate::{Networks, now_nanos};

const PREDEFINED: &[&str] = &[DEFAULT_NETWORK, "host", "none"];

impl Networks {
    pub async fn create_network(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        let rec = self
            .blocking(move |e| e.create_network_blocking(req))
            .await?;
        if rec.dns {
            self.start_dns(&rec).await;
        }
        self.emit_network(&rec, "create", None);
        Ok(NetworkCreateResponse {
            id: rec.id,
            warning: String::new(),
        })
    }

    fn create_network_blocking(&self, req: NetworkCreateRequest) -> Result<NetworkRecord> {
        if req.name.is_empty() {
            return Err(Error::invalid("network name is required"));
        }
        if PREDEFINED.contains(&req.name.as_str()) {
            return Err(Error::conflict(format!(
                "{} is a pre-defined network and cannot be created",
                req.name
            )));
        }
        let driver = match req.driver.as_str() {
            "" | "bridge" => "bridge",
            "macvlan" => {
                if req.options.get("parent").is_none_or(|p| p.is_empty()) {
                    return Err(Error::invalid(
                        "a macvlan network needs its parent interface: -o parent=<interface>",
                    ));
                }
                pouch_network::macvlan::mode_number(
                    req.options
                        .get("macvlan_mode")
                        .map(String::as_str)
                        .unwrap_or(""),
                )?;
                "macvlan"
            }
            d => {
                return Err(Error::not_implemented(format!(
                    "network driver {d:?} is not supported; use bridge or macvlan"
                )));
            }
        };
        if self
            .ctx
            .store
            .networks()?
            .iter()
            .any(|n| n.name == req.name)
        {
            return Err(Error::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let ipam = req.ipam.clone().unwrap_or_default();
        if !matches!(ipam.driver.as_str(), "" | "default") {
            return Err(Error::not_implemented(format!(
                "IPAM driver {:?} is not supported",
                ipam.driver
            )));
        }
        let cfg = ipam
            .config
            .iter()
            .find(|c| !c.subnet.contains(':'))
            .cloned()
            .unwrap_or_default();
        let id = crate::containers::random_hex(32)?;
        let bridge = if driver == "bridge" {
            req.options
                .get("com.docker.network.bridge.name")
                .cloned()
                .unwrap_or_else(|| format!("pbr-{}", &id[..11]))
        } else {
            String::new()
        };
        if bridge.len() > 15 {
            return Err(Error::invalid(format!(
                "bridge name {bridge} is longer than 15 characters"
            )));
        }
        let mtu = req
            .options
            .get("com.docker.network.driver.mtu")
            .map(|m| {
                m.parse::<u32>()
                    .map_err(|_| Error::invalid(format!("invalid MTU {m}")))
            })
            .transpose()?;
        let _host = pouch_network::host_lock()?;
        let subnet: Cidr = if cfg.subnet.is_empty() {
            if !cfg.ip_range.is_empty() || !cfg.gateway.is_empty() {
                return Err(Error::invalid(
                    "an IP range or gateway needs a subnet (--subnet)",
                ));
            }
            self.choose_subnet()?
        } else {
            let s: Cidr = cfg.subnet.parse()?;
            if s.prefix > 30 {
                return Err(Error::invalid(format!("subnet {s} is too small")));
            }
            for n in self.ctx.store.networks()? {
                if n.subnet.parse::<Cidr>().is_ok_and(|o| o.overlaps(&s)) {
                    return Err(Error::conflict(format!(
                        "Pool overlaps with other one on this address space: {s} (network {})",
                        n.name
                    )));
                }
            }
            s.network()
        };
        let gateway = if cfg.gateway.is_empty() {
            subnet.first_host()
        } else {
            let g = cfg
                .gateway
                .parse()
                .map_err(|_| Error::invalid(format!("invalid gateway {}", cfg.gateway)))?;
            if !subnet.contains(g) {
                return Err(Error::invalid(format!(
                    "gateway {g} is not in the subnet {subnet}"
                )));
            }
            g
        };
        let ip_range = if cfg.ip_range.is_empty() {
            String::new()
        } else {
            let r: Cidr = cfg.ip_range.parse()?;
            if !subnet.contains(r.addr) || r.prefix < subnet.prefix {
                return Err(Error::invalid(format!(
                    "IP range {r} is not inside the subnet {subnet}"
                )));
            }
            r.network().to_string()
        };
        let (subnet6, gateway6) = if req.enable_ipv6 == Some(true) {
            if driver != "bridge" {
                return Err(Error::not_implemented(
                    "IPv6 is supported on bridge networks only",
                ));
            }
            self.choose_subnet6(&ipam)?
        } else {
            (String::new(), String::new())
        };
        let rec = NetworkRecord {
            id,
            subnet6,
            gateway6,
            name: req.name.clone(),
            driver: driver.into(),
            created: now_nanos(),
            bridge,
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            ip_range,
            internal: req.internal,
            attachable: req.attachable,
            // The embedded DNS listens on the gateway, which only a bridge puts on the host.
            dns: driver == "bridge",
            mtu,
            labels: req.labels.clone(),
            options: req.options.clone(),
        };
        let drv = self.driver_for(&rec)?;
        drv.create(&super::spec_of(&rec)?)?;
        if let Err(e) = self.ctx.store.insert_network(&rec) {
            let _ = drv.delete(&super::spec_of(&rec)?);
            return Err(e);
        }
        drop(_host);
        if let Err(e) = self.rebuild_firewall() {
            tracing::warn!(network = %rec.name, error = %e, "firewall update failed");
        }
        Ok(rec)
    }

    /// The IPv6 subnet and gateway of a dual-stack network: from its IPAM config (a subnet with
    /// `:`), which must not overlap another network's.
    fn choose_subnet6(&self, ipam: &Ipam) -> Result<(String, String)> {
        use pouch_network::ipam::Cidr6;
        let cfg = ipam
            .config
            .iter()
            .find(|c| c.subnet.contains(':'))
            .ok_or_else(|| {
                Error::invalid(
                    "an IPv6 network needs an IPv6 subnet: --ipv6 --subnet fd00:…/64 \
                     (pouch has no IPv6 address pool)",
                )
            })?;
        let sub: Cidr6 = cfg.subnet.parse()?;
        for n in self.ctx.store.networks()? {
            if n.subnet6.parse::<Cidr6>().is_ok_and(|o| o.overlaps(&sub)) {
                return Err(Error::conflict(format!(
                    "Pool overlaps with other one on this address space: {sub} (network {})",
                    n.name
                )));
            }
        }
        let gw = if cfg.gateway.is_empty() {
            sub.first_host()
        } else {
            let g: std::net::Ipv6Addr = cfg
                .gateway
                .parse()
                .map_err(|_| Error::invalid(format!("invalid gateway {}", cfg.gateway)))?;
            if !sub.contains(g) {
                return Err(Error::invalid(format!(
                    "gateway {g} is not in the subnet {sub}"
                )));
            }
            g
        };
        Ok((sub.network().to_string(), gw.to_string()))
    }

    fn emit_network(&self, n: &NetworkRecord, action: &str, container: Option<&str>) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), n.name.clone());
        attrs.insert("type".to_string(), n.driver.clone());
        if let Some(c) = container {
            attrs.insert("container".to_string(), c.to_string());
        }
        self.ctx.emit("network", action, &n.id, attrs);
    }

    /// `host` and `none` are not stored; they have stable ids derived from the engine's.
    fn predefined(&self, name: &str) -> Network {
        use sha2::Digest;
        let id = hex::encode(sha2::Sha256::digest(format!("{}/{name}", self.ctx.id)));
        Network {
            name: name.into(),
            id,
            created: crate::images::rfc3339_nanos(0),
            scope: "local".into(),
            driver: if name == "host" { "host" } else { "null" }.into(),
            enable_ipv4: name == "host",
            ipam: Ipam {
                driver: "default".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn network_view(&self, n: &NetworkRecord, with_containers: bool) -> Network {
        let mut containers = BTreeMap::new();
        if with_containers {
            let prefix = n.subnet.parse::<Cidr>().map(|s| s.prefix).unwrap_or(0);
            for ep in self
                .ctx
                .store
                .endpoints_of_network(&n.id)
                .unwrap_or_default()
            {
                if !self.ctx.netns_path(&ep.container_id).exists() {
                    continue;
                }
                let Ok(Some(c)) = self.ctx.store.container(&ep.container_id) else {
                    continue;
                };
                containers.insert(
                    c.id.clone(),
                    NetworkContainer {
                        name: c.name.clone(),
                        endpoint_id: format!("{}{}", &c.id[..32], &n.id[..32]),
                        mac_address: ep.mac.clone(),
                        ipv4_address: format!("{}/{prefix}", ep.ip),
                        ipv6_address: if ep.ip6.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "{}/{}",
                                ep.ip6,
                                n.subnet6.rsplit('/').next().unwrap_or("64")
                            )
                        },
                    },
                );
            }
        }
        // Only the options the user gave (docker's rule): docker-compose compares them with its
        // file and would recreate a network whose generated bridge name showed up here.
        let options = n.options.clone();
        Network {
            name: n.name.clone(),
            id: n.id.clone(),
            created: crate::images::rfc3339_nanos(n.created),
            scope: "local".into(),
            driver: n.driver.clone(),
            enable_ipv4: true,
            enable_ipv6: !n.subnet6.is_empty(),
            config_from: Default::default(),
            ipam: Ipam {
                driver: "default".into(),
                config: std::iter::once(IpamConfig {
                    subnet: n.subnet.clone(),
                    ip_range: n.ip_range.clone(),
                    gateway: n.gateway.clone(),
                    ..Default::default()
                })
                .chain((!n.subnet6.is_empty()).then(|| IpamConfig {
                    subnet: n.subnet6.clone(),
                    gateway: n.gateway6.clone(),
                    ..Default::default()
                }))
                .collect(),
                options: Default::default(),
            },
            internal: n.internal,
            attachable: n.attachable,
            ingress: false,
            config_only: false,
            containers,
            options,
            labels: n.labels.clone(),
        }
    }

    pub async fn list_networks(&self, filters: Filters) -> Result<Vec<Network>> {
        filters
            .validate(&["name", "id", "driver", "label", "type", "scope", "dangling"])
            .map_err(Error::invalid)?;
        self.blocking(move |e| {
            if let Err(err) = e.sync_cni_networks() {
                tracing::warn!(error = %err, "reading CNI conflists");
            }
            let mut out: Vec<Network> = Vec::new();
            for n in e.ctx.store.networks()? {
                out.push(e.network_view(&n, false));
            }
            out.push(e.predefined("host"));
            out.push(e.predefined("none"));
            let dangling = filters.bool("dangling").map_err(Error::invalid)?;
            let in_use: Vec<String> = e
                .ctx
                .store
                .endpoints()?
                .into_iter()
                .map(|ep| ep.network_id)
                .collect();
            out.retain(|n| {
                let names = filters.get("name");
                let ids = filters.get("id");
                let drivers = filters.get("driver");
                let types = filters.get("type");
                let builtin = PREDEFINED.contains(&n.name.as_str());
                (names.is_empty() || names.iter().any(|f| n.name.contains(f.as_str())))
                    && (ids.is_empty() || ids.iter().any(|f| n.id.starts_with(f.as_str())))
                    && (drivers.is_empty() || drivers.contains(&n.driver))
                    && (types.is_empty()
                        || types
                            .iter()
                            .any(|t| (t == "builtin") == builtin && (t == "custom") != builtin))
                    && filters.match_labels("label", &n.labels)
                    && dangling.is_none_or(|d| d == (!builtin && !in_use.contains(&n.id)))
            });
            Ok(out)
        })
        .await
    }

    pub async fn inspect_network(&self, name: &str) -> Result<Network> {
        let name = name.to_string();
        self.blocking(move |e| {
            if name == "host" || name == "none" {
                return Ok(e.predefined(&name));
            }
            match e.resolve_network(&name) {
                Ok(n) => Ok(e.network_view(&n, true)),
                Err(err) => {
                    for p in ["host", "none"] {
                        let v = e.predefined(p);
                        if !name.is_empty() && v.id.starts_with(&name) {
                            return Ok(v);
                        }
                    }
                    Err(err)
                }
            }
        })
        .await
    }

    pub async fn remove_network(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        let rec = self
            .blocking(move |e| {
                if PREDEFINED.contains(&name.as_str()) {
                    return Err(Error::conflict(format!(
                        "{name} is a pre-defined network and cannot be removed"
                    )));
                }
                let n = e.resolve_network(&name)?;
                if n.driver == super::cni::CNI_DRIVER {
                    return Err(Error::conflict(format!(
                        "{} is defined by a CNI conflist: remove the file instead",
                        n.name
                    )));
                }
                if n.name == DEFAULT_NETWORK {
                    return Err(Error::conflict(format!(
                        "{} is a pre-defined network and cannot be removed",
                        n.name
                    )));
                }
                let eps = e.ctx.store.endpoints_of_network(&n.id)?;
                if !eps.is_empty() {
                    let names: Vec<String> = eps
                        .iter()
                        .filter_map(|ep| e.ctx.store.container(&ep.container_id).ok().flatten())
                        .map(|c| c.name)
                        .collect();
                    return Err(Error::conflict(format!(
                        "error while removing network: network {} id {} has active endpoints \
                             ({})",
                        n.name,
                        n.id,
                        names.join(", ")
                    )));
                }
                e.ctx.store.delete_network(&n.id)?;
                let mut errs = Vec::new();
                if let Err(err) = e
                    .driver_for(&n)
                    .and_then(|d| Ok(d.delete(&super::spec_of(&n)?)?))
                {
                    errs.push(err.to_string());
                }
                if let Err(err) = e.rebuild_firewall() {
                    errs.push(err.to_string());
                }
                if !errs.is_empty() {
                    tracing::warn!(network = %n.name, errors = ?errs, "network removal");
                }
                Ok(n)
            })
            .await?;
        self.net()
            .dns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&rec.id);
        self.emit_network(&rec, "destroy", None);
        Ok(())
    }

    pub async fn prune_networks(&self, filters: Filters) -> Result<NetworkPruneResponse> {
        filters
            .validate(&["label", "until"])
            .map_err(Error::invalid)?;
        let mut out = NetworkPruneResponse::default();
        for n in self.ctx.store.networks()? {
            if n.name == DEFAULT_NETWORK
                || n.driver == super::cni::CNI_DRIVER
                || !filters.match_labels("label", &n.labels)
                || !self.ctx.store.endpoints_of_network(&n.id)?.is_empty()
            {
                continue;
            }
            if self.remove_network(&n.id).await.is_ok() {
                out.networks_deleted.push(n.name);
            }
        }
        Ok(out)
    }

    /// Connects a container to a network; a running one gets its interface at once.
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        epc: Option<EndpointConfig>,
    ) -> Result<()> {
        let c = self.ctx.resolve_container(container)?;
        let _op = self.locks.lock(&c.id).await;
        let network = network.to_string();
        let n = self
            .blocking(move |e| {
                let n = e.resolve_network(&network)?;
                let c = e
                    .ctx
                    .store
                    .container(&c.id)?
                    .ok_or_else(|| Error::not_found("No such container"))?;
                if !matches!(Mode::parse(&c.host_config.network_mode), Mode::Network(_)) {
                    return Err(Error::conflict(format!(
                        "container cannot be disconnected from host network or connected to \
                         another network in network mode {}",
                        c.host_config.network_mode
                    )));
                }
                let eps = e.ctx.store.endpoints_of_container(&c.id)?;
                if eps.iter().any(|ep| ep.network_id == n.id) {
                    return Err(Error::conflict(format!(
                        "endpoint with name {} already exists in network {}",
                        c.name, n.name
                    )));
                }
                let index = eps.iter().map(|ep| ep.index + 1).max().unwrap_or(0);
                let ep = e.allocate_endpoint(&c.id, &n, index, &epc.unwrap_or_default(), "")?;
                let path = e.ctx.netns_path(&c.id);
                if path.exists() {
                    if let Err(err) = e.connect_endpoint(&c, &ep, &path) {
                        let _ = e.ctx.store.delete_endpoint(&n.id, &c.id);
                        return Err(err);
                    }
                    e.refresh_dns(&n.id)?;
                }
                Ok((n, c.id))
            })
            .await?;
        self.emit_network(&n.0, "connect", Some(&n.1));
        Ok(())
    }

    pub async fn disconnect_network(&self, network: &str, container: &str) -> Result<()> {
        let c = self.ctx.resolve_container(container)?;
        let _op = self.locks.lock(&c.id).await;
        let network = network.to_string();
        let cid = c.id.clone();
        let n = self
            .blocking(move |e| {
                let n = e.resolve_network(&network)?;
                let ep = e
                    .ctx
                    .store
                    .endpoints_of_container(&c.id)?
                    .into_iter()
                    .find(|ep| ep.network_id == n.id)
                    .ok_or_else(|| {
                        Error::not_found(format!(
                            "container {} is not connected to network {}",
                            c.name, n.name
                        ))
                    })?;
                if ep.cni_result.is_some() {
                    e.cni_detach(&c, &ep)?;
                }
                let netns = e.ctx.netns_path(&c.id);
                if n.driver == "macvlan" && netns.exists() {
                    pouch_network::macvlan::delete_inside(&netns, &format!("eth{}", ep.index))?;
                }
                pouch_network::bridge::delete_link(&veth_name(&c.id, ep.index))?;
                e.ctx.store.delete_endpoint(&n.id, &c.id)?;
                e.refresh_dns(&n.id)?;
                Ok(n)
            })
            .await?;
        self.emit_network(&n, "disconnect", Some(&cid));
        Ok(())
    }
}
