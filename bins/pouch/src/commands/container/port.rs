//! `pouch port`: a container's published ports.

use anyhow::{Result, bail};
use clap::Args;
use pouch_client::encode_path;
use serde_json::Value;

use crate::commands::Ctx;
use crate::output;

#[derive(Debug, Args)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    port: Option<String>,
}

fn host_port(binding: &Value) -> String {
    let s = |k: &str| binding.get(k).and_then(Value::as_str).unwrap_or_default();
    let ip = s("HostIp");
    if ip.contains(':') {
        format!("[{ip}]:{}", s("HostPort"))
    } else {
        format!("{ip}:{}", s("HostPort"))
    }
}

/// Natural order ("80" before "443"), as docker's `sortorder.NaturalLess`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let chunks = |s: &str| -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            match out.last_mut() {
                Some((d, chunk)) if *d == digit => chunk.push(c),
                _ => out.push((digit, c.to_string())),
            }
        }
        out
    };
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let ord = match (x.0, y.0) {
            (true, true) => {
                let (nx, ny) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
                nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny))
            }
            _ => x.1.cmp(&y.1),
        };
        if ord.is_ne() {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

/// The lines `port` prints for an inspect result.
fn lines(c: &Value, container: &str, port: Option<&str>) -> Result<Vec<String>> {
    let ports = c
        .pointer("/NetworkSettings/Ports")
        .and_then(Value::as_object);
    let bindings = |key: &str| -> Vec<Value> {
        ports
            .and_then(|p| p.get(key))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    match port {
        Some(spec) => {
            let (number, proto) = spec.split_once('/').unwrap_or((spec, ""));
            let proto = if proto.is_empty() { "tcp" } else { proto };
            if number.parse::<u16>().is_err() {
                bail!("Error: invalid port ({number})");
            }
            let frontends = bindings(&format!("{number}/{proto}"));
            if frontends.is_empty() {
                bail!("Error: No public port '{spec}' published for {container}");
            }
            out.extend(frontends.iter().map(host_port));
        }
        None => {
            for (from, list) in ports.into_iter().flatten() {
                for b in list.as_array().map(Vec::as_slice).unwrap_or_default() {
                    out.push(format!("{from} -> {}", host_port(b)));
                }
            }
        }
    }
    out.sort_by(|a, b| natural_cmp(a, b));
    Ok(out)
}

pub async fn run(ctx: &mut Ctx, args: PortArgs) -> Result<()> {
    let c = ctx
        .client()
        .await?
        .get_json(&format!(
            "/containers/{}/json",
            encode_path(&args.container)
        ))
        .await?;
    let lines = lines(&c, &args.container, args.port.as_deref())?;
    if lines.is_empty() {
        return Ok(());
    }
    output::print(&format!("{}\n", lines.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_and_looks_up_ports() {
        let c = json!({"NetworkSettings": {"Ports": {
            "443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8443"}],
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "53/udp": null
        }}});
        assert_eq!(
            lines(&c, "web", None).unwrap(),
            vec![
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080",
                "443/tcp -> 0.0.0.0:8443"
            ]
        );
        assert_eq!(lines(&c, "web", Some("443")).unwrap(), vec!["0.0.0.0:8443"]);
        assert_eq!(
            lines(&c, "web", Some("53/udp")).unwrap_err().to_string(),
            "Error: No public port '53/udp' published for web"
        );
        assert_eq!(
            lines(&c, "web", Some("http")).unwrap_err().to_string(),
            "Error: invalid port (http)"
        );
        assert!(natural_cmp("80/tcp", "443/tcp").is_lt());
    }
}
