//! `GET /containers/{id}/stats`: one sample of a container's cgroup counters in docker's shape.
//! The server streams samples (one a second) and fills `precpu_stats` from the one before.
//!
//! Read on cgroup v1 from `cpuacct`, `cpu`, `memory`, `pids` and `blkio`; on v2 from
//! `cpu.stat`, `memory.*`, `pids.*` and `io.stat`. A container that does not run has no cgroup:
//! its sample is all zeros, as docker answers.

use std::collections::BTreeMap;

use pouch_api::types::{
    BlkioEntry, BlkioStats, ContainerStats, CpuStats, CpuUsage, MemoryStats, NetworkStats,
    PidsStats, ThrottlingData,
};
use pouch_runtime::spec::{self, CgroupLayout};

use super::update::cgroups_path;
use crate::Containers;
use crate::error::{Error, Result};

/// docker's "not sampled" time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Containers {
    /// One sample; `previous` (the last sample of a stream) becomes `precpu_stats`/`preread`.
    pub async fn container_stats(
        &self,
        name: &str,
        previous: Option<&ContainerStats>,
    ) -> Result<ContainerStats> {
        let c = self.ctx.resolve_container(name)?;
        let mut s = ContainerStats {
            read: ZERO_TIME.into(),
            preread: ZERO_TIME.into(),
            name: format!("/{}", c.name),
            id: c.id.clone(),
            ..Default::default()
        };
        if let Some(p) = previous {
            s.preread = p.read.clone();
            s.precpu_stats = p.cpu_stats.clone();
        }
        if !c.state.status.is_running() {
            return Ok(s);
        }
        let layout = self.ctx.cgroup_layout()?;
        let path = cgroups_path(&c.host_config, &c.id);
        // A container on the host's network has no interfaces of its own (docker reports none).
        let net_pid =
            (c.host_config.network_mode != "host" && c.state.pid > 0).then_some(c.state.pid);
        let (sample, networks) = tokio::task::spawn_blocking(move || {
            let networks = net_pid.and_then(|pid| {
                let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
                let n = parse_net_dev(&text);
                (!n.is_empty()).then_some(n)
            });
            (read_sample(&layout, &path), networks)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
        s.read = crate::images::rfc3339_now();
        s.cpu_stats = sample.cpu;
        s.memory_stats = sample.memory;
        s.pids_stats = sample.pids;
        s.blkio_stats = sample.blkio;
        s.networks = networks;
        Ok(s)
    }
}

struct Sample {
    cpu: CpuStats,
    memory: MemoryStats,
    pids: PidsStats,
    blkio: BlkioStats,
}

fn read(dir: &Option<std::path::PathBuf>, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.as_ref()?.join(file)).ok()
}

fn num(text: Option<String>) -> Option<u64> {
    text?.trim().parse().ok()
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `cpuacct.stat`).
fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn read_sample(layout: &CgroupLayout, path: &str) -> Sample {
    let dir = |c: &str| spec::cgroup_dir(layout, c, path);
    let (system, online) = host_cpu();
    let machine_memory = machine_memory();
    let mut sample = match layout {
        CgroupLayout::V2 => v2_sample(&dir("memory")),
        CgroupLayout::V1 { .. } => v1_sample(
            &dir("cpuacct"),
            &dir("cpu"),
            &dir("memory"),
            &dir("pids"),
            &dir("blkio"),
        ),
    };
    sample.cpu.system_cpu_usage = system;
    sample.cpu.online_cpus = online;
    // docker: an unlimited container reports the machine's memory as its limit.
    if let Some(m) = machine_memory {
        sample.memory.limit = Some(sample.memory.limit.map_or(m, |l| l.min(m)));
    }
    sample
}

fn v1_sample(
    cpuacct: &Option<std::path::PathBuf>,
    cpu: &Option<std::path::PathBuf>,
    memory: &Option<std::path::PathBuf>,
    pids: &Option<std::path::PathBuf>,
    blkio: &Option<std::path::PathBuf>,
) -> Sample {
    let ticks = flat_keyed(&read(cpuacct, "cpuacct.stat").unwrap_or_default());
    // cpuacct.stat counts USER_HZ ticks (100 a second on Linux).
    let tick_ns = 10_000_000;
    let percpu: Option<Vec<u64>> = read(cpuacct, "cpuacct.usage_percpu").map(|t| {
        t.split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect()
    });
    let throttle = flat_keyed(&read(cpu, "cpu.stat").unwrap_or_default());
    let cpu_stats = CpuStats {
        cpu_usage: CpuUsage {
            total_usage: num(read(cpuacct, "cpuacct.usage")).unwrap_or(0),
            percpu_usage: percpu.filter(|v| !v.is_empty()),
            usage_in_kernelmode: ticks.get("system").copied().unwrap_or(0) * tick_ns,
            usage_in_usermode: ticks.get("user").copied().unwrap_or(0) * tick_ns,
        },
        throttling_data: ThrottlingData {
            periods: throttle.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: throttle.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: throttle.get("throttled_time").copied().unwrap_or(0),
        },
        ..Default::default()
    };
    let memory_stats = MemoryStats {
        usage: num(read(memory, "memory.usage_in_bytes")),
        max_usage: num(read(memory, "memory.max_usage_in_bytes")),
        stats: flat_keyed(&read(memory, "memory.stat").unwrap_or_default()),
        failcnt: num(read(memory, "memory.failcnt")),
        limit: num(read(memory, "memory.limit_in_bytes")),
    };
    Sample {
        cpu: cpu_stats,
        memory: memory_stats,
        pids: pids_stats(pids),
        blkio: BlkioStats {
            io_service_bytes_recursive: read(blkio, "blkio.throttle.io_service_bytes_recursive")
                .map(|t| v1_blkio(&t)),
            io_serviced_recursive: read(blkio, "blkio.throttle.io_serviced_recursive")
                .map(|t| v1_blkio(&t)),
            ..Default::default()
        },
    }
}

