//! cgroup limits with Docker's semantics and validation (moby `daemon/daemon_unix.go`).

use oci_spec::runtime::{
    LinuxCpu, LinuxCpuBuilder, LinuxMemory, LinuxMemoryBuilder, LinuxPids, LinuxPidsBuilder,
};

use super::cgroups::swap_limit_supported;
use super::{CgroupLayout, Resources, SpecError};

/// Docker refuses smaller memory limits: the runtime itself would not fit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

pub(super) struct ResourcePlan {
    pub memory: Option<LinuxMemory>,
    pub cpu: Option<LinuxCpu>,
    pub pids: Option<LinuxPids>,
}

pub(super) fn build(r: &Resources, layout: &CgroupLayout) -> Result<ResourcePlan, SpecError> {
    Ok(ResourcePlan {
        memory: memory(r, swap_limit_supported(layout))?,
        cpu: cpu(r)?,
        pids: pids(r),
    })
}

/// Memory and memory+swap. A swap value of `-1` is unlimited; no swap value with a memory limit
/// means twice the memory, as in Docker. Without swap accounting the swap limit is dropped with a
/// warning (Docker warns the same way) because the runtime could not write it.
fn memory(r: &Resources, swap_supported: bool) -> Result<Option<LinuxMemory>, SpecError> {
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
    let Some(limit) = limit else {
        return Ok(None);
    };
    let mut b = LinuxMemoryBuilder::default().limit(limit);
    match swap {
        Some(s) if swap_supported => b = b.swap(s),
        Some(_) => tracing::warn!(
            "the kernel does not support swap limits or the memory cgroup is not mounted; \
             memory is limited without swap"
        ),
        None => {}
    }
    Ok(Some(b.build()?))
}

/// `<= 0` lifts the limit (`-1` in OCI), as Docker's API allows.
fn pids(r: &Resources) -> Option<LinuxPids> {
    let limit = r.pids_limit?;
    LinuxPidsBuilder::default()
        .limit(if limit > 0 { limit } else { -1 })
        .build()
        .ok()
}

fn cpu(r: &Resources) -> Result<Option<LinuxCpu>, SpecError> {
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
        validate_cpuset(list)?;
    }
    if shares.is_none() && quota.is_none() && period.is_none() && cpus.is_none() {
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
    Ok(Some(b.build()?))
}

/// Parses a cpuset list (`0-2,5`) and checks that every CPU is online, as Docker does, so that
/// a typo fails with a clear message instead of an `EINVAL` from the runtime.
fn validate_cpuset(list: &str) -> Result<(), SpecError> {
    let requested = parse_cpuset(list)
        .ok_or_else(|| SpecError::Resources(format!("invalid value {list:?} for cpuset cpus")))?;
    let Ok(online) = std::fs::read_to_string("/sys/devices/system/cpu/online") else {
        return Ok(());
    };
    let Some(online) = parse_cpuset(online.trim()) else {
        return Ok(());
    };
    if requested.iter().any(|cpu| !online.contains(cpu)) {
        return Err(SpecError::Resources(format!(
            "requested CPUs are not available - requested {list}, available: {}",
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
        Ok(super::memory(&r, true)?.map(|m| (m.limit().unwrap(), m.swap())))
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
        let m = super::memory(&r, false).unwrap().unwrap();
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
        let c = cpu(&r).unwrap().unwrap();
        assert_eq!(c.shares(), Some(512));
        assert_eq!(c.quota(), Some(50_000));
        assert_eq!(c.period(), Some(100_000));
        assert_eq!(c.cpus().as_deref(), Some("0"));
        assert!(cpu(&Resources::default()).unwrap().is_none());
        let zeros = Resources {
            cpu_shares: Some(0),
            cpu_quota: Some(0),
            cpu_period: Some(0),
            cpuset_cpus: Some(String::new()),
            ..Default::default()
        };
        assert!(cpu(&zeros).unwrap().is_none());
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
            assert!(matches!(cpu(&r), Err(SpecError::Resources(_))), "{r:?}");
        }
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
