//! cgroup limits with Docker's semantics and validation (moby `daemon/daemon_unix.go`).
//!
//! Where Docker warns and drops a limit the host cannot enforce, pouch refuses the container
//! with a message naming the missing kernel feature: a limit that was asked for is never
//! silently absent. The only exception is the implicit swap limit (twice the memory) that
//! Docker adds by itself; it is dropped without swap accounting, as Docker drops it.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxBlockIoBuilder, LinuxCpu, LinuxCpuBuilder, LinuxMemory, LinuxMemoryBuilder,
    LinuxPids, LinuxPidsBuilder, LinuxThrottleDevice, LinuxThrottleDeviceBuilder,
};

use super::cgroups::{HostSupport, host_support};
use super::{BlkioThrottle, CgroupLayout, Resources, SpecError};

/// Docker refuses smaller memory limits: the runtime itself would not fit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

pub(super) struct ResourcePlan {
    pub memory: Option<LinuxMemory>,
    pub cpu: Option<LinuxCpu>,
    pub pids: Option<LinuxPids>,
    pub blkio: Option<LinuxBlockIo>,
}

pub(super) fn build(r: &Resources, layout: &CgroupLayout) -> Result<ResourcePlan, SpecError> {
    build_with(r, host_support(layout))
}

pub(super) fn build_with(r: &Resources, host: HostSupport) -> Result<ResourcePlan, SpecError> {
    Ok(ResourcePlan {
        memory: memory(r, host)?,
        cpu: cpu(r, host)?,
        pids: pids(r),
        blkio: blkio(r, host)?,
    })
}

fn unsupported(what: &str, why: &str) -> SpecError {
    SpecError::Resources(format!("{what} cannot be enforced on this host: {why}"))
}

