//! Changing a running container's limits (`docker update`): the same [`Resources`] the spec
//! generator validates, turned into writes of the container's cgroup files on v1 or v2.
//!
//! The engine writes these files itself: the runtimes' `update` commands differ (libcontainer has
//! none), and the files are the one interface every runtime leaves behind. Only the limits the
//! caller set are written; everything else keeps its value.

use std::path::{Path, PathBuf};

use super::cgroups::{CGROUP_ROOT, host_support, v1_mount};
use super::resources::build_with;
use super::{CgroupLayout, Resources, SpecError};

/// One cgroup file and the value to write into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupWrite {
    pub path: PathBuf,
    pub value: String,
}

/// The container's directory for `controller` (`memory`, `cpuacct`, …): the v1 hierarchy's, or
/// the single v2 directory. `None` when the v1 controller is not mounted.
pub fn cgroup_dir(layout: &CgroupLayout, controller: &str, cgroups_path: &str) -> Option<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    match layout {
        CgroupLayout::V2 => Some(Path::new(CGROUP_ROOT).join(rel)),
        CgroupLayout::V1 { .. } => v1_mount(layout, controller).map(|m| m.join(rel)),
    }
}

/// The writes that apply `r` to the container at `cgroups_path`, validated as at create time.
///
/// On v1 the memory limit must stay below memory+swap at every moment, so a caller should retry
/// a failed write after the others: raising both limits needs memsw first, lowering needs the
/// limit first, and the list puts the limit first.
pub fn cgroup_writes(
    r: &Resources,
    layout: &CgroupLayout,
    cgroups_path: &str,
) -> Result<Vec<CgroupWrite>, SpecError> {
    writes_with(r, layout, cgroups_path, host_support(layout))
}

