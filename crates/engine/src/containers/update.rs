//! `POST /containers/{id}/update`: new limits and restart policy for a container. A running
//! container's cgroup files are written at once (v1 or v2); the stored `HostConfig` keeps the
//! new values so that inspect shows them and the next start applies them.
//!
//! Also the one place that turns a stored `HostConfig` into [`spec::Resources`] and a cgroup
//! path, for start and update alike.

use std::path::Path;

use pouch_api::types::{ContainerUpdateBody, HostConfig, ThrottleDevice};
use pouch_runtime::spec::{self, BlkioThrottle};

use crate::Containers;
use crate::context::to_completion;
use crate::error::{Error, Result};

/// Where containers' cgroups live unless `--cgroup-parent` says otherwise.
const DEFAULT_PARENT: &str = "/pouch";

/// The container's absolute cgroup path: `<parent>/<id>`. A relative `--cgroup-parent` is taken
/// from the hierarchy root, as Docker's cgroupfs driver takes it; the spec generator refuses
/// `..` and empty segments.
pub(crate) fn cgroups_path(hc: &HostConfig, id: &str) -> String {
    let parent = hc.cgroup_parent.trim_matches('/');
    if parent.is_empty() {
        format!("{DEFAULT_PARENT}/{id}")
    } else {
        format!("/{parent}/{id}")
    }
}

fn throttles(list: &[ThrottleDevice]) -> Vec<BlkioThrottle> {
    list.iter()
        .map(|t| BlkioThrottle {
            path: t.path.clone().into(),
            rate: t.rate,
        })
        .collect()
}

/// The limits of a stored `HostConfig`, with Docker's units and sentinels. Limits pouch cannot
/// apply are refused rather than dropped.
pub(crate) fn resources_from(hc: &HostConfig) -> Result<spec::Resources> {
    if !hc.blkio_weight_device.is_empty() {
        return Err(Error::invalid(
            "--blkio-weight-device is not supported; use --blkio-weight",
        ));
    }
    let (cpu_quota, cpu_period) = if hc.nano_cpus > 0 {
        (Some(hc.nano_cpus / 10_000), Some(100_000))
    } else {
        (
            (hc.cpu_quota != 0).then_some(hc.cpu_quota),
            (hc.cpu_period > 0).then_some(hc.cpu_period as u64),
        )
    };
    Ok(spec::Resources {
        memory: (hc.memory > 0).then_some(hc.memory),
        memory_swap: (hc.memory_swap != 0).then_some(hc.memory_swap),
        pids_limit: hc.pids_limit.filter(|p| *p != 0),
        cpu_shares: (hc.cpu_shares > 0).then_some(hc.cpu_shares as u64),
        cpu_quota,
        cpu_period,
        cpuset_cpus: (!hc.cpuset_cpus.is_empty()).then(|| hc.cpuset_cpus.clone()),
        cpuset_mems: (!hc.cpuset_mems.is_empty()).then(|| hc.cpuset_mems.clone()),
        memory_reservation: (hc.memory_reservation > 0).then_some(hc.memory_reservation),
        memory_swappiness: hc.memory_swappiness.filter(|s| *s != -1),
        oom_kill_disable: hc.oom_kill_disable == Some(true),
        blkio_weight: (hc.blkio_weight > 0).then_some(hc.blkio_weight),
        device_read_bps: throttles(&hc.blkio_device_read_bps),
        device_write_bps: throttles(&hc.blkio_device_write_bps),
        device_read_iops: throttles(&hc.blkio_device_read_iops),
        device_write_iops: throttles(&hc.blkio_device_write_iops),
    })
}