/// Memory, memory+swap, reservation, swappiness and the OOM killer switch. A swap value of `-1`
/// is unlimited; no swap value with a memory limit means twice the memory, as in Docker.
fn memory(r: &Resources, host: HostSupport) -> Result<Option<LinuxMemory>, SpecError> {
    let limit = r.memory.filter(|m| *m > 0);
    if limit.is_some_and(|m| m < MIN_MEMORY) {
        return Err(SpecError::Resources(
            "minimum memory limit allowed is 6MB".into(),
        ));
    }
    let requested_swap = r.memory_swap.filter(|s| *s != 0);
    let swap = match (limit, requested_swap) {
        (None, Some(s)) if s > 0 => {
            return Err(SpecError::Resources(
                "you should always set the memory limit when using a memoryswap limit".into(),
            ));
        }
        (None, _) => None,
        (Some(m), Some(s)) if s > 0 && s < m => {
            return Err(SpecError::Resources(
                "minimum memoryswap limit should be larger than memory limit".into(),
            ));
        }
        (Some(_), Some(s)) if s < 0 => Some(-1),
        (Some(_), Some(s)) => Some(s),
        (Some(m), None) => Some(m.saturating_mul(2)),
    };
    if requested_swap.is_some_and(|s| s > 0) && !host.swap {
        return Err(unsupported(
            "--memory-swap",
            "the kernel does not account swap (no memory.memsw.limit_in_bytes; boot with swapaccount=1)",
        ));
    }
    let reservation = r.memory_reservation.filter(|m| *m > 0);
    if let (Some(res), Some(m)) = (reservation, limit)
        && res > m
    {
        return Err(SpecError::Resources(
            "Minimum memory limit can not be less than memory reservation limit, see usage".into(),
        ));
    }
    let swappiness = r.memory_swappiness.filter(|s| *s != -1);
    if let Some(s) = swappiness {
        if !(0..=100).contains(&s) {
            return Err(SpecError::Resources(format!(
                "invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
        if !host.swappiness {
            return Err(unsupported(
                "--memory-swappiness",
                "the memory cgroup has no swappiness knob (cgroup v2 has none)",
            ));
        }
    }
    if r.oom_kill_disable && !host.oom_kill_disable {
        return Err(unsupported(
            "--oom-kill-disable",
            "the memory cgroup cannot disable the OOM killer (cgroup v2 cannot)",
        ));
    }
    if limit.is_none() && reservation.is_none() && swappiness.is_none() && !r.oom_kill_disable {
        return Ok(None);
    }
    let mut b = LinuxMemoryBuilder::default();
    if let Some(l) = limit {
        b = b.limit(l);
    }
    match swap {
        Some(s) if host.swap => b = b.swap(s),
        Some(_) => tracing::warn!(
            "the kernel does not support swap limits or the memory cgroup is not mounted; \
             memory is limited without swap"
        ),
        None => {}
    }
    if let Some(res) = reservation {
        b = b.reservation(res);
    }
    if let Some(s) = swappiness {
        b = b.swappiness(s as u64);
    }
    if r.oom_kill_disable {
        b = b.disable_oom_killer(true);
    }
    Ok(Some(b.build()?))
}

/// `--blkio-weight` and the per-device throttles; device paths become major:minor numbers.
fn blkio(r: &Resources, host: HostSupport) -> Result<Option<LinuxBlockIo>, SpecError> {
    let weight = r.blkio_weight.filter(|w| *w != 0);
    if let Some(w) = weight {
        if !(10..=1000).contains(&w) {
            return Err(SpecError::Resources(format!(
                "range of blkio weight is from 10 to 1000, got {w}"
            )));
        }
        if !host.blkio_weight {
            return Err(unsupported(
                "--blkio-weight",
                "no block device uses the CFQ or BFQ I/O scheduler (see /sys/block/*/queue/scheduler)",
            ));
        }
    }
    let lists = [
        ("--device-read-bps", &r.device_read_bps),
        ("--device-write-bps", &r.device_write_bps),
        ("--device-read-iops", &r.device_read_iops),
        ("--device-write-iops", &r.device_write_iops),
    ];
    let mut resolved: Vec<Vec<LinuxThrottleDevice>> = Vec::with_capacity(4);
    for (flag, list) in lists {
        if !list.is_empty() && !host.blkio_throttle {
            return Err(unsupported(
                flag,
                "the blkio (io) cgroup has no throttling files",
            ));
        }
        resolved.push(list.iter().map(throttle).collect::<Result<_, _>>()?);
    }
    if weight.is_none() && resolved.iter().all(Vec::is_empty) {
        return Ok(None);
    }
    let mut b = LinuxBlockIoBuilder::default();
    if let Some(w) = weight {
        b = b.weight(w);
    }
    let mut it = resolved.into_iter().map(|v| (!v.is_empty()).then_some(v));
    if let Some(v) = it.next().flatten() {
        b = b.throttle_read_bps_device(v);
    }
    if let Some(v) = it.next().flatten() {
        b = b.throttle_write_bps_device(v);
    }
    if let Some(v) = it.next().flatten() {
        b = b.throttle_read_iops_device(v);
    }
    if let Some(v) = it.next().flatten() {
        b = b.throttle_write_iops_device(v);
    }
    Ok(Some(b.build()?))
}

/// The major:minor of a block device node, as the blkio cgroup files want them.
pub(super) fn block_device_numbers(path: &std::path::Path) -> Result<(i64, i64), SpecError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| SpecError::Resources(format!("invalid device {}: {e}", path.display())))?;
    if !meta.file_type().is_block_device() {
        return Err(SpecError::Resources(format!(
            "{} is not a block device",
            path.display()
        )));
    }
    let rdev = meta.rdev();
    Ok((
        nix::sys::stat::major(rdev) as i64,
        nix::sys::stat::minor(rdev) as i64,
    ))
}

fn throttle(t: &BlkioThrottle) -> Result<LinuxThrottleDevice, SpecError> {
    let (major, minor) = block_device_numbers(&t.path)?;
    Ok(LinuxThrottleDeviceBuilder::default()
        .major(major)
        .minor(minor)
        .rate(t.rate)
        .build()?)
}

/// `<= 0` lifts the limit (`-1` in OCI), as Docker's API allows.
fn pids(r: &Resources) -> Option<LinuxPids> {
    let limit = r.pids_limit?;
    LinuxPidsBuilder::default()
        .limit(if limit > 0 { limit } else { -1 })
        .build()
        .ok()
}

fn cpu(r: &Resources, host: HostSupport) -> Result<Option<LinuxCpu>, SpecError> {
    let shares = r.cpu_shares.filter(|s| *s > 0);
    let quota = r.cpu_quota.filter(|q| *q != 0);
    if quota.is_some_and(|q| (1..1000).contains(&q)) {
        return Err(SpecError::Resources(
            "cpu cfs quota can not be less than 1ms (i.e. 1000)".into(),
        ));
    }
    let period = r.cpu_period.filter(|p| *p != 0);
    if period.is_some_and(|p| !(1000..=1_000_000).contains(&p)) {
        return Err(SpecError::Resources(
            "cpu cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
                .into(),
        ));
    }
    let cpus = r.cpuset_cpus.as_deref().filter(|s| !s.is_empty());
    if let Some(list) = cpus {
        validate_cpuset(list, "cpus", "/sys/devices/system/cpu/online")?;
    }
    let mems = r.cpuset_mems.as_deref().filter(|s| !s.is_empty());
    if let Some(list) = mems {
        validate_cpuset(list, "mems", "/sys/devices/system/node/online")?;
    }
    if (cpus.is_some() || mems.is_some()) && !host.cpuset {
        return Err(unsupported(
            "--cpuset-cpus/--cpuset-mems",
            "the cpuset cgroup is not mounted",
        ));
    }
    if shares.is_none() && quota.is_none() && period.is_none() && cpus.is_none() && mems.is_none() {
        return Ok(None);
    }
    let mut b = LinuxCpuBuilder::default();
    if let Some(s) = shares {
        b = b.shares(s);
    }
    if let Some(q) = quota {
        b = b.quota(q.max(-1));
    }
    if let Some(p) = period {
        b = b.period(p);
    }
    if let Some(c) = cpus {
        b = b.cpus(c.to_string());
    }
    if let Some(m) = mems {
        b = b.mems(m.to_string());
    }
    Ok(Some(b.build()?))
}

/// Parses a cpuset list (`0-2,5`) and checks that every CPU is online, as Docker does, so that
/// a typo fails with a clear message instead of an `EINVAL` from the runtime.
fn validate_cpuset(list: &str, what: &str, online_file: &str) -> Result<(), SpecError> {
    let requested = parse_cpuset(list)
        .ok_or_else(|| SpecError::Resources(format!("invalid value {list:?} for cpuset {what}")))?;
    let Ok(online) = std::fs::read_to_string(online_file) else {
        return Ok(());
    };
    let Some(online) = parse_cpuset(online.trim()) else {
        return Ok(());
    };
    if requested.iter().any(|cpu| !online.contains(cpu)) {
        let name = if what == "cpus" {
            "CPUs"
        } else {
            "memory nodes"
        };
        return Err(SpecError::Resources(format!(
            "requested {name} are not available - requested {list}, available: {}",
            format_cpuset(&online)
        )));
    }
    Ok(())
}

fn parse_cpuset(list: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.parse::<u32>().ok()?, hi.parse::<u32>().ok()?),
            None => {
                let n = part.parse::<u32>().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi > 8192 {
            return None;
        }
        cpus.extend(lo..=hi);
    }
    Some(cpus)
}

fn format_cpuset(cpus: &[u32]) -> String {
    match (cpus.first(), cpus.last()) {
        (Some(first), Some(last)) if cpus.len() as u32 == last - first + 1 => {
            format!("{first}-{last}")
        }
        _ => cpus
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1024 * 1024;

    fn mem(
        memory: Option<i64>,
        swap: Option<i64>,
    ) -> Result<Option<(i64, Option<i64>)>, SpecError> {
        let r = Resources {
            memory,
            memory_swap: swap,
            ..Default::default()
        };
        Ok(super::memory(&r, HostSupport::ALL)?.map(|m| (m.limit().unwrap(), m.swap())))
    }

    #[test]
    fn swap_follows_docker_semantics() {
        assert_eq!(mem(None, None).unwrap(), None);
        assert_eq!(
            mem(Some(64 * MIB), None).unwrap(),
            Some((64 * MIB, Some(128 * MIB)))
        );
        assert_eq!(
            mem(Some(64 * MIB), Some(0)).unwrap(),
            Some((64 * MIB, Some(128 * MIB)))
        );
        assert_eq!(
            mem(Some(64 * MIB), Some(-1)).unwrap(),
            Some((64 * MIB, Some(-1)))
        );
        assert_eq!(
            mem(Some(64 * MIB), Some(64 * MIB)).unwrap(),
            Some((64 * MIB, Some(64 * MIB)))
        );
        assert_eq!(
            mem(Some(64 * MIB), Some(96 * MIB)).unwrap(),
            Some((64 * MIB, Some(96 * MIB)))
        );
        assert_eq!(mem(None, Some(-1)).unwrap(), None);
    }

    #[test]
    fn invalid_memory_settings_are_refused() {
        assert!(mem(Some(MIB), None).is_err());
        assert!(mem(Some(64 * MIB), Some(32 * MIB)).is_err());
        let err = mem(None, Some(64 * MIB)).unwrap_err();
        assert!(
            err.to_string().contains("always set the memory limit"),
            "{err}"
        );
    }

    #[test]
    fn swap_is_dropped_without_accounting() {
        let r = Resources {
            memory: Some(64 * MIB),
            ..Default::default()
        };
        let host = HostSupport {
            swap: false,
            ..HostSupport::ALL
        };
        let m = super::memory(&r, host).unwrap().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(64 * MIB), None));
    }

    #[test]
    fn pids_limit_zero_or_negative_is_unlimited() {
        let p = |v| {
            pids(&Resources {
                pids_limit: v,
                ..Default::default()
            })
            .map(|p| p.limit())
        };
        assert_eq!(p(None), None);
        assert_eq!(p(Some(20)), Some(20));
        assert_eq!(p(Some(0)), Some(-1));
        assert_eq!(p(Some(-5)), Some(-1));
    }

    #[test]
    fn cpu_settings() {
        let r = Resources {
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        };
        let c = cpu(&r, HostSupport::ALL).unwrap().unwrap();
        assert_eq!(c.shares(), Some(512));
        assert_eq!(c.quota(), Some(50_000));
        assert_eq!(c.period(), Some(100_000));
        assert_eq!(c.cpus().as_deref(), Some("0"));
        assert!(
            cpu(&Resources::default(), HostSupport::ALL)
                .unwrap()
                .is_none()
        );
        let zeros = Resources {
            cpu_shares: Some(0),
            cpu_quota: Some(0),
            cpu_period: Some(0),
            cpuset_cpus: Some(String::new()),
            ..Default::default()
        };
        assert!(cpu(&zeros, HostSupport::ALL).unwrap().is_none());
    }

    #[test]
    fn cpu_validation() {
        let bad = [
            Resources {
                cpu_quota: Some(999),
                ..Default::default()
            },
            Resources {
                cpu_period: Some(999),
                ..Default::default()
            },
            Resources {
                cpu_period: Some(1_000_001),
                ..Default::default()
            },
            Resources {
                cpuset_cpus: Some("0-".into()),
                ..Default::default()
            },
            Resources {
                cpuset_cpus: Some("4096".into()),
                ..Default::default()
            },
        ];
        for r in bad {
            assert!(
                matches!(cpu(&r, HostSupport::ALL), Err(SpecError::Resources(_))),
                "{r:?}"
            );
        }
    }

    #[test]
    fn memory_and_blkio_knobs_reach_the_plan() {
        let dev = std::fs::read_dir("/sys/block").ok().and_then(|d| {
            d.flatten()
                .map(|e| std::path::Path::new("/dev").join(e.file_name()))
                .find(|p| p.exists())
        });
        let r = Resources {
            memory: Some(64 * MIB),
            memory_reservation: Some(32 * MIB),
            memory_swappiness: Some(10),
            oom_kill_disable: true,
            blkio_weight: Some(300),
            device_read_bps: dev
                .iter()
                .map(|p| BlkioThrottle {
                    path: p.clone(),
                    rate: 1 << 20,
                })
                .collect(),
            ..Default::default()
        };
        let plan = build_with(&r, HostSupport::ALL).unwrap();
        let m = plan.memory.unwrap();
        assert_eq!(m.reservation(), Some(32 * MIB));
        assert_eq!(m.swappiness(), Some(10));
        assert_eq!(m.disable_oom_killer(), Some(true));
        let b = plan.blkio.unwrap();
        assert_eq!(b.weight(), Some(300));
        if dev.is_some() {
            let t = &b.throttle_read_bps_device().as_ref().unwrap()[0];
            assert_eq!(t.rate(), 1 << 20);
            assert!(t.major() > 0);
        }

        let refused = |r: Resources, host: HostSupport, words: &str| {
            let err = build_with(&r, host)
                .err()
                .unwrap_or_else(|| panic!("{r:?} accepted"));
            assert!(err.to_string().contains(words), "{err} vs {words}");
        };
        let v2ish = HostSupport {
            swappiness: false,
            oom_kill_disable: false,
            blkio_weight: false,
            ..HostSupport::ALL
        };
        refused(
            Resources {
                memory_swappiness: Some(10),
                ..Default::default()
            },
            v2ish,
            "--memory-swappiness cannot be enforced",
        );
        refused(
            Resources {
                oom_kill_disable: true,
                ..Default::default()
            },
            v2ish,
            "--oom-kill-disable cannot be enforced",
        );
        refused(
            Resources {
                blkio_weight: Some(300),
                ..Default::default()
            },
            v2ish,
            "CFQ or BFQ",
        );
        refused(
            Resources {
                blkio_weight: Some(5),
                ..Default::default()
            },
            HostSupport::ALL,
            "range of blkio weight",
        );
        refused(
            Resources {
                memory: Some(32 * MIB),
                memory_reservation: Some(64 * MIB),
                ..Default::default()
            },
            HostSupport::ALL,
            "memory reservation",
        );
        refused(
            Resources {
                device_write_iops: vec![BlkioThrottle {
                    path: "/dev/null".into(),
                    rate: 10,
                }],
                ..Default::default()
            },
            HostSupport::ALL,
            "not a block device",
        );
        refused(
            Resources {
                memory_swappiness: Some(101),
                ..Default::default()
            },
            HostSupport::ALL,
            "swappiness range",
        );
    }

    #[test]
    fn cpuset_parsing() {
        assert_eq!(parse_cpuset("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpuset("3"), Some(vec![3]));
        assert_eq!(parse_cpuset("2-1"), None);
        assert_eq!(parse_cpuset("a"), None);
        assert_eq!(format_cpuset(&[0, 1]), "0-1");
        assert_eq!(format_cpuset(&[0, 2]), "0,2");
    }
}
