//! External volume drivers over the Docker volume plugin protocol: JSON POSTs to
//! `/Plugin.Activate` and `/VolumeDriver.*` on a unix socket found as
//! `/run/docker/plugins/<name>.sock`, or named by `/etc/docker/plugins/<name>.spec` /
//! `/usr/lib/docker/plugins/<name>.{spec,json}` (a `unix://` address).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Driver, Result, VolumeError, VolumeInfo};

const SOCKET_DIRS: [&str; 1] = ["/run/docker/plugins"];
const SPEC_DIRS: [&str; 2] = ["/etc/docker/plugins", "/usr/lib/docker/plugins"];
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct PluginDriver {
    name: String,
    socket: PathBuf,
    scope: String,
}

/// Finds a plugin's socket by name, the way docker's plugin discovery does.
pub fn discover(name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains('/') || name.contains("..") {
        return None;
    }
    for d in SOCKET_DIRS {
        let p = Path::new(d).join(format!("{name}.sock"));
        if p.exists() {
            return Some(p);
        }
        let p = Path::new(d).join(name).join(format!("{name}.sock"));
        if p.exists() {
            return Some(p);
        }
    }
    for d in SPEC_DIRS {
        for ext in ["spec", "json"] {
            let Ok(text) = std::fs::read_to_string(Path::new(d).join(format!("{name}.{ext}")))
            else {
                continue;
            };
            let addr = if ext == "json" {
                serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["Addr"].as_str().map(str::to_string))
                    .unwrap_or_default()
            } else {
                text.trim().to_string()
            };
            if let Some(p) = addr.strip_prefix("unix://") {
                return Some(PathBuf::from(p));
            }
        }
    }
    None
}

impl PluginDriver {
    /// Connects to the plugin and checks that it implements `VolumeDriver`.
    pub fn activate(name: &str) -> Result<PluginDriver> {
        let socket = discover(name).ok_or_else(|| {
            VolumeError::NotFound(format!(
                "volume driver {name:?} not found: no plugin socket /run/docker/plugins/{name}.sock \
                 and no spec file in /etc/docker/plugins"
            ))
        })?;
        let mut d = PluginDriver {
            name: name.to_string(),
            socket,
            scope: "local".into(),
        };
        let v = d.call("/Plugin.Activate", &json!({}))?;
        let implements = v["Implements"].as_array().cloned().unwrap_or_default();
        if !implements.iter().any(|i| i == "VolumeDriver") {
            return Err(VolumeError::Invalid(format!(
                "plugin {name} does not implement VolumeDriver (it implements {implements:?})"
            )));
        }
        if let Ok(c) = d.call("/VolumeDriver.Capabilities", &json!({})) {
            if let Some(s) = c["Capabilities"]["Scope"].as_str() {
                d.scope = s.to_string();
            }
        }
        Ok(d)
    }

    fn call(&self, path: &str, body: &Value) -> Result<Value> {
        let fail =
            |e: String| VolumeError::Driver(format!("volume plugin {}: {path}: {e}", self.name));
        let body = serde_json::to_vec(body).unwrap_or_default();
        let mut s = UnixStream::connect(&self.socket)
            .map_err(|e| fail(format!("connect {}: {e}", self.socket.display())))?;
        s.set_read_timeout(Some(TIMEOUT)).ok();
        s.set_write_timeout(Some(TIMEOUT)).ok();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: plugin\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n\
             Content-Type: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes())
            .and_then(|_| s.write_all(&body))
            .map_err(|e| fail(e.to_string()))?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(|e| fail(e.to_string()))?;
        let (status, body) = parse_response(&raw).map_err(fail)?;
        let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(&body).map_err(|e| fail(format!("answer is not JSON ({e})")))?
        };
        if let Some(err) = v["Err"].as_str().filter(|e| !e.is_empty()) {
            return Err(fail(err.to_string()));
        }
        if !(200..300).contains(&status) {
            return Err(fail(format!("status {status}")));
        }
        Ok(v)
    }
}

/// Status code and body of an HTTP/1.x response read to EOF (plain or chunked body).
fn parse_response(raw: &[u8]) -> std::result::Result<(u16, Vec<u8>), String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("incomplete HTTP answer")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("bad HTTP status line")?;
    let mut body = raw[end + 4..].to_vec();
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("bad chunked body")?;
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..nl])
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim(),
                16,
            )
            .map_err(|_| "bad chunk size")?;
            rest = &rest[nl + 2..];
            if size == 0 || rest.len() < size {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = rest.get(size + 2..).unwrap_or_default();
        }
        body = out;
    }
    Ok((status, body))
}

impl Driver for PluginDriver {
    fn name(&self) -> &str {
        &self.name
    }

    fn scope(&self) -> String {
        self.scope.clone()
    }

    fn create(&self, name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
        self.call("/VolumeDriver.Create", &json!({"Name": name, "Opts": opts}))
            .map(drop)
    }

    fn remove(&self, name: &str) -> Result<()> {
        self.call("/VolumeDriver.Remove", &json!({"Name": name}))
            .map(drop)
    }

    fn get(&self, name: &str) -> Result<VolumeInfo> {
        let v = self.call("/VolumeDriver.Get", &json!({"Name": name}))?;
        let vol = &v["Volume"];
        Ok(VolumeInfo {
            name: name.into(),
            mountpoint: PathBuf::from(vol["Mountpoint"].as_str().unwrap_or_default()),
            status: vol["Status"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        })
    }

    fn mount(&self, name: &str, caller: &str) -> Result<PathBuf> {
        let v = self.call("/VolumeDriver.Mount", &json!({"Name": name, "ID": caller}))?;
        let p = v["Mountpoint"].as_str().unwrap_or_default();
        if !p.starts_with('/') {
            return Err(VolumeError::Driver(format!(
                "volume plugin {}: Mount of {name} returned no absolute Mountpoint ({p:?})",
                self.name
            )));
        }
        Ok(PathBuf::from(p))
    }

    fn unmount(&self, name: &str, caller: &str) -> Result<()> {
        self.call(
            "/VolumeDriver.Unmount",
            &json!({"Name": name, "ID": caller}),
        )
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let (s, b) = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((s, b.as_slice()), (200, &b"{}"[..]));
        let (s, b) = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((s, b.as_slice()), (200, &b"{\"a\":1}"[..]));
        assert!(parse_response(b"HTTP/1.1 200").is_err());
    }
}
