//! What this host can and cannot do for pouch, each with how to fix it: shown by `pouch info`
//! (`HostChecks`, a pouch extension of `/info`) and as docker-style `Warnings`.

use std::path::{Path, PathBuf};

use pouch_api::types::HostCheck;
use pouch_sys::host;

use crate::System;

fn check(name: &str, ok: bool, detail: impl Into<String>, fix: &str) -> HostCheck {
    HostCheck {
        name: name.into(),
        ok,
        detail: detail.into(),
        fix: if ok { String::new() } else { fix.into() },
    }
}

fn in_path(bin: &Path) -> Option<PathBuf> {
    if bin.is_absolute() {
        return bin.exists().then(|| bin.to_path_buf());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.exists())
}

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// cgroup v1 controllers mounted under /sys/fs/cgroup, or v2's enabled controllers.
fn cgroup_controllers(v2: bool) -> Vec<String> {
    if v2 {
        return read("/sys/fs/cgroup/cgroup.controllers")
            .split_whitespace()
            .map(str::to_string)
            .collect();
    }
    read("/proc/cgroups")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[3] == "1").then(|| f[0].to_string())
        })
        .filter(|c| Path::new("/sys/fs/cgroup").join(c).exists())
        .collect()
}

impl System {
    pub(crate) fn host_checks(&self) -> Vec<HostCheck> {
        let cfg = &self.ctx.config;
        let mut out = Vec::new();
        out.push(check(
            "overlayfs",
            host::has_overlayfs(),
            "container root filesystems are overlay mounts",
            "load the module: modprobe overlay",
        ));
        let v2 = matches!(host::cgroup_version(), Ok(host::CgroupVersion::V2));
        let have = cgroup_controllers(v2);
        let want: &[&str] = if v2 {
            &["cpu", "cpuset", "io", "memory", "pids"]
        } else {
            &[
                "cpu", "cpuacct", "cpuset", "blkio", "memory", "pids", "devices",
            ]
        };
        let missing: Vec<&str> = want
            .iter()
            .copied()
            .filter(|c| !have.iter().any(|h| h == c))
            .collect();
        out.push(check(
            "cgroup controllers",
            missing.is_empty(),
            if missing.is_empty() {
                format!("cgroup v{}: {}", if v2 { 2 } else { 1 }, want.join(" "))
            } else {
                format!("missing: {}", missing.join(" "))
            },
            if v2 {
                "enable them for the root's children: echo '+cpu +cpuset +io +memory +pids' > \
                 /sys/fs/cgroup/cgroup.subtree_control"
            } else {
                "mount the missing v1 hierarchies under /sys/fs/cgroup (cgroupfs-mount) or boot \
                 with systemd.unified_cgroup_hierarchy=1"
            },
        ));
        let swap = self
            .ctx
            .cgroup_layout()
            .is_ok_and(|l| pouch_runtime::spec::swap_limit_supported(&l));
        out.push(check(
            "swap accounting",
            swap,
            "--memory-swap limits",
            "boot the kernel with swapaccount=1",
        ));
        out.push(check(
            "seccomp",
            read("/proc/self/status").contains("Seccomp:"),
            "the default seccomp profile",
            "use a kernel built with CONFIG_SECCOMP_FILTER",
        ));
        let userns = read("/proc/sys/user/max_user_namespaces")
            .trim()
            .parse::<u64>()
            .unwrap_or(0);
        out.push(check(
            "user namespaces",
            userns > 0,
            format!("user.max_user_namespaces = {userns}"),
            "sysctl -w user.max_user_namespaces=15000",
        ));
        let nft = [
            "/usr/lib/x86_64-linux-gnu/libnftables.so.1",
            "/usr/lib/aarch64-linux-gnu/libnftables.so.1",
            "/usr/lib64/libnftables.so.1",
            "/usr/lib/libnftables.so.1",
        ]
        .iter()
        .any(|p| Path::new(p).exists());
        out.push(check(
            "nftables",
            nft,
            "NAT and port publishing for bridge networks",
            "apt-get install libnftables1",
        ));
        out.push(check(
            "ipv4 forwarding",
            host::ipv4_forwarding(),
            "bridge networks reach outside the host",
            "sysctl -w net.ipv4.ip_forward=1",
        ));
        let lxcfs = in_path(&cfg.lxcfs_path);
        let fuse = Path::new("/dev/fuse").exists();
        out.push(check(
            "lxcfs",
            lxcfs.is_some() && fuse,
            match (&lxcfs, fuse) {
                (Some(p), true) => format!("{} (for --enable-lxcfs)", p.display()),
                (None, _) => "lxcfs not found (needed by --enable-lxcfs)".into(),
                (Some(_), false) => "/dev/fuse is missing (needed by --enable-lxcfs)".into(),
            },
            if lxcfs.is_none() {
                "apt-get install lxcfs"
            } else {
                "modprobe fuse"
            },
        ));
        let quota = pouch_volume::quota::quota_device(&cfg.root);
        out.push(check(
            "disk quota",
            quota.is_ok(),
            match &quota {
                Ok(dev) => format!("project quotas on {}", dev.display()),
                Err(e) => format!("--disk-quota unavailable: {e}"),
            },
            "put the root on ext4 (-O project,quota, mounted -o prjquota) or xfs (-o pquota)",
        ));
        let init = crate::containers::find_init().is_ok();
        out.push(check(
            "init",
            init,
            "tini-static for --init",
            "apt-get install tini",
        ));
        for (name, r) in &cfg.runtimes {
            let found = in_path(Path::new(&r.path));
            out.push(check(
                &format!("runtime {name}"),
                found.is_some(),
                r.path.clone(),
                "install it or fix its path in the daemon config",
            ));
        }
        out
    }
}
