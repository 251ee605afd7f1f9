//! A container's side of networking: its endpoints (leases taken at create, kept until removal),
//! the pinned namespace and veths made at start and torn down at exit, published ports, the
//! hosts and resolv.conf files, and what inspect and `ps` report.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use pouch_api::types::{
    ContainerConfig, EndpointConfig, EndpointIpamConfig, EndpointSettings, HostConfig,
    NetworkSettings, NetworkingConfig, Port, SummaryNetworkSettings,
};
use pouch_network::ports::{self, PortBinding};
use pouch_network::{Attachment, Cidr, Mode, ipam};
use serde_json::Value;

use super::{DEFAULT_NETWORK, spec_of};
use crate::Networks;
use crate::error::{Error, Result};
use crate::store::{ContainerRecord, EndpointRecord, NetworkRecord};

/// Host end of a container's veth for endpoint `index`: deterministic, so teardown needs no
/// state beyond the store.
pub(crate) fn veth_name(container_id: &str, index: u32) -> String {
    format!("vp{}{index:x}", &container_id[..10])
}

/// The id of a container's endpoint on a network, as inspect reports it and dockerd's errors
/// name it.
fn endpoint_id(container_id: &str, network_id: &str) -> String {
    let half = |id: &str| id.get(..32).unwrap_or(id).to_string();
    half(container_id) + &half(network_id)
}

impl crate::context::Context {
    /// Where a container's network namespace is pinned while it runs.
    pub(crate) fn netns_path(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("netns").join(id)
    }
}

impl Networks {
    /// create: checks the network mode and writes it as docker does (`bridge` for the default).
    pub(crate) fn check_network_mode(&self, hc: &mut HostConfig) -> Result<()> {
        match Mode::parse(&hc.network_mode) {
            Mode::None | Mode::Host => Ok(()),
            Mode::Container(other) => self.ctx.resolve_container(&other).map(|_| ()),
            Mode::Network(name) => {
                if hc.network_mode.is_empty() || hc.network_mode == "default" {
                    hc.network_mode = DEFAULT_NETWORK.into();
                }
                if name == DEFAULT_NETWORK && self.net_cfg().bridge == "none" {
                    return Err(Error::invalid(
                        "the default bridge is disabled (bridge: none in the daemon config): \
                         use --network none, host or a user-defined network",
                    ));
                }
                self.resolve_network(&name).map(|_| ())
            }
        }
    }