fn writes_with(
    r: &Resources,
    layout: &CgroupLayout,
    cgroups_path: &str,
    host: super::cgroups::HostSupport,
) -> Result<Vec<CgroupWrite>, SpecError> {
    let plan = build_with(r, host)?;
    let mut out = Vec::new();
    let mut put = |controller: &str, file: &str, value: String| -> Result<(), SpecError> {
        let dir = cgroup_dir(layout, controller, cgroups_path).ok_or_else(|| {
            SpecError::Resources(format!("the {controller} cgroup is not mounted"))
        })?;
        out.push(CgroupWrite {
            path: dir.join(file),
            value,
        });
        Ok(())
    };
    let v2 = matches!(layout, CgroupLayout::V2);
    let max = |v: i64| {
        if v < 0 {
            "max".to_string()
        } else {
            v.to_string()
        }
    };
    if let Some(m) = &plan.memory {
        if v2 {
            if let Some(l) = m.limit() {
                put("memory", "memory.max", l.to_string())?;
            }
            if let Some(s) = m.swap() {
                // v2 limits swap alone; Docker's value is memory plus swap.
                let swap_only = match m.limit() {
                    Some(l) if s >= 0 => (s - l).max(0).to_string(),
                    _ => "max".to_string(),
                };
                put("memory", "memory.swap.max", swap_only)?;
            }
            if let Some(res) = m.reservation() {
                put("memory", "memory.low", res.to_string())?;
            }
        } else {
            if let Some(l) = m.limit() {
                put("memory", "memory.limit_in_bytes", l.to_string())?;
            }
            if let Some(s) = m.swap() {
                put("memory", "memory.memsw.limit_in_bytes", s.to_string())?;
            }
            if let Some(res) = m.reservation() {
                put("memory", "memory.soft_limit_in_bytes", res.to_string())?;
            }
            if let Some(s) = m.swappiness() {
                put("memory", "memory.swappiness", s.to_string())?;
            }
            if m.disable_oom_killer() == Some(true) {
                put("memory", "memory.oom_control", "1".into())?;
            }
        }
    }
    if let Some(c) = &plan.cpu {
        if v2 {
            if let Some(s) = c.shares() {
                put("cpu", "cpu.weight", shares_to_weight(s).to_string())?;
            }
            if c.quota().is_some() || c.period().is_some() {
                let quota = c.quota().map(max).unwrap_or_else(|| "max".into());
                let period = c.period().unwrap_or(100_000);
                put("cpu", "cpu.max", format!("{quota} {period}"))?;
            }
        } else {
            if let Some(s) = c.shares() {
                put("cpu", "cpu.shares", s.to_string())?;
            }
            // The period first: a quota is checked against the current period.
            if let Some(p) = c.period() {
                put("cpu", "cpu.cfs_period_us", p.to_string())?;
            }
            if let Some(q) = c.quota() {
                put("cpu", "cpu.cfs_quota_us", q.to_string())?;
            }
        }
        if let Some(cpus) = c.cpus() {
            put("cpuset", "cpuset.cpus", cpus.clone())?;
        }
        if let Some(mems) = c.mems() {
            put("cpuset", "cpuset.mems", mems.clone())?;
        }
    }
    if let Some(p) = &plan.pids {
        put("pids", "pids.max", max(p.limit()))?;
    }
    if let Some(b) = &plan.blkio {
        let (ctrl, weight_file) = if v2 {
            ("io", "io.weight")
        } else {
            ("blkio", "blkio.weight")
        };
        if let Some(w) = b.weight() {
            let dir = cgroup_dir(layout, ctrl, cgroups_path);
            let weight_file = match &dir {
                Some(d) if !d.join(weight_file).exists() && v2 => "io.bfq.weight",
                Some(d) if !d.join(weight_file).exists() => "blkio.bfq.weight",
                _ => weight_file,
            };
            let value = if v2 && weight_file == "io.weight" {
                format!("default {}", blkio_weight_to_io(w))
            } else {
                w.to_string()
            };
            put(ctrl, weight_file, value)?;
        }
        let lists = [
            (b.throttle_read_bps_device(), "read_bps_device", "rbps"),
            (b.throttle_write_bps_device(), "write_bps_device", "wbps"),
            (b.throttle_read_iops_device(), "read_iops_device", "riops"),
            (b.throttle_write_iops_device(), "write_iops_device", "wiops"),
        ];
        for (list, v1_file, v2_key) in lists {
            for d in list.iter().flatten() {
                if v2 {
                    let line = format!("{}:{} {v2_key}={}", d.major(), d.minor(), d.rate());
                    put("io", "io.max", line)?;
                } else {
                    let line = format!("{}:{} {}", d.major(), d.minor(), d.rate());
                    put("blkio", &format!("blkio.throttle.{v1_file}"), line)?;
                }
            }
        }
    }
    Ok(out)
}

/// cgroup v1 shares (2..=262144) to v2 weight (1..=10000), the conversion runc and crun use.
pub(super) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// Docker's blkio weight (10..=1000) to v2 `io.weight` (1..=10000), as runc converts it.
fn blkio_weight_to_io(w: u16) -> u64 {
    1 + (u64::from(w).saturating_sub(10)) * 9999 / 990
}

#[cfg(test)]
mod tests {
    use super::super::cgroups::HostSupport;
    use super::*;

    const MIB: i64 = 1 << 20;

    fn v1() -> CgroupLayout {
        CgroupLayout::V1 {
            controllers: ["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio"]
                .iter()
                .map(|c| (c.to_string(), PathBuf::from(format!("/cg/{c}"))))
                .collect(),
        }
    }

    fn show(w: &[CgroupWrite]) -> Vec<(String, String)> {
        w.iter()
            .map(|w| (w.path.display().to_string(), w.value.clone()))
            .collect()
    }

    fn full() -> Resources {
        Resources {
            memory: Some(64 * MIB),
            memory_swap: Some(96 * MIB),
            memory_reservation: Some(32 * MIB),
            pids_limit: Some(20),
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            ..Default::default()
        }
    }

    #[test]
    fn v2_files_and_values() {
        let w = writes_with(&full(), &CgroupLayout::V2, "/pouch/c1", HostSupport::ALL).unwrap();
        let d = "/sys/fs/cgroup/pouch/c1";
        let expect = |f: &str, v: &str| (format!("{d}/{f}"), v.to_string());
        assert_eq!(
            show(&w),
            vec![
                expect("memory.max", "67108864"),
                expect("memory.swap.max", "33554432"),
                expect("memory.low", "33554432"),
                expect("cpu.weight", "20"),
                expect("cpu.max", "50000 100000"),
                expect("pids.max", "20"),
            ]
        );
    }

