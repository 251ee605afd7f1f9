//! Resource flags beyond `-m`, `--memory-swap`, `--cpus`, `-c` and `--pids-limit` (which sit in
//! `opts`): the cgroup knobs of `create`/`run`, parsed as the docker CLI parses them.

use anyhow::{Result, anyhow, bail};
use clap::Args;
use serde_json::{Map, Value, json};

use super::parse;

/// The cgroup flags `create`/`run` and `update` share.
#[derive(Debug, Clone, Default, Args)]
pub struct SharedLimits {
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "N")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "N", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", value_name = "N")]
    pub blkio_weight: Option<u16>,
}

/// The cgroup flags only `create`/`run` have.
#[derive(Debug, Clone, Default, Args)]
pub struct LimitOptions {
    #[command(flatten)]
    pub shared: SharedLimits,
    /// Tune container memory swappiness (0 to 100)
    #[arg(
        long = "memory-swappiness",
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub memory_swappiness: Option<i64>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "N", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Limit read rate (bytes per second) from a device
    #[arg(long = "device-read-bps", value_name = "PATH:RATE")]
    pub device_read_bps: Vec<String>,
    /// Limit write rate (bytes per second) to a device
    #[arg(long = "device-write-bps", value_name = "PATH:RATE")]
    pub device_write_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device
    #[arg(long = "device-read-iops", value_name = "PATH:N")]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (IO per second) to a device
    #[arg(long = "device-write-iops", value_name = "PATH:N")]
    pub device_write_iops: Vec<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent", value_name = "PATH")]
    pub cgroup_parent: Option<String>,
}

fn flag_error(value: &str, flag: &str, err: anyhow::Error) -> anyhow::Error {
    anyhow!("invalid argument \"{value}\" for \"{flag}\" flag: {err}")
}

/// `/dev/sda:1mb` (bytes, go-units sizes) or `/dev/sda:100` (operations), as the docker CLI's
/// `ValidateThrottleBpsDevice`/`ValidateThrottleIOpsDevice`.
pub fn throttle_device(val: &str, bytes: bool) -> Result<Value> {
    let Some((path, rate)) = val.rsplit_once(':') else {
        bail!("bad format: {val}");
    };
    if !path.starts_with("/dev/") {
        bail!("bad format for device path: {val}");
    }
    let rate: u64 = if bytes {
        let r = parse::ram_in_bytes(rate).map_err(|_| {
            anyhow!("invalid rate for device: {val}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb")
        })?;
        r as u64
    } else {
        rate.parse().map_err(|_| {
            anyhow!("invalid rate for device: {val}. The correct format is <device-path>:<number>. Number must be a positive integer")
        })?
    };
    Ok(json!({"Path": path, "Rate": rate}))
}

/// Adds the shared flags that were given to a `HostConfig` or `UpdateConfig` map.
pub fn apply_shared(o: &SharedLimits, map: &mut Map<String, Value>) -> Result<()> {
    let mut put = |k: &str, v: Value| {
        map.insert(k.to_owned(), v);
    };
    if let Some(m) = &o.memory_reservation {
        let b = parse::ram_in_bytes(m).map_err(|err| flag_error(m, "--memory-reservation", err))?;
        put("MemoryReservation", json!(b));
    }
    if let Some(p) = o.cpu_period {
        put("CpuPeriod", json!(p));
    }
    if let Some(q) = o.cpu_quota {
        put("CpuQuota", json!(q));
    }
    if let Some(c) = &o.cpuset_cpus {
        put("CpusetCpus", json!(c));
    }
    if let Some(m) = &o.cpuset_mems {
        put("CpusetMems", json!(m));
    }
    if let Some(w) = o.blkio_weight {
        if w != 0 && !(10..=1000).contains(&w) {
            bail!(
                "invalid argument \"{w}\" for \"--blkio-weight\" flag: blkio weight must be between 10 and 1000"
            );
        }
        put("BlkioWeight", json!(w));
    }
    Ok(())
}

