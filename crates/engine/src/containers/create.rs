//! `POST /containers/create`: validates the request against the image and the host, merges the
//! image's defaults in, and records the container. Nothing runs yet.

use std::collections::BTreeMap;

use pouch_api::types::{ContainerCreateBody, ContainerCreateResponse, HostConfig};
use pouch_runtime::spec;

use super::ContainerStatus;
use super::random_hex;
use crate::config::BUILTIN_RUNTIME;
use crate::context::Blocking;
use crate::error::{Error, Result};
use crate::store::{ContainerRecord, StoredState};
use crate::{Containers, now_nanos};

impl Containers {
    pub async fn create_container(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        self.blocking(move |e| e.create_blocking(name, body)).await
    }

    /// Fills the keys dockerd fills at create (masked and read-only paths, the cgroup namespace
    /// mode) and refuses what pouch cannot honour yet, rather than ignoring it.
    fn docker_host_defaults(&self, hc: &mut HostConfig) -> Result<()> {
        let v2 = self.ctx.cgroup_layout()? == spec::CgroupLayout::V2;
        let native = if v2 { "private" } else { "host" };
        match hc.cgroupns_mode.as_str() {
            "" => hc.cgroupns_mode = native.to_string(),
            m if m == native => {}
            "host" | "private" => {
                return Err(Error::not_implemented(format!(
                    "cgroup namespace mode {:?} is not supported on this host's cgroup {}: pouch \
                     uses {native:?} there; leave --cgroupns unset",
                    hc.cgroupns_mode,
                    if v2 { "v2" } else { "v1" }
                )));
            }
            m => {
                return Err(Error::invalid(format!(
                    "invalid cgroup namespace mode: {m}"
                )));
            }
        }
        if !hc.privileged {
            hc.masked_paths
                .get_or_insert_with(spec::default_masked_paths);
            hc.readonly_paths
                .get_or_insert_with(spec::default_readonly_paths);
        }
        if !matches!(hc.isolation.as_str(), "" | "default") {
            return Err(Error::invalid(format!(
                "invalid isolation: {:?} - linux only supports 'default'",
                hc.isolation
            )));
        }
        let refuse = |what: &str, instead: &str| {
            Err(Error::not_implemented(format!(
                "{what} is not supported yet; {instead}"
            )))
        };
        if hc.links.as_ref().is_some_and(|l| !l.is_empty()) {
            return refuse(
                "legacy container links (--link)",
                "put the containers on a user-defined network, where they reach each other by \
                 name and --network-alias",
            );
        }
        if hc
            .device_cgroup_rules
            .as_ref()
            .is_some_and(|r| !r.is_empty())
        {
            return refuse(
                "--device-cgroup-rule",
                "pass the devices with --device, or use --privileged",
            );
        }
        if hc.device_requests.as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(Error::invalid(
                "could not select device driver \"\" with capabilities: [[gpu]]: pouch has no \
                 device plugins (no GPU support)",
            ));
        }
        if hc.cpu_realtime_period != 0 || hc.cpu_realtime_runtime != 0 {
            return refuse(
                "--cpu-rt-period/--cpu-rt-runtime",
                "leave the real-time scheduler settings unset",
            );
        }
        Ok(())
    }

    fn create_blocking(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        let ContainerCreateBody {
            mut config,
            mut host_config,
            networking_config,
        } = body;
        let mut warnings = Vec::new();
        if config.image.is_empty() {
            return Err(Error::invalid(
                "no image given: set Image in the request body",
            ));
        }
        let image = self.images.resolve_image(&config.image)?.image;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => validate_name(&n)?,
            None => self.generate_name()?,
        };
        let runtime = match host_config.runtime.as_str() {
            "" => self.ctx.config.default_runtime.clone(),
            r if r == BUILTIN_RUNTIME || self.ctx.config.runtimes.contains_key(r) => r.to_string(),
            r => {
                return Err(Error::invalid(format!(
                    "unknown or invalid runtime name: {r}"
                )));
            }
        };
        host_config.runtime = runtime.clone();
        self.networks.check_network_mode(&mut host_config)?;
        self.docker_host_defaults(&mut host_config)?;
        for (mode, what) in [
            (&host_config.ipc_mode, "ipc"),
            (&host_config.pid_mode, "pid"),
        ] {
            if let Some(other) = mode.strip_prefix("container:") {
                self.ctx.resolve_container(other)?;
            } else if !matches!(mode.as_str(), "" | "host" | "private" | "shareable") {
                return Err(Error::invalid(format!("invalid {what} mode: {mode}")));
            }
        }
        if !matches!(host_config.userns_mode.as_str(), "" | "host") {
            return Err(Error::invalid(format!(
                "invalid USER mode: {} (use host, or leave it empty)",
                host_config.userns_mode
            )));
        }
        if host_config.privileged
            && host_config.userns_mode != "host"
            && self.ctx.config.userns_remap.is_some()
        {
            return Err(Error::invalid(
                "privileged mode is incompatible with user namespaces; run the container with \
                 --userns=host to make it privileged",
            ));
        }
        if !matches!(host_config.uts_mode.as_str(), "" | "host") {
            return Err(Error::invalid(format!(
                "invalid UTS mode: {}",
                host_config.uts_mode
            )));
        }
        if host_config.uts_mode == "host" && !config.hostname.is_empty() {
            return Err(Error::invalid(
                "conflicting options: hostname and the UTS mode",
            ));
        }
        if !matches!(
            pouch_network::Mode::parse(&host_config.network_mode),
            pouch_network::Mode::Network(_)
        ) && host_config
            .port_bindings
            .as_ref()
            .is_some_and(|p| p.as_object().is_some_and(|o| !o.is_empty()))
        {
            warnings.push(
                "Published ports are discarded when using host network mode or no network".into(),
            );
        }
        validate_restart(&host_config.restart_policy.name, host_config.auto_remove)?;
        match host_config.log_config.kind.as_str() {
            "" | "json-file" => host_config.log_config.kind = "json-file".into(),
            other => {
                return Err(Error::invalid(format!(
                    "logging driver {other:?} is not supported; use json-file"
                )));
            }
        }
        logs_opts(&host_config.log_config.config)?;

        // Image defaults, as docker merges them.
        let img = serde_json::to_value(self.images.image_config(&image.id)?)?;
        let icfg = img.get("config").cloned().unwrap_or_default();
        let strs = |v: &serde_json::Value| -> Option<Vec<String>> {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
        };
        // docker's merge: without an entrypoint of its own (null or []), a container takes the
        // image's Cmd when it gives none (null or [], the same to docker and its SDKs), and the
        // image's Entrypoint unless it asked for none with [].
        if config.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
            if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
                config.cmd = strs(&icfg["Cmd"]);
            }
            if config.entrypoint.is_none() {
                config.entrypoint = strs(&icfg["Entrypoint"]);
            }
        }
        // An explicitly empty entrypoint (`--entrypoint ""`) means none.
        if config
            .entrypoint
            .as_ref()
            .is_some_and(|e| e.is_empty() || e == &[String::new()])
        {
            config.entrypoint = None;
        }
        if config.entrypoint.is_none() && config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(Error::invalid("no command specified"));
        }
        config.env = merge_env(strs(&icfg["Env"]).unwrap_or_default(), config.env);
        if config.working_dir.is_empty() {
            config.working_dir = icfg["WorkingDir"].as_str().unwrap_or("").to_string();
        }
        if config.user.is_empty() {
            config.user = icfg["User"].as_str().unwrap_or("").to_string();
        }
        if config.stop_signal.is_none() {
            config.stop_signal = icfg["StopSignal"].as_str().map(str::to_string);
        }
        if let Some(sig) = &config.stop_signal {
            super::signal::parse(sig, 15)?;
        }
        if let Some(l) = icfg["Labels"].as_object() {
            for (k, v) in l {
                if let Some(v) = v.as_str() {
                    config
                        .labels
                        .entry(k.clone())
                        .or_insert_with(|| v.to_string());
                }
            }
        }
        let id = random_hex(32)?;
        if config.hostname.is_empty() && host_config.uts_mode != "host" {
            config.hostname = id[..12].to_string();
        }
        let image_volumes: Vec<String> = icfg["Volumes"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        self.networks
            .allocate_endpoints(&id, &config, &host_config, networking_config.as_ref())?;
        let mounts = match self.plan_mounts(&config, &host_config, &image_volumes) {
            Ok(m) => m,
            Err(e) => {
                let _ = self.ctx.store.delete_endpoints_of_container(&id);
                return Err(e);
            }
        };
        let mut rec = ContainerRecord {
            mounts,
            id: id.clone(),
            name,
            image_id: image.id,
            created: now_nanos(),
            config,
            host_config,
            state: StoredState {
                status: ContainerStatus::Created,
                runtime,
                ..Default::default()
            },
        };
        let inserted = self
            .prepare_dirs(&rec)
            .and_then(|()| self.apply_disk_quota(&mut rec))
            .and_then(|()| self.ctx.store.insert_container(&rec));
        if let Err(e) = inserted {
            let _ = std::fs::remove_dir_all(self.ctx.container_dir(&id));
            let _ = self.ctx.store.delete_endpoints_of_container(&id);
            self.remove_anonymous_volumes(&rec);
            return Err(e);
        }
        self.ctx.emit_container(&rec, "create", &[]);
        Ok(ContainerCreateResponse { id, warnings })
    }

    /// `<root>/containers/<id>/`: the writable layer, the rootfs mount point, and the files
    /// bind-mounted over /etc/hostname, /etc/hosts and /etc/resolv.conf.
    fn prepare_dirs(&self, c: &ContainerRecord) -> Result<()> {
        let dir = self.ctx.container_dir(&c.id);
        for d in ["rw/upper", "rw/work", "rootfs"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        let host_net = c.host_config.network_mode == "host";
        let hostname = if c.host_config.uts_mode == "host" {
            pouch_sys::host::hostname()
        } else {
            c.config.hostname.clone()
        };
        std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
        let hosts = if host_net {
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            self.networks.hosts_file(c, &hostname)?
        };
        std::fs::write(dir.join("hosts"), hosts)?;
        let resolv = if host_net {
            resolv_conf(true)
        } else {
            self.networks.resolv_file(c, &resolv_conf(false))?
        };
        std::fs::write(dir.join("resolv.conf"), resolv)?;
        Ok(())
    }

    fn generate_name(&self) -> Result<String> {
        const LEFT: &[&str] = &[
            "agile", "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen",
            "lucid", "merry", "nimble", "proud", "quiet", "swift", "tender", "vivid", "witty",
        ];
        const RIGHT: &[&str] = &[
            "albatross",
            "badger",
            "crane",
            "dolphin",
            "egret",
            "falcon",
            "gecko",
            "heron",
            "ibis",
            "jaguar",
            "koala",
            "lemur",
            "marmot",
            "narwhal",
            "otter",
            "panda",
            "quokka",
            "raven",
            "stork",
            "tapir",
        ];
        for _ in 0..32 {
            let r = random_hex(4)?;
            let n = u32::from_str_radix(&r, 16).unwrap_or(0) as usize;
            let name = format!(
                "{}_{}",
                LEFT[n % LEFT.len()],
                RIGHT[(n / LEFT.len()) % RIGHT.len()]
            );
            if self.ctx.store.container_by_name(&name)?.is_none() {
                return Ok(name);
            }
        }
        Ok(format!("pouch_{}", random_hex(6)?))
    }
}