/// Folds an update into a `HostConfig` with Docker's rules (moby `container.UpdateContainer`),
/// returning only the limits that changed, ready to be written to the cgroup.
pub(crate) fn merge_update(
    hc: &mut HostConfig,
    u: &ContainerUpdateBody,
) -> Result<spec::Resources> {
    let conflict = |m: &str| Err(Error::invalid(m.to_string()));
    if u.nano_cpus > 0 && hc.cpu_period > 0 && u.cpu_period == 0 {
        return conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        );
    }
    if u.nano_cpus > 0 && hc.cpu_quota > 0 && u.cpu_quota == 0 {
        return conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        );
    }
    if (u.cpu_period > 0 || u.cpu_quota > 0) && hc.nano_cpus > 0 && u.nano_cpus == 0 {
        return conflict(
            "Conflicting options: CPU Period/Quota cannot be updated as NanoCPUs has already been set",
        );
    }
    if u.nano_cpus > 0 && (u.cpu_period > 0 || u.cpu_quota > 0) {
        return conflict("Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set");
    }
    if u.kernel_memory != 0 {
        return conflict("Kernel memory limits are not supported (the kernel dropped them)");
    }
    if !u.blkio_weight_device.is_empty() {
        return conflict("--blkio-weight-device is not supported");
    }
    let mut changed = spec::Resources::default();
    if u.memory != 0 || u.memory_swap != 0 {
        let memory = if u.memory != 0 { u.memory } else { hc.memory };
        // 0 keeps Docker's implicit swap limit (twice the memory) following the new memory.
        let swap = if u.memory_swap != 0 {
            u.memory_swap
        } else {
            hc.memory_swap
        };
        if memory <= 0 && swap > 0 {
            return conflict("You should always set the Memory limit when using Memoryswap limit");
        }
        if swap > 0 && memory > swap {
            return conflict(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            );
        }
        hc.memory = memory;
        hc.memory_swap = swap;
        changed.memory = Some(memory);
        changed.memory_swap = (swap != 0).then_some(swap);
    }
    if u.memory_reservation != 0 {
        hc.memory_reservation = u.memory_reservation;
        changed.memory_reservation = Some(u.memory_reservation);
    }
    if let Some(s) = u.memory_swappiness.filter(|s| *s != -1) {
        hc.memory_swappiness = Some(s);
        changed.memory_swappiness = Some(s);
    }
    if u.cpu_shares != 0 {
        hc.cpu_shares = u.cpu_shares;
        changed.cpu_shares = Some(u.cpu_shares.max(0) as u64);
    }
    if u.nano_cpus > 0 {
        hc.nano_cpus = u.nano_cpus;
        changed.cpu_quota = Some(u.nano_cpus / 10_000);
        changed.cpu_period = Some(100_000);
    }
    if u.cpu_period != 0 {
        hc.cpu_period = u.cpu_period;
        changed.cpu_period = Some(u.cpu_period.max(0) as u64);
    }
    if u.cpu_quota != 0 {
        hc.cpu_quota = u.cpu_quota;
        changed.cpu_quota = Some(u.cpu_quota);
    }
    if !u.cpuset_cpus.is_empty() {
        hc.cpuset_cpus = u.cpuset_cpus.clone();
        changed.cpuset_cpus = Some(u.cpuset_cpus.clone());
    }
    if !u.cpuset_mems.is_empty() {
        hc.cpuset_mems = u.cpuset_mems.clone();
        changed.cpuset_mems = Some(u.cpuset_mems.clone());
    }
    if let Some(p) = u.pids_limit.filter(|p| *p != 0) {
        hc.pids_limit = Some(p);
        changed.pids_limit = Some(p);
    } else if u.pids_limit == Some(0) {
        // Docker: 0 (like -1) lifts the limit.
        hc.pids_limit = Some(-1);
        changed.pids_limit = Some(-1);
    }
    if u.blkio_weight != 0 {
        hc.blkio_weight = u.blkio_weight;
        changed.blkio_weight = Some(u.blkio_weight);
    }
    let lists = [
        (
            &u.blkio_device_read_bps,
            &mut hc.blkio_device_read_bps,
            &mut changed.device_read_bps,
        ),
        (
            &u.blkio_device_write_bps,
            &mut hc.blkio_device_write_bps,
            &mut changed.device_write_bps,
        ),
        (
            &u.blkio_device_read_iops,
            &mut hc.blkio_device_read_iops,
            &mut changed.device_read_iops,
        ),
        (
            &u.blkio_device_write_iops,
            &mut hc.blkio_device_write_iops,
            &mut changed.device_write_iops,
        ),
    ];
    for (new, stored, out) in lists {
        if !new.is_empty() {
            *stored = new.clone();
            *out = throttles(new);
        }
    }
    if let Some(rp) = u.restart_policy.as_ref().filter(|rp| !rp.name.is_empty()) {
        if hc.auto_remove && rp.name != "no" {
            return conflict(
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
            );
        }
        if !matches!(
            rp.name.as_str(),
            "no" | "always" | "unless-stopped" | "on-failure"
        ) {
            return conflict(&format!("invalid restart policy: {}", rp.name));
        }
        if rp.maximum_retry_count != 0 && rp.name != "on-failure" {
            return conflict(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'",
            );
        }
        hc.restart_policy = rp.clone();
    }
    Ok(changed)
}