    /// create: takes the container's leases: its primary network and any other network of
    /// `NetworkingConfig.EndpointsConfig`.
    pub(crate) fn allocate_endpoints(
        &self,
        id: &str,
        config: &ContainerConfig,
        hc: &HostConfig,
        networking: Option<&Value>,
    ) -> Result<()> {
        let Mode::Network(primary) = Mode::parse(&hc.network_mode) else {
            return Ok(());
        };
        let nc: NetworkingConfig = networking
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Error::invalid(format!("invalid NetworkingConfig: {e}")))?
            .unwrap_or_default();
        // docker's CLI names the primary endpoint `default` when no network was given.
        let mut nc = nc;
        if let Some(d) = nc.endpoints_config.remove("default") {
            nc.endpoints_config.entry(primary.clone()).or_insert(d);
        }
        let mut names = vec![primary.clone()];
        names.extend(
            nc.endpoints_config
                .keys()
                .filter(|k| **k != primary)
                .cloned(),
        );
        let mut done = HashSet::new();
        let res = (|| {
            for (i, name) in names.iter().enumerate() {
                let n = self.resolve_network(name)?;
                if !done.insert(n.id.clone()) {
                    continue;
                }
                let epc = nc
                    .endpoints_config
                    .get(name)
                    .or_else(|| nc.endpoints_config.get(&n.id))
                    .cloned()
                    .unwrap_or_default();
                let legacy_mac = if i == 0 {
                    config.mac_address.clone().unwrap_or_default()
                } else {
                    String::new()
                };
                self.allocate_endpoint(id, &n, i as u32, &epc, &legacy_mac)?;
            }
            Ok(())
        })();
        if res.is_err() {
            let _ = self.ctx.store.delete_endpoints_of_container(id);
        }
        res
    }

    /// One lease, chosen and recorded under the network lock (and unique in the store).
    pub(crate) fn allocate_endpoint(
        &self,
        cid: &str,
        n: &NetworkRecord,
        index: u32,
        epc: &EndpointConfig,
        legacy_mac: &str,
    ) -> Result<EndpointRecord> {
        let _g = self.net().lock.lock().unwrap_or_else(|p| p.into_inner());
        if n.driver == super::cni::CNI_DRIVER {
            let asked = epc
                .ipam_config
                .as_ref()
                .is_some_and(|c| !c.ipv4_address.is_empty());
            if asked || !epc.mac_address.is_empty() || !legacy_mac.is_empty() {
                return Err(Error::invalid(format!(
                    "network {} is a CNI network: its plugins choose addresses",
                    n.name
                )));
            }
            let ep = EndpointRecord {
                network_id: n.id.clone(),
                container_id: cid.to_string(),
                ip: super::cni::placeholder(cid),
                aliases: epc.aliases.clone(),
                index,
                ..Default::default()
            };
            self.ctx.store.insert_endpoint(&ep)?;
            return Ok(ep);
        }
        let subnet: Cidr = n.subnet.parse()?;
        let range: Option<Cidr> = (!n.ip_range.is_empty())
            .then(|| n.ip_range.parse())
            .transpose()?;
        let asked = epc
            .ipam_config
            .as_ref()
            .map(|c| c.ipv4_address.clone())
            .unwrap_or_default();
        let taken = self.ctx.store.endpoints_of_network(&n.id)?;
        let (ip, static_ip) = if asked.is_empty() {
            let mut used: HashSet<Ipv4Addr> =
                taken.iter().filter_map(|e| e.ip.parse().ok()).collect();
            if let Ok(gw) = n.gateway.parse() {
                used.insert(gw);
            }
            let ip = ipam::next_free(subnet, range, &used).ok_or_else(|| {
                Error::conflict(format!("no available IPv4 addresses on network {}", n.name))
            })?;
            (ip, false)
        } else {
            if n.name == DEFAULT_NETWORK {
                return Err(Error::invalid(
                    "user specified IP address is supported on user defined networks only",
                ));
            }
            let ip: Ipv4Addr = asked
                .parse()
                .map_err(|_| Error::invalid(format!("invalid IPv4 address: {asked}")))?;
            if !subnet.contains(ip) || ip == n.gateway.parse().unwrap_or(Ipv4Addr::UNSPECIFIED) {
                return Err(Error::invalid(format!(
                    "invalid address {ip}: it does not belong to any of the network's subnets \
                     or is its gateway"
                )));
            }
            (ip, true)
        };
        let mac_s = if !epc.mac_address.is_empty() {
            epc.mac_address.clone()
        } else {
            legacy_mac.to_string()
        };
        let mac = if mac_s.is_empty() {
            ipam::mac_for(ip)
        } else {
            ipam::parse_mac(&mac_s)?
        };
        let ip6 = if n.subnet6.is_empty() {
            String::new()
        } else {
            let sub: pouch_network::ipam::Cidr6 = n.subnet6.parse()?;
            let asked6 = epc
                .ipam_config
                .as_ref()
                .map(|c| c.ipv6_address.clone())
                .unwrap_or_default();
            if asked6.is_empty() {
                let mut used: HashSet<std::net::Ipv6Addr> =
                    taken.iter().filter_map(|e| e.ip6.parse().ok()).collect();
                if let Ok(gw) = n.gateway6.parse() {
                    used.insert(gw);
                }
                pouch_network::ipam::next_free6(sub, &used)
                    .ok_or_else(|| {
                        Error::conflict(format!(
                            "no available IPv6 addresses on network {}",
                            n.name
                        ))
                    })?
                    .to_string()
            } else {
                let ip6: std::net::Ipv6Addr = asked6
                    .parse()
                    .map_err(|_| Error::invalid(format!("invalid IPv6 address: {asked6}")))?;
                if !sub.contains(ip6) || taken.iter().any(|e| e.ip6 == ip6.to_string()) {
                    return Err(Error::invalid(format!(
                        "invalid address {ip6}: not in {sub} or already in use"
                    )));
                }
                ip6.to_string()
            }
        };
        let mut aliases = epc.aliases.clone();
        if !aliases.is_empty() && n.name == DEFAULT_NETWORK {
            return Err(Error::invalid(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
        aliases.dedup();
        let ep = EndpointRecord {
            network_id: n.id.clone(),
            container_id: cid.to_string(),
            ip: ip.to_string(),
            ip6,
            mac: ipam::format_mac(&mac),
            aliases,
            index,
            static_ip,
            cni_result: None,
        };
        self.ctx.store.insert_endpoint(&ep)?;
        Ok(ep)
    }

    /// start: pins the namespace, connects every endpoint, publishes ports and registers names.
    /// Returns the namespace for the spec, or `None` for modes without one of ours.
    pub(crate) fn setup_container_network(&self, c: &ContainerRecord) -> Result<Option<PathBuf>> {
        match Mode::parse(&c.host_config.network_mode) {
            Mode::Network(_) => {}
            Mode::None => {
                // Only loopback, but up (the runtime leaves a fresh namespace's `lo` down).
                let path = self.ctx.netns_path(&c.id);
                std::fs::create_dir_all(path.parent().unwrap_or(&path))?;
                pouch_network::create_netns(&path)?;
                return Ok(Some(path));
            }
            _ => return Ok(None),
        }
        let res = self.setup_inner(c);
        if let Err(e) = &res {
            tracing::warn!(container = %c.id, error = %e, "network setup failed; tearing down");
            let _ = self.teardown_container_network(c);
        }
        res.map(Some)
    }

    fn setup_inner(&self, c: &ContainerRecord) -> Result<PathBuf> {
        let t0 = std::time::Instant::now();
        let eps = self.ctx.store.endpoints_of_container(&c.id)?;
        // Host ports first: a start that cannot have them fails before anything is made.
        let published = self.hold_ports(c, &eps)?;
        let path = self.ctx.netns_path(&c.id);
        std::fs::create_dir_all(path.parent().unwrap_or(&path))?;
        pouch_network::create_netns(&path)?;
        let t_ns = t0.elapsed();
        for ep in &eps {
            self.connect_endpoint(c, ep, &path)?;
        }
        tracing::debug!(container = %c.id, netns = ?t_ns, endpoints = ?t0.elapsed(), "network set up");
        if eps.iter().any(|ep| ep.ip.starts_with("cni:")) {
            // The plugins chose the addresses: /etc/hosts names them now.
            let hostname = if c.host_config.uts_mode == "host" {
                pouch_sys::host::hostname()
            } else {
                c.config.hostname.clone()
            };
            let hosts = self.hosts_file(c, &hostname)?;
            std::fs::write(self.ctx.container_dir(&c.id).join("hosts"), hosts)?;
        }
        if published {
            // The endpoints have their addresses: the firewall sends the ports to them.
            self.rebuild_firewall()?;
        }
        for ep in &eps {
            self.refresh_dns(&ep.network_id)?;
        }
        Ok(path)
    }

    /// start: chooses the container's host ports, holds them (so that no host process has or
    /// gets them while the container runs) and records them. A port something else holds fails
    /// the start with dockerd's message. Returns whether the container publishes any port.
    fn hold_ports(&self, c: &ContainerRecord, eps: &[EndpointRecord]) -> Result<bool> {
        let reqs = ports::requests(
            c.host_config.port_bindings.as_ref(),
            c.config.exposed_ports.as_ref(),
            c.host_config.publish_all_ports,
        )?;
        if reqs.is_empty() {
            return Ok(false);
        }
        let _g = self.net().lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken = Vec::new();
        for (cid, p) in self.ctx.store.all_container_ports()? {
            if cid != c.id {
                taken.extend(serde_json::from_str::<Vec<PortBinding>>(&p).unwrap_or_default());
            }
        }
        let (bound, held) = ports::allocate(&reqs, &taken).map_err(|e| {
            let net = eps.first().map(|ep| ep.network_id.as_str()).unwrap_or("");
            Error::internal(format!(
                "driver failed programming external connectivity on endpoint {} ({}): {e}",
                c.name.trim_start_matches('/'),
                endpoint_id(&c.id, net)
            ))
        })?;
        self.ctx
            .store
            .set_container_ports(&c.id, Some(&serde_json::to_string(&bound)?))?;
        self.net()
            .reservations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(c.id.clone(), held);
        Ok(true)
    }

    /// pouchd started again while `c` runs: hold its published ports again. A port something
    /// took while pouchd was down stays published (the firewall still sends it to the
    /// container) and is reported. The record is read under the reservations' lock, which
    /// teardown takes only after clearing it, so a container exiting meanwhile keeps nothing.
    pub(crate) fn hold_ports_again(&self, id: &str) -> Result<()> {
        let mut held = self
            .net()
            .reservations
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if held.contains_key(id) {
            return Ok(());
        }
        let Some(p) = self.ctx.store.container_ports(id)? else {
            return Ok(());
        };
        let bound: Vec<PortBinding> = serde_json::from_str(&p).unwrap_or_default();
        let (r, failed) = ports::reserve(&bound);
        for (b, err) in failed {
            tracing::warn!(
                container = %id,
                host_port = b.host_port,
                proto = %b.proto,
                error = %err,
                "a published port was taken while pouchd was down: connections to it still go \
                 to the container; stop what holds it, or restart the container"
            );
        }
        held.insert(id.to_string(), r);
        Ok(())
    }

    /// Connects one endpoint inside the pinned namespace `path`.
    pub(crate) fn connect_endpoint(
        &self,
        _c: &ContainerRecord,
        ep: &EndpointRecord,
        path: &std::path::Path,
    ) -> Result<()> {
        let n = self
            .ctx
            .store
            .networks()?
            .into_iter()
            .find(|n| n.id == ep.network_id)
            .ok_or_else(|| Error::not_found(format!("network {} not found", ep.network_id)))?;
        if n.driver == super::cni::CNI_DRIVER {
            return self.cni_attach(&n, ep, path);
        }
        let spec = spec_of(&n)?;
        let driver = self.driver_for(&n)?;
        driver.create(&spec)?;
        let a = Attachment {
            netns: path.to_path_buf(),
            bridge: n.bridge.clone(),
            host_if: veth_name(&ep.container_id, ep.index),
            container_if: format!("eth{}", ep.index),
            ip: ep
                .ip
                .parse()
                .map_err(|_| Error::internal(format!("stored address {} is invalid", ep.ip)))?,
            subnet: spec.subnet,
            gateway: if n.internal { None } else { spec.gateway },
            mac: ipam::parse_mac(&ep.mac)?,
            mtu: n.mtu,
            default_route: ep.index == 0,
            ip6: match (ep.ip6.parse(), spec.gateway6) {
                (Ok(ip6), Some(gw6)) => Some((ip6, gw6.prefix)),
                _ => None,
            },
            gateway6: if n.internal {
                None
            } else {
                spec.gateway6.map(|g| g.addr)
            },
        };
        driver.attach(&spec, &a)?;
        Ok(())
    }

    /// exit, failed start, removal, reconciliation: veths, the pinned namespace, published
    /// ports and names go. Idempotent; every step is tried and the errors are reported together.
    pub(crate) fn teardown_container_network(&self, c: &ContainerRecord) -> Result<()> {
        let path = self.ctx.netns_path(&c.id);
        let had_ports = self.ctx.store.container_ports(&c.id)?.is_some();
        let eps = self.ctx.store.endpoints_of_container(&c.id)?;
        let held = self
            .net()
            .reservations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&c.id);
        if !path.exists() && !had_ports && !held && !eps.iter().any(|e| e.cni_result.is_some()) {
            return Ok(());
        }
        let t0 = std::time::Instant::now();
        let mut errs = Vec::new();
        for ep in eps.iter().filter(|ep| ep.cni_result.is_some()) {
            if let Err(e) = self.cni_detach(c, ep) {
                errs.push(e.to_string());
            }
        }
        // Unpinning the namespace is enough: once the container's processes are gone the kernel
        // destroys it and with it both ends of every veth, in the background. (Deleting a veth
        // here instead costs an RCU grace period, 15–30 ms, per exit.) Reconciliation at start
        // removes any veth whose container is not running.
        if let Err(e) = pouch_network::remove_netns(&path) {
            errs.push(e.to_string());
        }
        tracing::debug!(container = %c.id, took = ?t0.elapsed(), "network torn down");
        if had_ports {
            let r = self
                .ctx
                .store
                .set_container_ports(&c.id, None)
                .and_then(|()| self.rebuild_firewall());
            if let Err(e) = r {
                errs.push(e.to_string());
            }
        }
        // Only now that the firewall no longer sends them to the container do the host ports
        // go back to the host (and after the record: see `hold_ports_again`).
        drop(
            self.net()
                .reservations
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&c.id),
        );
        for ep in &eps {
            if let Err(e) = self.refresh_dns(&ep.network_id) {
                errs.push(e.to_string());
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::internal(format!(
                "network teardown of {}: {}",
                c.id,
                errs.join("; ")
            )))
        }
    }

    /// removal: teardown, then the leases.
    pub(crate) fn release_container_network(&self, c: &ContainerRecord) -> Result<()> {
        let r = self.teardown_container_network(c);
        self.ctx.store.delete_endpoints_of_container(&c.id)?;
        r
    }

    /// `/etc/hosts` for a container: localhost, its addresses with its hostname, `--add-host`.
    pub(crate) fn hosts_file(&self, c: &ContainerRecord, hostname: &str) -> Result<String> {
        let mut s = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n",
        );
        let eps = self.ctx.store.endpoints_of_container(&c.id)?;
        for h in &c.host_config.extra_hosts {
            let (name, ip) = h
                .split_once(':')
                .or_else(|| h.split_once('='))
                .ok_or_else(|| Error::invalid(format!("invalid extra host {h:?}: use name:ip")))?;
            let ip = if ip == "host-gateway" {
                self.primary_gateway(&eps)?
                    .ok_or_else(|| Error::invalid("host-gateway needs a bridge network"))?
                    .to_string()
            } else {
                ip.to_string()
            };
            s.push_str(&format!("{ip}\t{name}\n"));
        }
        // As docker: with a domain name, the fully qualified name comes first, so that
        // `hostname -f` answers `h1.d.lan`.
        let mut names = Vec::new();
        if !c.config.domainname.is_empty() {
            names.push(format!("{hostname}.{}", c.config.domainname));
        }
        names.push(hostname.to_string());
        match eps.first().filter(|ep| !ep.ip.starts_with("cni:")) {
            Some(ep) => {
                names.extend(ep.aliases.iter().cloned());
                s.push_str(&format!("{}\t{}\n", ep.ip, names.join(" ")));
                if !ep.ip6.is_empty() {
                    s.push_str(&format!("{}\t{}\n", ep.ip6, names.join(" ")));
                }
            }
            None => s.push_str(&format!("127.0.1.1\t{}\n", names.join(" "))),
        }
        Ok(s)
    }

    fn primary_gateway(&self, eps: &[EndpointRecord]) -> Result<Option<Ipv4Addr>> {
        let nets = self.ctx.store.networks()?;
        let net = match eps.first() {
            Some(ep) => nets.into_iter().find(|n| n.id == ep.network_id),
            None => nets.into_iter().find(|n| n.name == DEFAULT_NETWORK),
        };
        Ok(net.and_then(|n| n.gateway.parse().ok()))
    }

    /// `/etc/resolv.conf`: on user networks the embedded DNS on the gateway first; `--dns`,
    /// `--dns-search` and `--dns-option` replace the host's entries.
    pub(crate) fn resolv_file(&self, c: &ContainerRecord, host: &str) -> Result<String> {
        let hc = &c.host_config;
        let eps = self.ctx.store.endpoints_of_container(&c.id)?;
        let nets = self.ctx.store.networks()?;
        let embedded = eps.first().and_then(|ep| {
            nets.iter()
                .find(|n| n.id == ep.network_id && n.dns)
                .map(|n| n.gateway.clone())
        });
        let mut servers: Vec<String> = Vec::new();
        let mut search: Vec<String> = Vec::new();
        let mut options: Vec<String> = Vec::new();
        for l in host.lines() {
            let mut f = l.split_whitespace();
            match f.next() {
                Some("nameserver") => servers.extend(f.next().map(str::to_string)),
                Some("search") | Some("domain") => search.extend(f.map(str::to_string)),
                Some("options") => options.extend(f.map(str::to_string)),
                _ => {}
            }
        }
        if !hc.dns.is_empty() {
            servers = hc.dns.clone();
        }
        if !hc.dns_search.is_empty() {
            search = hc
                .dns_search
                .iter()
                .filter(|s| *s != ".")
                .cloned()
                .collect();
        }
        if !hc.dns_options.is_empty() {
            options = hc.dns_options.clone();
        }
        if let Some(gw) = embedded {
            servers.retain(|s| !s.starts_with("127.") && s != "::1");
            servers.insert(0, gw);
            servers.truncate(3);
        }
        let mut out = String::new();
        if !search.is_empty() {
            out.push_str(&format!("search {}\n", search.join(" ")));
        }
        for s in servers {
            out.push_str(&format!("nameserver {s}\n"));
        }
        if !options.is_empty() {
            out.push_str(&format!("options {}\n", options.join(" ")));
        }
        Ok(out)
    }

    /// `NetworkSettings` of inspect.
    pub(crate) fn network_settings(&self, c: &ContainerRecord) -> NetworkSettings {
        let eps = self
            .ctx
            .store
            .endpoints_of_container(&c.id)
            .unwrap_or_default();
        let nets = self.ctx.store.networks().unwrap_or_default();
        let running = c.state.status.is_running();
        let bound = self.bound_ports(&c.id);
        let mut s = NetworkSettings::default();
        let mode = Mode::parse(&c.host_config.network_mode);
        if matches!(mode, Mode::Host | Mode::None) {
            // No endpoint: docker lists the mode with empty addresses and fewer keys.
            s.networks.insert(
                c.host_config.network_mode.clone(),
                EndpointSettings::default(),
            );
        }
        for ep in &eps {
            let Some(n) = nets.iter().find(|n| n.id == ep.network_id) else {
                continue;
            };
            let prefix = n.subnet.parse::<Cidr>().map(|s| s.prefix).unwrap_or(0);
            let (ip, gw, mac) = if running {
                (ep.ip.clone(), n.gateway.clone(), ep.mac.clone())
            } else {
                Default::default()
            };
            let v = EndpointSettings {
                ipam_config: Some(ep.static_ip.then(|| EndpointIpamConfig {
                    ipv4_address: ep.ip.clone(),
                    ..Default::default()
                })),
                links: Some(None),
                aliases: (!ep.aliases.is_empty()).then(|| ep.aliases.clone()),
                mac_address: mac,
                network_id: n.id.clone(),
                endpoint_id: if running {
                    endpoint_id(&c.id, &n.id)
                } else {
                    String::new()
                },
                gateway: gw,
                ip_address: ip,
                ip_prefix_len: if running { prefix } else { 0 },
                ipv6_gateway: if running {
                    n.gateway6.clone()
                } else {
                    String::new()
                },
                global_ipv6_address: if running {
                    ep.ip6.clone()
                } else {
                    String::new()
                },
                global_ipv6_prefix_len: if running && !ep.ip6.is_empty() {
                    n.subnet6
                        .rsplit('/')
                        .next()
                        .and_then(|p| p.parse::<u8>().ok())
                        .unwrap_or(0)
                } else {
                    0
                },
                driver_opts: Some(None),
                dns_names: Some(n.dns.then(|| vec![c.name.clone(), c.id[..12].to_string()])),
            };
            if n.name == DEFAULT_NETWORK && running {
                s.ip_address = ep.ip.clone();
                s.gateway = n.gateway.clone();
                s.ip_prefix_len = prefix;
                s.mac_address = ep.mac.clone();
            }
            s.networks.insert(n.name.clone(), v);
        }
        let netns = self.ctx.netns_path(&c.id);
        if running {
            s.sandbox_id = c.id.clone();
            if netns.exists() {
                s.sandbox_key = netns.display().to_string();
            }
        }
        // The network crate renders the port map as JSON; it has exactly `PortMap`'s shape.
        let ports = ports::settings_ports(
            if running { &bound } else { &[] },
            c.config.exposed_ports.as_ref(),
        );
        s.ports = serde_json::from_value(ports).unwrap_or_default();
        s
    }

    /// The host ports a running container published (none when it is not running).
    fn bound_ports(&self, id: &str) -> Vec<PortBinding> {
        self.ctx
            .store
            .container_ports(id)
            .ok()
            .flatten()
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default()
    }

    /// `Ports` of a `ps` row.
    pub(crate) fn summary_ports(&self, c: &ContainerRecord) -> Vec<Port> {
        let bound = self.bound_ports(&c.id);
        let mut out: Vec<Port> = bound
            .iter()
            .map(|b| Port {
                ip: Some(
                    b.host_ip
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "0.0.0.0".into()),
                ),
                private_port: b.container_port,
                public_port: Some(b.host_port),
                kind: b.proto.clone(),
            })
            .collect();
        for k in c
            .config
            .exposed_ports
            .as_ref()
            .map(|e| e.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let (p, proto) = k.split_once('/').unwrap_or((&k, "tcp"));
            let Ok(p) = p.parse::<u16>() else { continue };
            if !bound
                .iter()
                .any(|b| b.container_port == p && b.proto == proto)
            {
                out.push(Port {
                    private_port: p,
                    kind: proto.to_string(),
                    ..Default::default()
                });
            }
        }
        out
    }

    /// `NetworkSettings` of a `ps` row.
    pub(crate) fn summary_networks(&self, c: &ContainerRecord) -> SummaryNetworkSettings {
        SummaryNetworkSettings {
            networks: self.network_settings(c).networks,
        }
    }
}
