//! `pouch update`: change a container's limits or restart policy (docker's flags).

use anyhow::{Result, anyhow, bail};
use clap::Args;
use pouch_client::encode_path;
use serde_json::{Map, Value, json};

use super::parse;
use crate::commands::Ctx;
use crate::exit::{collected, item_error};
use crate::output;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    limits: super::limits::SharedLimits,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "N")]
    cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_name = "DECIMAL")]
    cpus: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "BYTES")]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "BYTES", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "N", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    restart: Option<String>,
    /// Disk quota: SIZE for the rootfs, or PATH=SIZE for a volume (e.g. 20g, /data=5g)
    #[arg(long = "disk-quota", value_name = "QUOTA")]
    disk_quota: Vec<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

fn flag_error(value: &str, flag: &str, err: anyhow::Error) -> anyhow::Error {
    anyhow!("invalid argument \"{value}\" for \"{flag}\" flag: {err}")
}

/// docker's `UpdateConfig` body from the flags that were given.
fn body(a: &UpdateArgs) -> Result<Value> {
    let mut b = Map::new();
    super::limits::apply_shared(&a.limits, &mut b)?;
    let mut put = |k: &str, v: Value| {
        b.insert(k.to_owned(), v);
    };
    if let Some(s) = a.cpu_shares {
        put("CpuShares", json!(s));
    }
    if let Some(c) = &a.cpus {
        let nano = parse::nano_cpus(c).map_err(|e| flag_error(c, "--cpus", e))?;
        put("NanoCpus", json!(nano));
    }
    if let Some(m) = &a.memory {
        let v = parse::ram_in_bytes(m).map_err(|e| flag_error(m, "--memory", e))?;
        put("Memory", json!(v));
    }
    if let Some(s) = &a.memory_swap {
        let v = parse::swap_bytes(s).map_err(|e| flag_error(s, "--memory-swap", e))?;
        put("MemorySwap", json!(v));
    }
    if let Some(p) = a.pids_limit {
        put("PidsLimit", json!(p));
    }
    if let Some(r) = &a.restart {
        put("RestartPolicy", parse::restart_policy(r)?);
    }
    if !a.disk_quota.is_empty() {
        put(
            "DiskQuota",
            Value::Object(super::storage::disk_quota(&a.disk_quota)?),
        );
    }
    if b.is_empty() {
        bail!("you must provide one or more flags when using this command");
    }
    Ok(Value::Object(b))
}

pub async fn run(ctx: &mut Ctx, args: UpdateArgs) -> Result<()> {
    let body = body(&args)?;
    let client = ctx.client().await?;
    let mut errors = Vec::new();
    for name in &args.containers {
        let path = format!("/containers/{}/update", encode_path(name));
        match client.post_json(&path, Some(&body)).await {
            Ok(resp) => {
                for w in resp["Warnings"].as_array().into_iter().flatten() {
                    output::eprint(&format!("{}\n", w.as_str().unwrap_or_default()))?;
                }
                output::print(&format!("{name}\n"))?;
            }
            Err(e) => errors.push(item_error(e)?),
        }
    }
    collected(errors)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: UpdateArgs,
    }

    #[test]
    fn flags_become_an_update_config() {
        let cli = Cli::parse_from([
            "update",
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "0.5",
            "--pids-limit",
            "30",
            "--restart",
            "on-failure:3",
            "c1",
        ]);
        let b = body(&cli.a).unwrap();
        assert_eq!(b["Memory"], json!(64 << 20));
        assert_eq!(b["MemorySwap"], json!(-1));
        assert_eq!(b["NanoCpus"], json!(500_000_000));
        assert_eq!(b["PidsLimit"], json!(30));
        assert_eq!(b["RestartPolicy"]["MaximumRetryCount"], json!(3));
        let cli = Cli::parse_from([
            "update",
            "--cpuset-cpus",
            "0",
            "--memory-reservation",
            "32m",
            "--blkio-weight",
            "300",
            "c1",
        ]);
        let b = body(&cli.a).unwrap();
        assert_eq!(b["CpusetCpus"], json!("0"));
        assert_eq!(b["MemoryReservation"], json!(32 << 20));
        assert_eq!(b["BlkioWeight"], json!(300));
        let none = Cli::parse_from(["update", "c1"]);
        assert!(body(&none.a).is_err());
    }
}
