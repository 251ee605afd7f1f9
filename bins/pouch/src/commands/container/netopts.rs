//! Network flags of `create`/`run` beyond `--network`, `-p` and `--expose`: addresses, aliases,
//! DNS and extra hosts, mapped as the docker CLI maps them (per-endpoint settings go into
//! `NetworkingConfig.EndpointsConfig` of the container's network).

use anyhow::{Result, bail};
use clap::Args;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Default, Args)]
pub struct NetOptions {
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "ADDRESS")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", value_name = "ADDRESS")]
    pub ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "ADDRESS")]
    pub mac_address: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "OPTION")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
}

/// Fills the HostConfig keys and returns the `NetworkingConfig`, if any endpoint setting was given.
pub fn apply(
    o: &NetOptions,
    network: Option<&str>,
    host: &mut Map<String, Value>,
) -> Result<Option<Value>> {
    if !o.dns.is_empty() {
        host.insert("Dns".into(), json!(o.dns));
    }
    if !o.dns_search.is_empty() {
        host.insert("DnsSearch".into(), json!(o.dns_search));
    }
    if !o.dns_option.is_empty() {
        host.insert("DnsOptions".into(), json!(o.dns_option));
    }
    for h in &o.add_host {
        let ok = h
            .split_once(':')
            .or_else(|| h.split_once('='))
            .is_some_and(|(n, ip)| !n.is_empty() && !ip.is_empty());
        if !ok {
            bail!(
                "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""
            );
        }
    }
    if !o.add_host.is_empty() {
        host.insert("ExtraHosts".into(), json!(o.add_host));
    }
    if o.publish_all {
        host.insert("PublishAllPorts".into(), json!(true));
    }
    if o.ip.is_none() && o.ip6.is_none() && o.mac_address.is_none() && o.network_alias.is_empty() {
        return Ok(None);
    }
    let mut ep = Map::new();
    let mut ipam = Map::new();
    if let Some(ip) = &o.ip {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if let Some(ip) = &o.ip6 {
        ipam.insert("IPv6Address".into(), json!(ip));
    }
    if !ipam.is_empty() {
        ep.insert("IPAMConfig".into(), Value::Object(ipam));
    }
    if let Some(mac) = &o.mac_address {
        ep.insert("MacAddress".into(), json!(mac));
    }
    if !o.network_alias.is_empty() {
        ep.insert("Aliases".into(), json!(o.network_alias));
    }
    let name = network.filter(|n| !n.is_empty()).unwrap_or("default");
    Ok(Some(json!({"EndpointsConfig": {name: ep}})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_settings_land_under_the_network() {
        let o = NetOptions {
            ip: Some("10.1.0.5".into()),
            network_alias: vec!["web".into()],
            dns: vec!["10.0.0.53".into()],
            add_host: vec!["db:10.0.0.9".into()],
            ..Default::default()
        };
        let mut host = Map::new();
        let nc = apply(&o, Some("mynet"), &mut host).unwrap().unwrap();
        assert_eq!(
            nc["EndpointsConfig"]["mynet"]["IPAMConfig"]["IPv4Address"],
            "10.1.0.5"
        );
        assert_eq!(nc["EndpointsConfig"]["mynet"]["Aliases"][0], "web");
        assert_eq!(host["Dns"][0], "10.0.0.53");
        let bad = NetOptions {
            add_host: vec!["nocolon".into()],
            ..Default::default()
        };
        assert!(apply(&bad, None, &mut Map::new()).is_err());
    }
}