pub(crate) fn validate_name(n: &str) -> Result<String> {
    let n = n.strip_prefix('/').unwrap_or(n);
    let ok = n.len() >= 2
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        return Err(Error::invalid(format!(
            "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(n.to_string())
}

fn validate_restart(policy: &str, auto_remove: bool) -> Result<()> {
    match policy {
        "" | "no" => Ok(()),
        "always" | "unless-stopped" | "on-failure" if auto_remove => Err(Error::invalid(
            "conflicting options: cannot specify both --restart and --rm",
        )),
        "always" | "unless-stopped" | "on-failure" => Ok(()),
        p => Err(Error::invalid(format!("invalid restart policy '{p}'"))),
    }
}

/// `max-size` (bytes, with k/m/g) and `max-file` from `--log-opt`.
pub(crate) fn logs_opts(opts: &BTreeMap<String, String>) -> Result<(Option<u64>, u32)> {
    let mut size = None;
    let mut files = 1;
    for (k, v) in opts {
        match k.as_str() {
            "max-size" => {
                size = Some(
                    parse_size(v)
                        .ok_or_else(|| Error::invalid(format!("invalid max-size {v:?}")))?,
                )
            }
            "max-file" => {
                files = v
                    .parse()
                    .ok()
                    .filter(|n: &u32| *n >= 1)
                    .ok_or_else(|| Error::invalid(format!("invalid max-file {v:?}")))?
            }
            _ => {
                return Err(Error::invalid(format!(
                    "unknown log opt '{k}' for json-file log driver"
                )));
            }
        }
    }
    if files > 1 && size.is_none() {
        return Err(Error::invalid("max-file cannot be set without max-size"));
    }
    Ok((size, files))
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult).filter(|n| *n > 0)
}

/// Image env first, the request's entries replace same-named ones.
fn merge_env(image: Vec<String>, user: Vec<String>) -> Vec<String> {
    let key = |e: &String| e.split('=').next().unwrap_or("").to_string();
    let mut out: Vec<String> = image;
    for e in user {
        let k = key(&e);
        match out.iter().position(|x| key(x) == k) {
            Some(i) => out[i] = e,
            None => out.push(e),
        }
    }
    out
}

/// The host's resolv.conf; without host networking, loopback resolvers cannot be reached from the
/// container, so they are dropped (docker does the same) and public ones used if none remain.
fn resolv_conf(host_net: bool) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if host_net {
        return host;
    }
    let mut out = String::new();
    let mut servers = 0;
    for l in host.lines() {
        let mut f = l.split_whitespace();
        if f.next() == Some("nameserver") {
            let ip = f.next().unwrap_or("");
            if ip.starts_with("127.") || ip == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(l);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_env_sizes() {
        assert_eq!(validate_name("/web-1").unwrap(), "web-1");
        assert!(validate_name("a").is_err());
        assert!(validate_name("bad name").is_err());
        assert_eq!(
            merge_env(
                vec!["PATH=/bin".into(), "A=1".into()],
                vec!["A=2".into(), "B=3".into()]
            ),
            vec!["PATH=/bin", "A=2", "B=3"]
        );
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("x"), None);
        let mut o = BTreeMap::new();
        o.insert("max-file".to_string(), "3".to_string());
        assert!(logs_opts(&o).is_err());
        o.insert("max-size".to_string(), "1m".to_string());
        assert_eq!(logs_opts(&o).unwrap(), (Some(1 << 20), 3));
        assert!(validate_restart("always", true).is_err());
        assert!(validate_restart("sometimes", false).is_err());
    }
}
