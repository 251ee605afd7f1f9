//! What inspect and list report about a container's network: `NetworkSettings`, its endpoints
//! and published ports.
//!
//! Field order is the wire order: keys are written in byte order, as docker's JSON and our
//! earlier map-built output have them. Keep new fields sorted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EndpointIpamConfig;

/// A published port: `{"HostIp","HostPort"}` in `NetworkSettings.Ports`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// `NetworkSettings.Ports`: `"80/tcp"` → its host bindings, `null` for exposed but unpublished.
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// One network of a container (`NetworkSettings.Networks.<name>`).
///
/// The `Option<Option<_>>` fields are absent (outer `None`) for `host` and `none` entries, and
/// present, possibly `null`, for a real endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "DNSNames", skip_serializing_if = "Option::is_none")]
    pub dns_names: Option<Option<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<Option<BTreeMap<String, String>>>,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "IPAMConfig", skip_serializing_if = "Option::is_none")]
    pub ipam_config: Option<Option<EndpointIpamConfig>>,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Option<Vec<String>>>,
    pub mac_address: String,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
}

/// `NetworkSettings` of inspect. The top-level address fields mirror the default bridge's
/// endpoint (docker's legacy fields).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    pub bridge: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    pub hairpin_mode: bool,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: u8,
    pub mac_address: String,
    pub networks: BTreeMap<String, EndpointSettings>,
    pub ports: PortMap,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub sandbox_key: String,
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<String>>,
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<String>>,
}

/// `NetworkSettings` of a `GET /containers/json` row: only the networks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryNetworkSettings {
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// One entry of a `ps` row's `Ports`: published (`IP`, `PublicPort` set) or only exposed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    #[serde(rename = "IP", skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    pub private_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub kind: String,
}

/// One row of `GET /containers/{id}/changes`: `Kind` 0 = modified, 1 = added, 2 = deleted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerChange {
    pub kind: u8,
    pub path: String,
}

/// `GET /containers/{id}/top`: `ps` columns and one row per process of the container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TopResponse {
    pub processes: Vec<Vec<String>>,
    pub titles: Vec<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The typed forms write exactly what the engine's map-built JSON wrote before (keys in byte
    /// order, the same nulls and absent keys).
    #[test]
    fn same_bytes_as_the_map_built_json() {
        let host = json!({"NetworkID": "", "EndpointID": "", "Gateway": "",
            "IPAddress": "", "IPPrefixLen": 0, "MacAddress": "", "Aliases": null,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0});
        let typed = serde_json::to_string(&EndpointSettings::default()).unwrap();
        assert_eq!(typed, host.to_string());

        let ep = EndpointSettings {
            ipam_config: Some(Some(EndpointIpamConfig {
                ipv4_address: "10.0.0.5".into(),
                ..Default::default()
            })),
            links: Some(None),
            aliases: None,
            driver_opts: Some(None),
            dns_names: Some(Some(vec!["web".into(), "0123456789ab".into()])),
            ip_address: "10.0.0.5".into(),
            ip_prefix_len: 24,
            ..Default::default()
        };
        let old = json!({"IPAMConfig": {"IPv4Address": "10.0.0.5"}, "Links": null,
            "Aliases": null, "MacAddress": "", "NetworkID": "", "EndpointID": "", "Gateway": "",
            "IPAddress": "10.0.0.5", "IPPrefixLen": 24, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DriverOpts": null,
            "DNSNames": ["web", "0123456789ab"]});
        assert_eq!(serde_json::to_string(&ep).unwrap(), old.to_string());

        let mut s = NetworkSettings::default();
        s.networks.insert("bridge".into(), ep);
        s.ports.insert("80/tcp".into(), None);
        s.ports.insert(
            "81/tcp".into(),
            Some(vec![PortBinding {
                host_ip: "0.0.0.0".into(),
                host_port: "8081".into(),
            }]),
        );
        let old = json!({"Bridge": "", "SandboxID": "", "SandboxKey": "", "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": {"80/tcp": null, "81/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8081"}]},
            "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null, "EndpointID": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": "",
            "Networks": {"bridge": old}, "IPAddress": "", "Gateway": "", "IPPrefixLen": 0,
            "MacAddress": ""});
        assert_eq!(serde_json::to_string(&s).unwrap(), old.to_string());

        let ports = vec![
            Port {
                ip: Some("0.0.0.0".into()),
                private_port: 80,
                public_port: Some(8080),
                kind: "tcp".into(),
            },
            Port {
                private_port: 53,
                kind: "udp".into(),
                ..Default::default()
            },
        ];
        let old = json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
            {"PrivatePort": 53, "Type": "udp"}]);
        assert_eq!(serde_json::to_string(&ports).unwrap(), old.to_string());

        let top = TopResponse {
            processes: vec![vec!["root".into(), "1".into()]],
            titles: vec!["UID".into(), "PID".into()],
        };
        let old = json!({"Titles": ["UID", "PID"], "Processes": [["root", "1"]]});
        assert_eq!(serde_json::to_string(&top).unwrap(), old.to_string());
        let ch = ContainerChange {
            kind: 1,
            path: "/a".into(),
        };
        assert_eq!(
            serde_json::to_string(&ch).unwrap(),
            json!({"Path": "/a", "Kind": 1}).to_string()
        );
    }

    #[test]
    fn progress_and_push_aux_same_bytes() {
        use crate::types::{JsonMessage, ProgressDetail, PushResult};
        let m = JsonMessage {
            progress_detail: Some(ProgressDetail::default()),
            aux: Some(PushResult {
                tag: "v1".into(),
                digest: "sha256:ab".into(),
                size: 7,
            }),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"progressDetail":{},"aux":{"Digest":"sha256:ab","Size":7,"Tag":"v1"}}"#
        );
        let d = ProgressDetail {
            current: Some(1),
            total: Some(2),
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            json!({"current": 1, "total": 2}).to_string()
        );
    }
}
