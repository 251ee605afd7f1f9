//! `pouch system …`: df, prune, info.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{Ctx, prune};
use crate::filters::Filters;
use crate::format::{Format, Headers};
use crate::output;
use crate::units;

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show pouch disk usage
    Df(DfArgs),
    /// Remove unused data (stopped containers, dangling images, optionally volumes)
    Prune(PruneArgs),
    /// Display system-wide information
    Info(super::info::InfoArgs),
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, cmd: SystemCommand) -> Result<()> {
    match cmd {
        SystemCommand::Df(a) => df(ctx, a).await,
        SystemCommand::Prune(a) => prune(ctx, a).await,
        SystemCommand::Info(a) => super::info::run(ctx, a).await,
    }
}

const TABLE: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const HEADERS: Headers = &[
    ("Type", "TYPE"),
    ("TotalCount", "TOTAL"),
    ("Active", "ACTIVE"),
    ("Size", "SIZE"),
    ("Reclaimable", "RECLAIMABLE"),
];

fn with_percent(reclaimable: i64, total: i64) -> String {
    let r = units::human_size(reclaimable as f64);
    if total > 0 {
        format!("{r} ({}%)", reclaimable * 100 / total)
    } else {
        r
    }
}

/// docker's disk-usage summary rows, computed as its CLI does.
fn rows(df: &Value) -> Vec<Value> {
    let arr = |k: &str| df[k].as_array().cloned().unwrap_or_default();
    let int = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0);
    let images = arr("Images");
    let layers = int(df, "LayersSize");
    let used: i64 = images
        .iter()
        .filter(|i| int(i, "Containers") > 0)
        .map(|i| int(i, "Size") - int(i, "SharedSize"))
        .sum();
    let containers = arr("Containers");
    let active = |c: &Value| {
        matches!(
            c["State"].as_str().unwrap_or_default(),
            "running" | "paused" | "restarting"
        )
    };
    let c_size: i64 = containers.iter().map(|c| int(c, "SizeRw")).sum();
    let c_recl: i64 = containers
        .iter()
        .filter(|c| !active(c))
        .map(|c| int(c, "SizeRw"))
        .sum();
    let volumes = arr("Volumes");
    let vsize = |v: &Value| v["UsageData"]["Size"].as_i64().unwrap_or(0).max(0);
    let vused = |v: &Value| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0;
    let v_size: i64 = volumes.iter().map(vsize).sum();
    let v_recl: i64 = volumes.iter().filter(|v| !vused(v)).map(vsize).sum();
    vec![
        json!({
            "Type": "Images",
            "TotalCount": images.len().to_string(),
            "Active": images.iter().filter(|i| int(i, "Containers") > 0).count().to_string(),
            "Size": units::human_size(layers as f64),
            "Reclaimable": with_percent(layers - used, layers),
        }),
        json!({
            "Type": "Containers",
            "TotalCount": containers.len().to_string(),
            "Active": containers.iter().filter(|c| active(c)).count().to_string(),
            "Size": units::human_size(c_size as f64),
            "Reclaimable": with_percent(c_recl, c_size),
        }),
        json!({
            "Type": "Local Volumes",
            "TotalCount": volumes.len().to_string(),
            "Active": volumes.iter().filter(|v| vused(v)).count().to_string(),
            "Size": units::human_size(v_size as f64),
            "Reclaimable": with_percent(v_recl, v_size),
        }),
        json!({
            "Type": "Build Cache",
            "TotalCount": "0",
            "Active": "0",
            "Size": "0B",
            "Reclaimable": "0B",
        }),
    ]
}

async fn df(ctx: &mut Ctx, a: DfArgs) -> Result<()> {
    let df = ctx.client().await?.get_json("/system/df").await?;
    let format = Format::parse(a.format.as_deref().unwrap_or(TABLE), TABLE)?;
    format.print(&rows(&df), HEADERS)
}

async fn prune(ctx: &mut Ctx, a: PruneArgs) -> Result<()> {
    let mut w = String::from("WARNING! This will remove:\n  - all stopped containers\n");
    if a.volumes {
        w.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    w.push_str(if a.all {
        "  - all images without at least one container associated to them\n"
    } else {
        "  - all dangling images\n"
    });
    if !prune::confirmed(a.force, &w)? {
        return Ok(());
    }
    let client = ctx.client().await?;
    let filters = Filters::parse(&a.filter)?;
    let mut images = filters.clone();
    images.add("dangling", if a.all { "false" } else { "true" });
    let mut steps = vec![(
        "containers",
        &filters,
        "Deleted Containers",
        "ContainersDeleted",
    )];
    if a.volumes {
        steps.push(("volumes", &filters, "Deleted Volumes", "VolumesDeleted"));
    }
    steps.push(("images", &images, "Deleted Images", "ImagesDeleted"));
    let mut total = 0.0;
    let mut out = String::new();
    for (resource, filters, title, key) in steps {
        let report = prune::post(client, resource, filters).await?;
        let deleted = prune::deleted(title, &report[key]);
        if !deleted.is_empty() {
            out.push_str(&deleted);
            out.push('\n');
        }
        total += report["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    }
    out.push_str(&units::reclaimed_space(&json!({"SpaceReclaimed": total})));
    output::print(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_like_docker() {
        let df = json!({
            "LayersSize": 2000,
            "Images": [{"Size": 2000, "SharedSize": 0, "Containers": 1}, {"Size": 0, "SharedSize": 0, "Containers": 0}],
            "Containers": [{"State": "running", "SizeRw": 10}, {"State": "exited", "SizeRw": 30}],
            "Volumes": [{"UsageData": {"Size": 5, "RefCount": 0}}, {"UsageData": {"Size": 15, "RefCount": 2}}],
        });
        let r = rows(&df);
        assert_eq!(r[0]["Reclaimable"], "0B (0%)");
        assert_eq!(r[0]["Active"], "1");
        assert_eq!(r[1]["Size"], "40B");
        assert_eq!(r[1]["Reclaimable"], "30B (75%)");
        assert_eq!(r[2]["Reclaimable"], "5B (25%)");
        assert_eq!(r[3]["Size"], "0B");
    }
}
