//! CNI: networks defined by conflists, run through their plugins with the spec's environment
//! (`CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_PATH`) and the network
//! configuration on stdin. ADD chains `prevResult` through the plugins; DEL runs them in reverse.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::{Error, Result};

/// A parsed conflist.
#[derive(Debug, Clone)]
pub struct ConfList {
    pub name: String,
    pub cni_version: String,
    pub plugins: Vec<Value>,
    pub raw: Value,
}

impl ConfList {
    pub fn parse(text: &str) -> Result<ConfList> {
        let raw: Value = serde_json::from_str(text)
            .map_err(|e| Error::Invalid(format!("invalid CNI configuration: {e}")))?;
        let name = raw["name"]
            .as_str()
            .ok_or_else(|| Error::Invalid("CNI configuration without a name".into()))?
            .to_string();
        let cni_version = raw["cniVersion"].as_str().unwrap_or("1.0.0").to_string();
        // A single-plugin .conf is a conflist of one.
        let plugins = match raw["plugins"].as_array() {
            Some(p) => p.clone(),
            None if raw["type"].is_string() => vec![raw.clone()],
            None => return Err(Error::Invalid(format!("CNI network {name} has no plugins"))),
        };
        Ok(ConfList {
            name,
            cni_version,
            plugins,
            raw,
        })
    }
}

/// Every conflist (`*.conflist`, `*.conf`, `*.json`) in `dir`, by name.
pub fn load_dir(dir: &Path) -> Vec<ConfList> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("conflist" | "conf" | "json")
            )
        })
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| ConfList::parse(&t).ok())
        .collect()
}

/// One container's attachment to a CNI network.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub container_id: String,
    pub netns: PathBuf,
    pub ifname: String,
    pub plugin_dirs: Vec<PathBuf>,
}

fn find_plugin(dirs: &[PathBuf], kind: &str) -> Result<PathBuf> {
    dirs.iter()
        .map(|d| d.join(kind))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "CNI plugin {kind} not found in {}",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":")
            ))
        })
}

fn exec(cmd: &str, conf: &Value, rt: &Runtime, plugin: &Path) -> Result<Value> {
    let path = rt
        .plugin_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let mut child = Command::new(plugin)
        .env_clear()
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", &rt.container_id)
        .env("CNI_NETNS", &rt.netns)
        .env("CNI_IFNAME", &rt.ifname)
        .env("CNI_PATH", path)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Sys(format!("run CNI plugin {}: {e}", plugin.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(conf.to_string().as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Sys(format!("CNI plugin {}: {e}", plugin.display())))?;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if !out.status.success() {
        let msg = v["msg"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
        return Err(Error::Sys(format!(
            "CNI plugin {} {cmd} failed: {msg}",
            plugin.display()
        )));
    }
    Ok(v)
}

fn plugin_conf(list: &ConfList, p: &Value, prev: Option<&Value>) -> Value {
    let mut c = p.clone();
    if let Some(o) = c.as_object_mut() {
        o.insert("name".into(), Value::String(list.name.clone()));
        o.insert("cniVersion".into(), Value::String(list.cni_version.clone()));
        if let Some(prev) = prev {
            o.insert("prevResult".into(), prev.clone());
        }
    }
    c
}

/// ADD: runs each plugin in order; the last result is the network's result.
pub fn add(list: &ConfList, rt: &Runtime) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for p in &list.plugins {
        let kind = p["type"].as_str().unwrap_or_default();
        let bin = find_plugin(&rt.plugin_dirs, kind)?;
        let r = exec("ADD", &plugin_conf(list, p, prev.as_ref()), rt, &bin)?;
        prev = Some(r);
    }
    Ok(prev.unwrap_or(Value::Null))
}

/// CHECK: every plugin with the recorded result.
pub fn check(list: &ConfList, rt: &Runtime, result: &Value) -> Result<()> {
    for p in &list.plugins {
        let kind = p["type"].as_str().unwrap_or_default();
        let bin = find_plugin(&rt.plugin_dirs, kind)?;
        exec("CHECK", &plugin_conf(list, p, Some(result)), rt, &bin)?;
    }
    Ok(())
}

/// DEL: every plugin in reverse order; all are tried, errors collected.
pub fn del(list: &ConfList, rt: &Runtime, result: Option<&Value>) -> Result<()> {
    let mut errs = Vec::new();
    for p in list.plugins.iter().rev() {
        let kind = p["type"].as_str().unwrap_or_default();
        match find_plugin(&rt.plugin_dirs, kind)
            .and_then(|bin| exec("DEL", &plugin_conf(list, p, result), rt, &bin))
        {
            Ok(_) => {}
            Err(e) => errs.push(e.to_string()),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(Error::Sys(errs.join("; ")))
    }
}

/// The first IPv4 address (without prefix) of a CNI result.
pub fn result_ip(result: &Value) -> Option<String> {
    result["ips"].as_array()?.iter().find_map(|ip| {
        let a = ip["address"].as_str()?;
        let (addr, _) = a.split_once('/')?;
        addr.parse::<std::net::Ipv4Addr>()
            .ok()
            .map(|_| addr.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflists_parse() {
        let l = ConfList::parse(
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"},{"type":"portmap"}]}"#,
        )
        .unwrap();
        assert_eq!(l.plugins.len(), 2);
        let c = plugin_conf(&l, &l.plugins[1], Some(&serde_json::json!({"ips":[]})));
        assert_eq!(c["name"], "n");
        assert!(c["prevResult"].is_object());
        let one = ConfList::parse(r#"{"name":"x","type":"bridge"}"#).unwrap();
        assert_eq!(one.plugins.len(), 1);
        assert_eq!(
            result_ip(&serde_json::json!({"ips":[{"address":"10.22.0.5/16"}]})),
            Some("10.22.0.5".into())
        );
    }
}
