//! `pouch volume …`: create, ls, inspect, rm, prune.

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use pouch_client::{Query, encode_path};
use serde_json::{Map, Value, json};

use super::{Ctx, prune};
use crate::exit::{collected, item_error};
use crate::filters::{Filters, list_template};
use crate::format::{Format, Headers, label_pairs};
use crate::output;
use crate::units;

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "LABEL")]
    label: Vec<String>,
    /// Set driver specific options (key=value)
    #[arg(short = 'o', long = "opt", value_name = "OPT")]
    opt: Vec<String>,
    /// Volume name (generated when omitted)
    #[arg(value_name = "VOLUME")]
    name: Option<String>,
    /// Volume name, as a flag
    #[arg(long = "name", hide = true)]
    name_flag: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short, long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

const TABLE: &str = "table {{.Driver}}\t{{.Name}}";
const HEADERS: Headers = &[
    ("Driver", "DRIVER"),
    ("Name", "VOLUME NAME"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Scope", "SCOPE"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("CreatedAt", "CREATED"),
];

pub async fn run(ctx: &mut Ctx, cmd: VolumeCommand) -> Result<()> {
    match cmd {
        VolumeCommand::Create(a) => create(ctx, a).await,
        VolumeCommand::Ls(a) => list(ctx, a).await,
        VolumeCommand::Inspect(a) => inspect(ctx, a).await,
        VolumeCommand::Rm(a) => remove(ctx, a).await,
        VolumeCommand::Prune(a) => prune(ctx, a).await,
    }
}

fn key_values(items: &[String], what: &str) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for i in items {
        let (k, v) = match i.split_once('=') {
            Some((k, v)) => (k, v),
            None if what == "label" => (i.as_str(), ""),
            None => return Err(anyhow!("invalid {what} {i:?}: use key=value")),
        };
        m.insert(k.to_string(), json!(v));
    }
    Ok(m)
}

async fn create(ctx: &mut Ctx, a: CreateArgs) -> Result<()> {
    let name = match (a.name, a.name_flag) {
        (Some(n), Some(f)) if n != f => {
            return Err(anyhow!(
                "conflicting options: either specify --name or provide positional arg, not both"
            ));
        }
        (n, f) => n.or(f).unwrap_or_default(),
    };
    let body = json!({
        "Name": name,
        "Driver": a.driver,
        "DriverOpts": key_values(&a.opt, "option")?,
        "Labels": key_values(&a.label, "label")?,
    });
    let v = ctx
        .client()
        .await?
        .post_json("/volumes/create", Some(&body))
        .await?;
    output::print(&format!("{}\n", v["Name"].as_str().unwrap_or_default()))
}

async fn list(ctx: &mut Ctx, a: ListArgs) -> Result<()> {
    let filters = Filters::parse(&a.filter)?;
    let resp = ctx
        .client()
        .await?
        .get_json(&format!("/volumes{}", filters.query_string()))
        .await?;
    let template = list_template(a.format.as_deref(), a.quiet, "{{.Name}}", TABLE);
    let format = Format::parse(template, TABLE)?;
    let rows: Vec<Value> = resp["Volumes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(row)
        .collect();
    format.print(&rows, HEADERS)
}

/// docker's volume list row: the volume's fields with labels as `k=v,…` and size when known.
fn row(v: &Value) -> Value {
    let size = v["UsageData"]["Size"].as_i64();
    json!({
        "Name": v["Name"],
        "Driver": v["Driver"],
        "Mountpoint": v["Mountpoint"],
        "Scope": v["Scope"],
        "Labels": label_pairs(&v["Labels"]).join(","),
        "Links": v["UsageData"]["RefCount"].as_i64().map(|n| n.to_string()).unwrap_or_else(|| "N/A".into()),
        "Size": size.filter(|s| *s >= 0).map(|s| units::human_size(s as f64)).unwrap_or_else(|| "N/A".into()),
        "CreatedAt": v["CreatedAt"],
    })
}

async fn inspect(ctx: &mut Ctx, a: InspectArgs) -> Result<()> {
    let client = ctx.client().await?;
    super::image::inspect::inspect_each(client, &a.volumes, a.format.as_deref(), "volume", |n| {
        format!("/volumes/{}", encode_path(n))
    })
    .await
}

async fn remove(ctx: &mut Ctx, a: RmArgs) -> Result<()> {
    let client = ctx.client().await?;
    let mut errors = Vec::new();
    for name in &a.volumes {
        let mut q = Query::new();
        q.flag("force", a.force);
        match client
            .delete_json(&format!(
                "/volumes/{}{}",
                encode_path(name),
                q.to_query_string()
            ))
            .await
        {
            Ok(_) => output::print(&format!("{name}\n"))?,
            Err(e) => errors.push(item_error(e)?),
        }
    }
    collected(errors)
}

async fn prune(ctx: &mut Ctx, a: PruneArgs) -> Result<()> {
    let mut filters = Filters::parse(&a.filter)?;
    if a.all {
        filters.add("all", "true");
    }
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !prune::confirmed(a.force, warning)? {
        return Ok(());
    }
    let report = prune::post(ctx.client().await?, "volumes", &filters).await?;
    let deleted = &report["VolumesDeleted"];
    output::print(&prune::report("Deleted Volumes", deleted, &report))
}
