//! Where a registry is reached: mirrors first (pull only), then the registry itself, over HTTPS
//! with a fallback to plain HTTP for insecure registries.

use std::net::IpAddr;

use super::{Error, RegistryConfig, Result};

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// One base URL to talk to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `https` or `http`.
    pub scheme: String,
    /// `host[:port]` to connect to (and the TLS server name, without the port).
    pub host: String,
    /// May fall back from HTTPS to plain HTTP.
    pub insecure: bool,
    /// A mirror (failures move on to the next endpoint).
    pub mirror: bool,
}

impl Endpoint {
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.host, path)
    }
}

/// The API host of a reference's domain (`docker.io` is served by `registry-1.docker.io`).
pub fn registry_host(domain: &str) -> &str {
    if domain == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        domain
    }
}

/// Endpoints to try for `domain`, in order. Mirrors are only for pulls.
pub fn endpoints_for(domain: &str, cfg: &RegistryConfig, pull: bool) -> Result<Vec<Endpoint>> {
    let mut out = Vec::new();
    if pull {
        for m in cfg.mirrors.get(domain).into_iter().flatten() {
            let (scheme, rest) = m.split_once("://").ok_or_else(|| {
                Error::Protocol(format!(
                    "mirror {m:?} of {domain}: give a URL with http:// or https://"
                ))
            })?;
            if scheme != "http" && scheme != "https" {
                return Err(Error::Protocol(format!(
                    "mirror {m:?} of {domain}: only http and https mirrors are supported"
                )));
            }
            let host = rest.trim_end_matches('/').to_string();
            out.push(Endpoint {
                scheme: scheme.to_string(),
                insecure: scheme == "http" || is_insecure(&host, cfg),
                host,
                mirror: true,
            });
        }
    }
    if domain == DOCKER_HUB
        && let Some(def) = cfg.default_registry.as_deref().filter(|d| !d.is_empty())
    {
        let (scheme, host) = match def.split_once("://") {
            Some((s, h)) => (s, h.trim_end_matches('/')),
            None => ("https", def.trim_end_matches('/')),
        };
        out.push(Endpoint {
            scheme: scheme.to_string(),
            insecure: scheme == "http" || is_insecure(host, cfg),
            host: host.to_string(),
            mirror: false,
        });
        return Ok(out);
    }
    let host = registry_host(domain).to_string();
    out.push(Endpoint {
        scheme: "https".to_string(),
        insecure: is_insecure(&host, cfg),
        host,
        mirror: false,
    });
    Ok(out)
}

/// Docker's rule: loopback and `localhost` are insecure, plus whatever `insecure-registries`
/// lists by host, `host:port` or CIDR.
pub fn is_insecure(host: &str, cfg: &RegistryConfig) -> bool {
    let bare = strip_port(host);
    if bare == "localhost" {
        return true;
    }
    let ip: Option<IpAddr> = bare.trim_matches(['[', ']']).parse().ok();
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    cfg.insecure.iter().any(|entry| {
        if entry == host || entry == bare {
            return true;
        }
        match (ip, entry.split_once('/')) {
            (Some(ip), Some((net, bits))) => cidr_contains(net, bits, ip),
            _ => false,
        }
    })
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn cidr_contains(net: &str, bits: &str, ip: IpAddr) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_rules() {
        let cfg = RegistryConfig {
            insecure: vec!["10.1.0.0/16".into(), "reg.lan:5000".into()],
            ..Default::default()
        };
        assert!(is_insecure("localhost:5000", &cfg));
        assert!(is_insecure("127.0.0.1:5000", &cfg));
        assert!(is_insecure("127.5.0.1", &cfg));
        assert!(is_insecure("[::1]:5000", &cfg));
        assert!(is_insecure("10.1.2.3:443", &cfg));
        assert!(is_insecure("reg.lan:5000", &cfg));
        assert!(!is_insecure("reg.lan", &cfg));
        assert!(!is_insecure("10.2.0.1", &cfg));
        assert!(!is_insecure("quay.io", &cfg));
    }

    #[test]
    fn mirrors_come_first_for_pulls() {
        let mut cfg = RegistryConfig::default();
        cfg.mirrors.insert(
            "registry.k8s.io".into(),
            vec!["http://127.0.0.1:5000/".into()],
        );
        let eps = endpoints_for("registry.k8s.io", &cfg, true).unwrap();
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].url("/v2/"), "http://127.0.0.1:5000/v2/");
        assert!(eps[0].mirror);
        assert_eq!(eps[1].url("/v2/"), "https://registry.k8s.io/v2/");
        assert_eq!(
            endpoints_for("registry.k8s.io", &cfg, false).unwrap().len(),
            1
        );
        assert_eq!(
            endpoints_for("docker.io", &cfg, false).unwrap()[0].host,
            "registry-1.docker.io"
        );
        cfg.default_registry = Some("127.0.0.1:5000".into());
        let eps = endpoints_for("docker.io", &cfg, true).unwrap();
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].url("/v2/"), "https://127.0.0.1:5000/v2/");
        assert!(eps[0].insecure);
    }
}