    #[test]
    fn v2_unlimited_values_are_max() {
        let r = Resources {
            memory: Some(64 * MIB),
            memory_swap: Some(-1),
            pids_limit: Some(-1),
            cpu_quota: Some(-1),
            ..Default::default()
        };
        let w = writes_with(&r, &CgroupLayout::V2, "/p/c", HostSupport::ALL).unwrap();
        let values: Vec<_> = show(&w)
            .into_iter()
            .map(|(p, v)| format!("{p}={v}"))
            .collect();
        assert_eq!(
            values,
            [
                "/sys/fs/cgroup/p/c/memory.max=67108864",
                "/sys/fs/cgroup/p/c/memory.swap.max=max",
                "/sys/fs/cgroup/p/c/cpu.max=max 100000",
                "/sys/fs/cgroup/p/c/pids.max=max",
            ]
        );
    }

    #[test]
    fn v2_refuses_v1_only_knobs() {
        let host = HostSupport {
            swappiness: false,
            oom_kill_disable: false,
            ..HostSupport::ALL
        };
        let r = Resources {
            memory_swappiness: Some(10),
            ..Default::default()
        };
        let err = writes_with(&r, &CgroupLayout::V2, "/p/c", host).unwrap_err();
        assert!(err.to_string().contains("cannot be enforced"), "{err}");
        let r = Resources {
            oom_kill_disable: true,
            ..Default::default()
        };
        assert!(writes_with(&r, &CgroupLayout::V2, "/p/c", host).is_err());
    }

    #[test]
    fn v1_files_and_values() {
        let mut r = full();
        r.memory_swappiness = Some(0);
        r.oom_kill_disable = true;
        r.cpuset_cpus = Some("0".into());
        let w = writes_with(&r, &v1(), "/pouch/c1", HostSupport::ALL).unwrap();
        assert_eq!(
            show(&w),
            vec![
                (
                    "/cg/memory/pouch/c1/memory.limit_in_bytes".into(),
                    "67108864".into()
                ),
                (
                    "/cg/memory/pouch/c1/memory.memsw.limit_in_bytes".into(),
                    "100663296".into()
                ),
                (
                    "/cg/memory/pouch/c1/memory.soft_limit_in_bytes".into(),
                    "33554432".into()
                ),
                ("/cg/memory/pouch/c1/memory.swappiness".into(), "0".into()),
                ("/cg/memory/pouch/c1/memory.oom_control".into(), "1".into()),
                ("/cg/cpu/pouch/c1/cpu.shares".into(), "512".into()),
                ("/cg/cpu/pouch/c1/cpu.cfs_period_us".into(), "100000".into()),
                ("/cg/cpu/pouch/c1/cpu.cfs_quota_us".into(), "50000".into()),
                ("/cg/cpuset/pouch/c1/cpuset.cpus".into(), "0".into()),
                ("/cg/pids/pouch/c1/pids.max".into(), "20".into()),
            ]
        );
    }

    #[test]
    fn only_what_was_asked_is_written() {
        let r = Resources {
            pids_limit: Some(0),
            ..Default::default()
        };
        let w = writes_with(&r, &v1(), "/p/c", HostSupport::ALL).unwrap();
        assert_eq!(
            show(&w),
            vec![("/cg/pids/p/c/pids.max".into(), "max".into())]
        );
        assert!(
            writes_with(&Resources::default(), &v1(), "/p/c", HostSupport::ALL)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn missing_swap_accounting_is_an_error_when_asked_for() {
        let host = HostSupport {
            swap: false,
            ..HostSupport::ALL
        };
        let err = writes_with(&full(), &v1(), "/p/c", host).unwrap_err();
        assert!(err.to_string().contains("swap"), "{err}");
    }

    #[test]
    fn weight_conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(1000), 10_000);
        assert_eq!(blkio_weight_to_io(500), 4950);
    }
}