/// Adds the flags that were given to the `HostConfig` map.
pub fn apply(o: &LimitOptions, host: &mut Map<String, Value>) -> Result<()> {
    apply_shared(&o.shared, host)?;
    let mut put = |k: &str, v: Value| {
        host.insert(k.to_owned(), v);
    };
    if let Some(s) = o.memory_swappiness {
        if !(-1..=100).contains(&s) {
            bail!("invalid value: {s}. Valid memory swappiness range is 0-100");
        }
        put("MemorySwappiness", json!(s));
    }
    if o.oom_kill_disable {
        put("OomKillDisable", json!(true));
    }
    if let Some(a) = o.oom_score_adj {
        if !(-1000..=1000).contains(&a) {
            bail!("Invalid value {a}, range for oom score adj is [-1000, 1000]");
        }
        put("OomScoreAdj", json!(a));
    }
    let lists = [
        (
            "BlkioDeviceReadBps",
            "--device-read-bps",
            &o.device_read_bps,
            true,
        ),
        (
            "BlkioDeviceWriteBps",
            "--device-write-bps",
            &o.device_write_bps,
            true,
        ),
        (
            "BlkioDeviceReadIOps",
            "--device-read-iops",
            &o.device_read_iops,
            false,
        ),
        (
            "BlkioDeviceWriteIOps",
            "--device-write-iops",
            &o.device_write_iops,
            false,
        ),
    ];
    for (key, flag, vals, bytes) in lists {
        if vals.is_empty() {
            continue;
        }
        let list = vals
            .iter()
            .map(|v| throttle_device(v, bytes).map_err(|e| flag_error(v, flag, e)))
            .collect::<Result<Vec<_>>>()?;
        put(key, Value::Array(list));
    }
    if let Some(p) = &o.cgroup_parent {
        put("CgroupParent", json!(p));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_devices() {
        assert_eq!(
            throttle_device("/dev/sda:1mb", true).unwrap(),
            json!({"Path": "/dev/sda", "Rate": 1048576})
        );
        assert_eq!(
            throttle_device("/dev/sda:100", false).unwrap(),
            json!({"Path": "/dev/sda", "Rate": 100})
        );
        assert!(throttle_device("sda:1", false).is_err());
        assert!(throttle_device("/dev/sda", false).is_err());
        assert!(throttle_device("/dev/sda:1mb", false).is_err());
    }

    #[test]
    fn flags_map_to_docker_fields() {
        let o = LimitOptions {
            shared: SharedLimits {
                memory_reservation: Some("32m".into()),
                cpu_period: Some(50_000),
                cpu_quota: Some(25_000),
                cpuset_cpus: Some("0".into()),
                blkio_weight: Some(300),
                ..Default::default()
            },
            memory_swappiness: Some(0),
            oom_kill_disable: true,
            oom_score_adj: Some(-500),
            device_write_iops: vec!["/dev/sda:10".into()],
            cgroup_parent: Some("/mine".into()),
            ..Default::default()
        };
        let mut host = Map::new();
        apply(&o, &mut host).unwrap();
        assert_eq!(host["MemoryReservation"], json!(32 << 20));
        assert_eq!(host["MemorySwappiness"], json!(0));
        assert_eq!(host["OomKillDisable"], json!(true));
        assert_eq!(host["OomScoreAdj"], json!(-500));
        assert_eq!(host["CpuQuota"], json!(25_000));
        assert_eq!(host["BlkioWeight"], json!(300));
        assert_eq!(
            host["BlkioDeviceWriteIOps"],
            json!([{"Path": "/dev/sda", "Rate": 10}])
        );
        assert_eq!(host["CgroupParent"], json!("/mine"));
        assert!(!host.contains_key("CpusetMems"));

        let bad = LimitOptions {
            oom_score_adj: Some(1001),
            ..Default::default()
        };
        assert!(apply(&bad, &mut Map::new()).is_err());
        let bad = LimitOptions {
            shared: SharedLimits {
                blkio_weight: Some(5),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(apply(&bad, &mut Map::new()).is_err());
    }
}