/// Writes the files in order; a write the kernel refuses is retried once after the rest, which
/// resolves v1's ordering rule between the memory and memory+swap limits in either direction.
fn apply_writes(writes: &[spec::CgroupWrite]) -> Result<()> {
    let write = |w: &spec::CgroupWrite| std::fs::write(&w.path, &w.value);
    let failed: Vec<&spec::CgroupWrite> = writes.iter().filter(|w| write(w).is_err()).collect();
    for w in failed {
        write(w).map_err(|e| {
            Error::internal(format!(
                "cannot set {} to {:?}: {e}",
                Path::new(&w.path).display(),
                w.value
            ))
        })?;
    }
    Ok(())
}

impl Containers {
    pub async fn update_container(
        &self,
        name: &str,
        u: ContainerUpdateBody,
    ) -> Result<Vec<String>> {
        let name = name.to_string();
        let this = self.clone();
        to_completion(async move { this.update_container_now(&name, u).await }).await
    }

    /// The operation itself; see [`to_completion`].
    async fn update_container_now(
        &self,
        name: &str,
        u: ContainerUpdateBody,
    ) -> Result<Vec<String>> {
        let c = self.ctx.resolve_container(name)?;
        let live = self.live.get(&c.id);
        let _op = live.op.lock().await;
        let mut c = self
            .ctx
            .store
            .container(&c.id)?
            .ok_or_else(|| Error::not_found(format!("No such container: {name}")))?;
        let mut hc = c.host_config.clone();
        let changed = merge_update(&mut hc, &u)?;
        let layout = self.ctx.cgroup_layout()?;
        let path = cgroups_path(&c.host_config, &c.id);
        // Validated whether or not the container runs, so a stopped container cannot store
        // limits it could never start with.
        let writes = spec::cgroup_writes(&changed, &layout, &path)
            .map_err(|e| Error::invalid(e.to_string()))?;
        // A restarting container picks the stored values up when it starts again.
        if c.state.status.is_running() {
            let w = writes.clone();
            tokio::task::spawn_blocking(move || apply_writes(&w))
                .await
                .map_err(|e| Error::internal(e.to_string()))??;
        }
        c.host_config = hc;
        if !u.disk_quota.is_empty() {
            let rules = u.disk_quota.clone();
            let mut rec = c.clone();
            c = tokio::task::spawn_blocking({
                let e = self.clone();
                move || e.update_disk_quota(&mut rec, &rules).map(|()| rec)
            })
            .await
            .map_err(|e| Error::internal(e.to_string()))??;
        }
        self.ctx
            .store
            .update_container_host_config(&c.id, &c.host_config)?;
        self.ctx.emit_container(&c, "update", &[]);
        tracing::info!(container = %c.id, writes = writes.len(), "updated");
        Ok(Vec::new())
    }

