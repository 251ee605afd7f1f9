//! `-p/--publish` and `--expose`, parsed like docker's `nat.ParsePortSpecs` into the
//! `ExposedPorts` and `PortBindings` maps (keys `80/tcp`).

use std::net::IpAddr;

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value, json};

/// `ExposedPorts` (`{"80/tcp": {}}`) and `PortBindings` (`{"80/tcp": [{HostIp, HostPort}]}`).
#[derive(Debug, Default)]
pub struct Ports {
    pub exposed: Map<String, Value>,
    pub bindings: Map<String, Value>,
}

fn port_range(s: &str) -> Result<(u32, u32)> {
    let one = |p: &str| -> Result<u32> {
        let n: u32 = p.parse().map_err(|_| anyhow!("invalid port {p:?}"))?;
        if n > 65535 {
            bail!("invalid port {p:?}");
        }
        Ok(n)
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if b < a {
                bail!("invalid range specified: {s}");
            }
            Ok((a, b))
        }
        None => {
            let n = one(s)?;
            Ok((n, n))
        }
    }
}

fn split_proto(s: &str) -> (&str, &str) {
    match s.split_once('/') {
        Some((port, "")) => (port, "tcp"),
        Some((port, proto)) => (port, proto),
        None => (s, "tcp"),
    }
}

/// `published=8080,target=80[,protocol=udp]` (the long syntax) as `8080:80/udp`.
fn standard_notation(spec: &str) -> Result<String> {
    if !spec.contains('=') {
        return Ok(spec.to_owned());
    }
    let (mut published, mut target, mut protocol) = ("", "", "tcp");
    for param in spec.split(',') {
        let (k, v) = param.split_once('=').ok_or_else(|| {
            anyhow!("invalid publish opts format (should be name=value but got '{param}')")
        })?;
        match k {
            "published" => published = v,
            "target" => target = v,
            "protocol" => protocol = v,
            _ => {}
        }
    }
    Ok(format!("{published}:{target}/{protocol}"))
}

impl Ports {
    /// Adds one `-p` value: `[ip:][hostPort:]containerPort[/proto]`, ranges allowed.
    pub fn publish(&mut self, raw: &str) -> Result<()> {
        let spec = standard_notation(raw)?;
        let parts: Vec<&str> = spec.split(':').collect();
        let n = parts.len();
        let (mut ip, host_port, container) = match n {
            1 => (String::new(), "", parts[0]),
            2 => (String::new(), parts[0], parts[1]),
            3 => (parts[0].to_owned(), parts[1], parts[2]),
            _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
        };
        let (container, proto) = split_proto(container);
        if let Some(inner) = ip.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            ip = inner.to_owned();
        }
        if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
            bail!("invalid IP address: {ip}");
        }
        if container.is_empty() {
            bail!("no port specified: {spec}<empty>");
        }
        let (start, end) =
            port_range(container).map_err(|_| anyhow!("invalid containerPort: {container}"))?;
        let (host_start, host_end) = if host_port.is_empty() {
            (0, 0)
        } else {
            port_range(host_port).map_err(|_| anyhow!("invalid hostPort: {host_port}"))?
        };
        if !host_port.is_empty() && end - start != host_end - host_start && end != start {
            bail!(
                "invalid ranges specified for container and host Ports: {container} and {host_port}"
            );
        }
        let proto = proto.to_ascii_lowercase();
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            bail!("invalid proto: {proto}");
        }
        for i in 0..=(end - start) {
            let key = format!("{}/{proto}", start + i);
            let host = if host_port.is_empty() {
                String::new()
            } else if start == end && host_start != host_end {
                format!("{host_start}-{host_end}")
            } else {
                (host_start + i).to_string()
            };
            self.exposed.insert(key.clone(), json!({}));
            let binding = json!({"HostIp": ip, "HostPort": host});
            match self.bindings.get_mut(&key).and_then(Value::as_array_mut) {
                Some(list) => list.push(binding),
                None => {
                    self.bindings.insert(key, json!([binding]));
                }
            }
        }
        Ok(())
    }

    /// Adds one `--expose` value: `port[/proto]` or `start-end[/proto]`.
    pub fn expose(&mut self, raw: &str) -> Result<()> {
        if raw.contains(':') {
            bail!("invalid port format for --expose: {raw}");
        }
        let (port, proto) = split_proto(raw);
        let (start, end) = port_range(port)
            .map_err(|e| anyhow!("invalid range format for --expose: {raw}, error: {e}"))?;
        for p in start..=end {
            self.exposed.insert(format!("{p}/{proto}"), json!({}));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(specs: &[&str]) -> Result<Ports> {
        let mut p = Ports::default();
        for s in specs {
            p.publish(s)?;
        }
        Ok(p)
    }

    #[test]
    fn publish_forms() {
        let p = parse(&[
            "8080:80",
            "127.0.0.1::53/udp",
            "9000",
            "[::1]:7000:7000/TCP",
        ])
        .unwrap();
        assert_eq!(
            Value::Object(p.bindings),
            json!({
                "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
                "9000/tcp": [{"HostIp": "", "HostPort": ""}],
                "7000/tcp": [{"HostIp": "::1", "HostPort": "7000"}],
            })
        );
        assert_eq!(p.exposed.len(), 4);
        assert_eq!(p.exposed["53/udp"], json!({}));
    }

    #[test]
    fn ranges_and_long_syntax() {
        let p = parse(&[
            "8000-8001:80-81",
            "9000-9010:90",
            "published=1,target=2,protocol=udp",
        ])
        .unwrap();
        assert_eq!(p.bindings["80/tcp"][0]["HostPort"], "8000");
        assert_eq!(p.bindings["81/tcp"][0]["HostPort"], "8001");
        assert_eq!(p.bindings["90/tcp"][0]["HostPort"], "9000-9010");
        assert_eq!(p.bindings["2/udp"][0]["HostPort"], "1");
        let twice = parse(&["1:80", "2:80"]).unwrap();
        assert_eq!(twice.bindings["80/tcp"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn publish_errors() {
        for (spec, err) in [
            ("1.2.3:80:80", "invalid IP address: 1.2.3"),
            ("80:", "no port specified: 80:<empty>"),
            ("80:x", "invalid containerPort: x"),
            ("x:80", "invalid hostPort: x"),
            ("80/icmp", "invalid proto: icmp"),
            (
                "1-3:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 1-3",
            ),
        ] {
            assert_eq!(parse(&[spec]).unwrap_err().to_string(), err, "{spec}");
        }
    }

    #[test]
    fn expose() {
        let mut p = Ports::default();
        p.expose("80").unwrap();
        p.expose("1000-1002/udp").unwrap();
        assert_eq!(p.exposed.len(), 4);
        assert!(p.exposed.contains_key("1001/udp"));
        assert!(p.expose("1:2").is_err());
        assert!(p.bindings.is_empty());
    }
}
