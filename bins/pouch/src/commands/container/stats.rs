//! `pouch stats`: live CPU, memory, I/O and pids usage of containers, docker's table.

use anyhow::Result;
use clap::Args;
use futures_util::future::join_all;
use pouch_client::{Client, encode_path};
use serde_json::Value;

use crate::commands::Ctx;
use crate::format::align_with;
use crate::output;
use crate::units::{bytes_size, human_size_precision};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

const HEADER: &str =
    "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS\n";

fn u(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// CPU % as docker's CLI computes it (share of one CPU times the CPUs in use).
fn cpu_percent(s: &Value) -> f64 {
    let cpu = u(&s["cpu_stats"]["cpu_usage"]["total_usage"])
        - u(&s["precpu_stats"]["cpu_usage"]["total_usage"]);
    let system = u(&s["cpu_stats"]["system_cpu_usage"]) - u(&s["precpu_stats"]["system_cpu_usage"]);
    let mut cpus = u(&s["cpu_stats"]["online_cpus"]);
    if cpus == 0.0 {
        cpus = s["cpu_stats"]["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0, Vec::len) as f64;
    }
    if cpu > 0.0 && system > 0.0 {
        cpu / system * cpus * 100.0
    } else {
        0.0
    }
}

/// Memory used without the page cache that can be dropped (docker: `total_inactive_file` on
/// cgroup v1, `inactive_file` on v2).
fn mem_usage(s: &Value) -> f64 {
    let usage = u(&s["memory_stats"]["usage"]);
    let stats = &s["memory_stats"]["stats"];
    let inactive = stats
        .get("total_inactive_file")
        .or_else(|| stats.get("inactive_file"))
        .map_or(0.0, u);
    if inactive < usage {
        usage - inactive
    } else {
        usage
    }
}

fn io_totals(list: &Value) -> (f64, f64) {
    let mut read = 0.0;
    let mut write = 0.0;
    for e in list.as_array().into_iter().flatten() {
        match e["op"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "read" => read += u(&e["value"]),
            "write" => write += u(&e["value"]),
            _ => {}
        }
    }
    (read, write)
}

fn row(s: &Value, no_trunc: bool) -> String {
    let id = s["id"].as_str().unwrap_or_default();
    let id = if no_trunc {
        id
    } else {
        &id[..id.len().min(12)]
    };
    let name = s["name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/');
    let usage = mem_usage(s);
    let limit = u(&s["memory_stats"]["limit"]);
    let mem_pct = if limit > 0.0 {
        usage / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s["networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        rx += u(&n["rx_bytes"]);
        tx += u(&n["tx_bytes"]);
    }
    let (br, bw) = io_totals(&s["blkio_stats"]["io_service_bytes_recursive"]);
    let pids = u(&s["pids_stats"]["current"]);
    format!(
        "{id}\t{name}\t{:.2}%\t{} / {}\t{mem_pct:.2}%\t{} / {}\t{} / {}\t{pids}\n",
        cpu_percent(s),
        bytes_size(usage),
        bytes_size(limit),
        human_size_precision(rx, 3),
        human_size_precision(tx, 3),
        human_size_precision(br, 3),
        human_size_precision(bw, 3),
    )
}

async fn containers(client: &Client, args: &StatsArgs) -> Result<Vec<String>> {
    if !args.containers.is_empty() {
        return Ok(args.containers.clone());
    }
    let path = if args.all {
        "/containers/json?all=1"
    } else {
        "/containers/json"
    };
    let list = client.get_json(path).await?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Id"].as_str().map(str::to_owned))
        .collect())
}

pub async fn run(ctx: &mut Ctx, args: StatsArgs) -> Result<()> {
    let client = ctx.client().await?;
    let names = containers(client, &args).await?;
    loop {
        // stream=false: the daemon samples twice a second apart, so CPU % is meaningful.
        let samples = join_all(names.iter().map(|n| {
            let path = format!("/containers/{}/stats?stream=false", encode_path(n));
            let client = client.clone();
            async move { client.get_json(&path).await }
        }))
        .await;
        let mut text = HEADER.to_owned();
        for s in samples {
            text.push_str(&row(&s?, args.no_trunc));
        }
        let table = align_with(&text, 10);
        if args.no_stream {
            return output::print(&table);
        }
        if names.is_empty() {
            // Nothing to sample: keep docker's once-a-second refresh instead of spinning.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        if output::stdout_is_terminal() {
            output::print("\x1b[2J\x1b[H")?;
        }
        output::print(&table)?;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_row_like_dockers() {
        let s = json!({
            "id": "0123456789abcdef", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 600_000_000u64}, "system_cpu_usage": 4_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100_000_000u64}, "system_cpu_usage": 2_000_000_000u64},
            "memory_stats": {"usage": 3_145_728u64, "limit": 67_108_864u64, "stats": {"total_inactive_file": 1_048_576u64}},
            "blkio_stats": {"io_service_bytes_recursive": [{"major": 8, "minor": 0, "op": "Read", "value": 4096}]},
            "pids_stats": {"current": 3}
        });
        assert_eq!(
            row(&s, false),
            "0123456789ab\tweb\t50.00%\t2MiB / 64MiB\t3.12%\t0B / 0B\t4.1kB / 0B\t3\n"
        );
    }
}
