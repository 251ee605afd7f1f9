//! `/version` and `/info`: what this daemon is and what its host offers, read fresh each call.

use std::collections::BTreeMap;

use pouch_api::types::{ComponentVersion, Info, Platform, RegistryConfig, Runtime, Version};
use pouch_sys::host;

use crate::System;
use crate::config::BUILTIN_RUNTIME;
use crate::context::Blocking;
use crate::error::Result;

impl System {
    pub fn version(&self) -> Version {
        let mut details = BTreeMap::new();
        details.insert("ApiVersion".to_string(), pouch_api::API_VERSION.to_string());
        details.insert(
            "MinAPIVersion".to_string(),
            pouch_api::MIN_API_VERSION.to_string(),
        );
        details.insert("Os".to_string(), "linux".to_string());
        details.insert("Arch".to_string(), host::goarch().to_string());
        details.insert("KernelVersion".to_string(), host::kernel_version());
        Version {
            platform: Platform {
                name: "pouch".into(),
            },
            components: vec![ComponentVersion {
                name: "Engine".into(),
                version: pouch_api::VERSION.into(),
                details,
            }],
            version: pouch_api::VERSION.into(),
            api_version: pouch_api::API_VERSION.into(),
            min_api_version: pouch_api::MIN_API_VERSION.into(),
            git_commit: option_env!("POUCH_GIT_COMMIT").unwrap_or("unknown").into(),
            go_version: format!(
                "rust{}",
                option_env!("CARGO_PKG_RUST_VERSION").unwrap_or("")
            ),
            os: "linux".into(),
            arch: host::goarch().into(),
            kernel_version: host::kernel_version(),
            build_time: String::new(),
        }
    }

    pub async fn info(&self) -> Result<Info> {
        self.blocking(|e| e.info_blocking()).await
    }

    fn info_blocking(&self) -> Result<Info> {
        let cfg = &self.ctx.config;
        let live = self.ctx.live();
        let images = self.ctx.store.images()?.len() as i64;
        let (os, os_version) = host::os_release();
        let cgroup = host::cgroup_version().ok();
        let mut runtimes = BTreeMap::new();
        runtimes.insert(
            BUILTIN_RUNTIME.to_string(),
            Runtime {
                path: "pouch-shim".into(),
                runtime_args: Vec::new(),
            },
        );
        for (name, r) in &cfg.runtimes {
            runtimes.insert(
                name.clone(),
                Runtime {
                    path: r.path.clone(),
                    runtime_args: r.args.clone(),
                },
            );
        }
        let host_checks = self.host_checks();
        let warnings = host_checks
            .iter()
            .filter(|c| {
                !c.ok
                    && matches!(
                        c.name.as_str(),
                        "overlayfs" | "cgroup controllers" | "swap accounting" | "ipv4 forwarding"
                    )
            })
            .map(|c| format!("WARNING: {}: {} ({})", c.name, c.detail, c.fix))
            .collect();
        let snapshots = self.ctx.snaps.list().map(|l| l.len()).unwrap_or(0);
        Ok(Info {
            id: self.ctx.id.clone(),
            images,
            driver: "overlay2".into(),
            driver_status: vec![
                ["Backing Filesystem".into(), backing_fs(&cfg.root)],
                ["Layers".into(), snapshots.to_string()],
            ],
            docker_root_dir: cfg.root.display().to_string(),
            plugins: pouch_api::types::Plugins {
                volume: vec!["local".into()],
                network: ["bridge", "host", "macvlan", "null", "cni"]
                    .map(String::from)
                    .to_vec(),
                authorization: None,
                log: vec!["json-file".into()],
            },
            memory_limit: true,
            // Without swap accounting `--memory-swap` is refused.
            swap_limit: self
                .ctx
                .cgroup_layout()
                .is_ok_and(|l| pouch_runtime::spec::swap_limit_supported(&l)),
            cpu_cfs_period: true,
            cpu_cfs_quota: true,
            cpu_shares: true,
            cpu_set: true,
            pids_limit: true,
            oom_kill_disable: cgroup == Some(host::CgroupVersion::V1),
            ipv4_forwarding: host::ipv4_forwarding(),
            debug: live.debug,
            n_fd: host::open_fds(),
            n_goroutines: 0,
            system_time: crate::images::rfc3339_now(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: match cgroup {
                Some(host::CgroupVersion::V2) => "2".into(),
                _ => "1".into(),
            },
            kernel_version: host::kernel_version(),
            operating_system: os,
            os_version,
            os_type: "linux".into(),
            architecture: std::env::consts::ARCH.into(),
            ncpu: host::cpu_count(),
            mem_total: host::mem_total(),
            index_server_address: "https://index.docker.io/v1/".into(),
            registry_config: registry_info(&live),
            name: host::hostname(),
            labels: live.labels,
            server_version: pouch_api::VERSION.into(),
            runtimes,
            default_runtime: cfg.default_runtime.clone(),
            live_restore_enabled: true,
            isolation: String::new(),
            init_binary: String::new(),
            security_options: {
                // Docker's default seccomp profile is applied to every unprivileged container.
                let mut o = vec!["name=seccomp,profile=builtin".to_string()];
                if cgroup == Some(host::CgroupVersion::V2) {
                    o.push("name=cgroupns".into());
                }
                if cfg.userns_remap.is_some() {
                    o.push("name=userns".into());
                }
                o
            },
            warnings,
            host_checks,
            ..Default::default()
        })
    }
}

/// `/info`'s `RegistryConfig` from the live config: insecure CIDRs (loopback always) and Docker
/// Hub's mirrors. (dockerd also lists each registry in `IndexConfigs`; that needs a typed entry
/// in the API crate first.)
fn registry_info(live: &crate::config::Reloadable) -> RegistryConfig {
    let mut cidrs = vec!["::1/128".to_string(), "127.0.0.0/8".to_string()];
    cidrs.extend(
        live.insecure_registries
            .iter()
            .filter(|r| r.contains('/'))
            .cloned(),
    );
    RegistryConfig {
        insecure_registry_cidrs: cidrs,
        mirrors: live
            .registry_mirrors
            .get("docker.io")
            .cloned()
            .unwrap_or_default(),
        ..Default::default()
    }
}

/// The filesystem type under the root, as docker reports "Backing Filesystem".
fn backing_fs(root: &std::path::Path) -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, mnt, fstype) = (f.next()?, f.next()?, f.next()?);
            root.starts_with(mnt)
                .then(|| (mnt.len(), fstype.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, t)| t)
        .unwrap_or_else(|| "unknown".into())
}
