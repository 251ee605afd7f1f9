//! `--cap-add`/`--cap-drop` and `--security-opt`, normalized like the docker CLI does.

use anyhow::{Result, anyhow};
use serde_json::Value;

/// docker's capability normalization: upper case, `CAP_` prefix (except `ALL`), duplicates
/// removed, sorted; a capability both added and dropped is only added.
pub fn effective_caps(add: &[String], drop: &[String]) -> (Vec<String>, Vec<String>) {
    fn normalize(caps: &[String]) -> Vec<String> {
        let mut out: Vec<String> = caps
            .iter()
            .map(|c| {
                let c = c.trim().to_ascii_uppercase();
                if c == "ALL" || c.starts_with("CAP_") {
                    c
                } else {
                    format!("CAP_{c}")
                }
            })
            .collect();
        if out.iter().any(|c| c == "ALL") {
            return vec!["ALL".to_owned()];
        }
        out.sort();
        out.dedup();
        out
    }
    let add = normalize(add);
    let mut drop = normalize(drop);
    drop.retain(|c| !add.contains(c));
    (add, drop)
}

/// `--security-opt`: `key=value`, `key:value` or `no-new-privileges`; a seccomp profile path is
/// read here and sent inline, because the daemon cannot see the client's files.
pub fn security_opt(opt: &str) -> Result<String> {
    let (key, value) = match opt.split_once('=') {
        Some(kv) => kv,
        None if opt == "no-new-privileges" => return Ok(opt.to_owned()),
        None => opt
            .split_once(':')
            .ok_or_else(|| anyhow!("Invalid --security-opt: {opt:?}"))?,
    };
    if key == "seccomp" && value != "unconfined" {
        let raw = std::fs::read(value)
            .map_err(|e| anyhow!("opening seccomp profile ({value}) failed: {e}"))?;
        let profile: Value = serde_json::from_slice(&raw)
            .map_err(|e| anyhow!("compacting json for seccomp profile ({value}) failed: {e}"))?;
        return Ok(format!("seccomp={profile}"));
    }
    Ok(opt.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_and_security() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (add, drop) = effective_caps(
            &s(&["net_admin", "CAP_SYS_ADMIN", "net_admin"]),
            &s(&["NET_ADMIN", "mknod"]),
        );
        assert_eq!(add, s(&["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]));
        assert_eq!(drop, s(&["CAP_MKNOD"]));
        let (add, drop) = effective_caps(&s(&["all", "chown"]), &[]);
        assert_eq!((add, drop), (s(&["ALL"]), vec![]));
        assert_eq!(
            security_opt("no-new-privileges").unwrap(),
            "no-new-privileges"
        );
        assert_eq!(
            security_opt("apparmor:unconfined").unwrap(),
            "apparmor:unconfined"
        );
        assert_eq!(
            security_opt("seccomp=unconfined").unwrap(),
            "seccomp=unconfined"
        );
        assert!(security_opt("bogus").is_err());
        assert!(security_opt("seccomp=/nonexistent/profile.json").is_err());
    }
}