fn pids_stats(dir: &Option<std::path::PathBuf>) -> PidsStats {
    PidsStats {
        current: num(read(dir, "pids.current")),
        // "max" is no limit: docker leaves it out.
        limit: num(read(dir, "pids.max")),
    }
}

/// v1 blkio lines: `8:0 Read 4096`, with a `Total` line per device and one overall.
fn v1_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_ascii_lowercase(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// `/proc/<pid>/net/dev` of the container's network namespace: every interface but `lo`.
fn parse_net_dev(text: &str) -> BTreeMap<String, NetworkStats> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (name != "lo" && v.len() >= 12).then(|| {
                (
                    name.to_string(),
                    NetworkStats {
                        rx_bytes: v[0],
                        rx_packets: v[1],
                        rx_errors: v[2],
                        rx_dropped: v[3],
                        tx_bytes: v[8],
                        tx_packets: v[9],
                        tx_errors: v[10],
                        tx_dropped: v[11],
                    },
                )
            })
        })
        .collect()
}

fn v2_sample(dir: &Option<std::path::PathBuf>) -> Sample {
    let cpu = flat_keyed(&read(dir, "cpu.stat").unwrap_or_default());
    let us = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
    let cpu_stats = CpuStats {
        cpu_usage: CpuUsage {
            total_usage: us("usage_usec"),
            percpu_usage: None,
            usage_in_kernelmode: us("system_usec"),
            usage_in_usermode: us("user_usec"),
        },
        throttling_data: ThrottlingData {
            periods: cpu.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: cpu.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: us("throttled_usec"),
        },
        ..Default::default()
    };
    let events = flat_keyed(&read(dir, "memory.events").unwrap_or_default());
    let memory_stats = MemoryStats {
        usage: num(read(dir, "memory.current")),
        max_usage: num(read(dir, "memory.peak")),
        stats: flat_keyed(&read(dir, "memory.stat").unwrap_or_default()),
        failcnt: events.get("max").copied(),
        limit: num(read(dir, "memory.max")),
    };
    let (bytes, ios) = v2_io(&read(dir, "io.stat").unwrap_or_default());
    Sample {
        cpu: cpu_stats,
        memory: memory_stats,
        pids: pids_stats(dir),
        blkio: BlkioStats {
            io_service_bytes_recursive: Some(bytes),
            io_serviced_recursive: Some(ios),
            ..Default::default()
        },
    }
}

/// v2 `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`, as docker maps it.
fn v2_io(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "read"),
                "wbytes" => (&mut bytes, "write"),
                "rios" => (&mut ios, "read"),
                "wios" => (&mut ios, "write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    (bytes, ios)
}

/// Host CPU time in nanoseconds (the `cpu` line of /proc/stat: user to steal) and the number of
/// CPUs, as docker computes `system_cpu_usage` and `online_cpus`.
fn host_cpu() -> (Option<u64>, Option<u32>) {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return (None, None);
    };
    parse_proc_stat(&text)
}

fn parse_proc_stat(text: &str) -> (Option<u64>, Option<u32>) {
    let online = text
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count() as u32;
    let total = text.lines().find(|l| l.starts_with("cpu ")).map(|l| {
        l.split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|v| v.parse::<u64>().ok())
            .sum::<u64>()
            * 10_000_000
    });
    (total, (online > 0).then_some(online))
}

fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The CPU share between two samples as docker's CLI computes it: percent of one CPU.
#[cfg(test)]
fn cpu_percent(s: &ContainerStats) -> f64 {
    let cpu =
        s.cpu_stats.cpu_usage.total_usage as f64 - s.precpu_stats.cpu_usage.total_usage as f64;
    let system = s.cpu_stats.system_cpu_usage.unwrap_or(0) as f64
        - s.precpu_stats.system_cpu_usage.unwrap_or(0) as f64;
    let cpus = s.cpu_stats.online_cpus.unwrap_or(1) as f64;
    if cpu > 0.0 && system > 0.0 {
        cpu / system * cpus * 100.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (f, v) in files {
            std::fs::write(d.path().join(f), v).unwrap();
        }
        d
    }

    #[test]
    fn v2_counters() {
        let d = dir_with(&[
            (
                "cpu.stat",
                "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 7\nnr_throttled 3\nthrottled_usec 40\n",
            ),
            ("memory.current", "1048576\n"),
            ("memory.max", "max\n"),
            ("memory.peak", "2097152\n"),
            ("memory.stat", "anon 4096\ninactive_file 8192\n"),
            ("memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n"),
            ("pids.current", "3\n"),
            ("pids.max", "20\n"),
            (
                "io.stat",
                "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
            ),
        ]);
        let s = v2_sample(&Some(d.path().to_path_buf()));
        assert_eq!(s.cpu.cpu_usage.total_usage, 2_500_000);
        assert_eq!(s.cpu.cpu_usage.usage_in_usermode, 2_000_000);
        assert_eq!(s.cpu.throttling_data.throttled_periods, 3);
        assert_eq!(s.memory.usage, Some(1 << 20));
        assert_eq!(s.memory.limit, None, "max is no limit");
        assert_eq!(s.memory.max_usage, Some(2 << 20));
        assert_eq!(s.memory.stats["inactive_file"], 8192);
        assert_eq!(s.memory.failcnt, Some(5));
        assert_eq!((s.pids.current, s.pids.limit), (Some(3), Some(20)));
        let bytes = s.blkio.io_service_bytes_recursive.unwrap();
        assert_eq!(bytes.len(), 2);
        assert_eq!((bytes[1].op.as_str(), bytes[1].value), ("write", 200));
        assert_eq!(s.blkio.io_serviced_recursive.unwrap()[0].value, 1);
    }

    #[test]
    fn v1_counters() {
        let acct = dir_with(&[
            ("cpuacct.usage", "123456789\n"),
            ("cpuacct.usage_percpu", "100000000 23456789 \n"),
            ("cpuacct.stat", "user 9\nsystem 3\n"),
        ]);
        let cpu = dir_with(&[(
            "cpu.stat",
            "nr_periods 10\nnr_throttled 4\nthrottled_time 999\n",
        )]);
        let mem = dir_with(&[
            ("memory.usage_in_bytes", "5000\n"),
            ("memory.limit_in_bytes", "67108864\n"),
            ("memory.max_usage_in_bytes", "6000\n"),
            ("memory.failcnt", "2\n"),
            ("memory.stat", "cache 10\ntotal_inactive_file 20\n"),
        ]);
        let pids = dir_with(&[("pids.current", "2\n"), ("pids.max", "max\n")]);
        let blkio = dir_with(&[(
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 0\n8:0 Total 4096\nTotal 4096\n",
        )]);
        let p = |d: &tempfile::TempDir| Some(d.path().to_path_buf());
        let s = v1_sample(&p(&acct), &p(&cpu), &p(&mem), &p(&pids), &p(&blkio));
        assert_eq!(s.cpu.cpu_usage.total_usage, 123_456_789);
        assert_eq!(
            s.cpu.cpu_usage.percpu_usage,
            Some(vec![100_000_000, 23_456_789])
        );
        assert_eq!(s.cpu.cpu_usage.usage_in_usermode, 90_000_000);
        assert_eq!(s.cpu.throttling_data.periods, 10);
        assert_eq!(s.memory.limit, Some(64 << 20));
        assert_eq!(s.memory.stats["total_inactive_file"], 20);
        assert_eq!((s.pids.current, s.pids.limit), (Some(2), None));
        let b = s.blkio.io_service_bytes_recursive.unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].op.as_str(), b[0].value), ("read", 4096));
        assert_eq!(s.blkio.io_serviced_recursive, None);
    }

    #[test]
    fn interfaces_from_net_dev() {
        let text = "Inter-|   Receive |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    2048      16    1    2    0     0          0         0     4096      32    3    4    0     0       0          0
";
        let n = parse_net_dev(text);
        assert_eq!(n.len(), 1);
        let e = &n["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (2048, 16, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (4096, 32, 3, 4)
        );
    }

    #[test]
    fn proc_stat_and_cpu_percent() {
        let text = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\ncpu1 50 0 25 400 25 0 0 0 0 0\nintr 1\n";
        assert_eq!(parse_proc_stat(text), (Some(1000 * 10_000_000), Some(2)));
        let mut s = ContainerStats::default();
        s.precpu_stats.cpu_usage.total_usage = 0;
        s.precpu_stats.system_cpu_usage = Some(0);
        s.cpu_stats.cpu_usage.total_usage = 500_000_000;
        s.cpu_stats.system_cpu_usage = Some(2_000_000_000);
        s.cpu_stats.online_cpus = Some(2);
        assert!((cpu_percent(&s) - 50.0).abs() < 1e-9);
    }
}