    /// Limits libcontainer 0.7.0 ignores in the spec (it never disables the OOM killer), written
    /// after create and before the process starts.
    pub(crate) fn apply_post_create(&self, c: &crate::store::ContainerRecord) -> Result<()> {
        if c.host_config.oom_kill_disable != Some(true) {
            return Ok(());
        }
        let layout = self.ctx.cgroup_layout()?;
        let path = cgroups_path(&c.host_config, &c.id);
        if let Some(dir) = spec::cgroup_dir(&layout, "memory", &path) {
            std::fs::write(dir.join("memory.oom_control"), "1")
                .map_err(|e| Error::internal(format!("cannot disable the OOM killer: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1 << 20;

    #[test]
    fn cgroup_paths() {
        let mut hc = HostConfig::default();
        assert_eq!(cgroups_path(&hc, "abc"), "/pouch/abc");
        hc.cgroup_parent = "mine/sub/".into();
        assert_eq!(cgroups_path(&hc, "abc"), "/mine/sub/abc");
        hc.cgroup_parent = "/abs".into();
        assert_eq!(cgroups_path(&hc, "abc"), "/abs/abc");
    }

    #[test]
    fn memory_update_follows_docker() {
        let mut hc = HostConfig {
            memory: 64 * MIB,
            ..Default::default()
        };
        // The implicit swap limit follows the memory either way.
        let up = ContainerUpdateBody {
            memory: 256 * MIB,
            ..Default::default()
        };
        let r = merge_update(&mut hc.clone(), &up).unwrap();
        assert_eq!((r.memory, r.memory_swap), (Some(256 * MIB), None));
        let down = ContainerUpdateBody {
            memory: 32 * MIB,
            ..Default::default()
        };
        let r = merge_update(&mut hc, &down).unwrap();
        assert_eq!((r.memory, r.memory_swap), (Some(32 * MIB), None));
        assert_eq!((hc.memory, hc.memory_swap), (32 * MIB, 0));
        // An explicit swap limit must stay above the memory.
        hc.memory_swap = 64 * MIB;
        assert!(merge_update(&mut hc.clone(), &up).is_err());
        let both = ContainerUpdateBody {
            memory: 256 * MIB,
            memory_swap: -1,
            ..Default::default()
        };
        let r = merge_update(&mut hc, &both).unwrap();
        assert_eq!((r.memory, r.memory_swap), (Some(256 * MIB), Some(-1)));
    }

    #[test]
    fn cpu_conflicts_and_restart_policy() {
        let mut hc = HostConfig {
            cpu_period: 100_000,
            ..Default::default()
        };
        let nano = ContainerUpdateBody {
            nano_cpus: 500_000_000,
            ..Default::default()
        };
        assert!(merge_update(&mut hc, &nano).is_err());
        let mut hc = HostConfig::default();
        let r = merge_update(&mut hc, &nano).unwrap();
        assert_eq!((r.cpu_quota, r.cpu_period), (Some(50_000), Some(100_000)));
        assert_eq!(resources_from(&hc).unwrap().cpu_quota, Some(50_000));
        hc.blkio_weight_device = vec![pouch_api::types::WeightDevice {
            path: "/dev/vda".into(),
            weight: 100,
        }];
        assert!(resources_from(&hc).is_err());

        let rp = ContainerUpdateBody {
            restart_policy: Some(pouch_api::types::RestartPolicy {
                name: "on-failure".into(),
                maximum_retry_count: 3,
            }),
            ..Default::default()
        };
        let r = merge_update(&mut hc, &rp).unwrap();
        assert_eq!(r, spec::Resources::default());
        assert_eq!(hc.restart_policy.maximum_retry_count, 3);
        hc.auto_remove = true;
        assert!(merge_update(&mut hc, &rp).is_err());
    }

    #[test]
    fn pids_zero_lifts_the_limit() {
        let mut hc = HostConfig {
            pids_limit: Some(20),
            ..Default::default()
        };
        let u = ContainerUpdateBody {
            pids_limit: Some(0),
            ..Default::default()
        };
        let r = merge_update(&mut hc, &u).unwrap();
        assert_eq!(r.pids_limit, Some(-1));
        assert_eq!(hc.pids_limit, Some(-1));
    }
}
