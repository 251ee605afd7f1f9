//! `pouch network …`: create, ls, inspect, rm, prune, connect, disconnect.

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use pouch_client::encode_path;
use serde_json::{Map, Value, json};

use super::{Ctx, prune};
use crate::exit::{collected, item_error};
use crate::filters::{Filters, list_template};
use crate::format::{Format, Headers, label_pairs};
use crate::output;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    attachable: bool,
    /// Enable or disable IPv6 networking
    #[arg(long)]
    ipv6: bool,
    /// Set metadata on a network
    #[arg(long = "label")]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    #[arg(value_name = "NETWORK")]
    name: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    force: bool,
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    ip: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long)]
    alias: Vec<String>,
    /// MAC address
    #[arg(long = "mac-address")]
    mac_address: Option<String>,
    network: String,
    container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    network: String,
    container: String,
}

const TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
const HEADERS: Headers = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

pub async fn run(ctx: &mut Ctx, cmd: NetworkCommand) -> Result<()> {
    match cmd {
        NetworkCommand::Create(a) => create(ctx, a).await,
        NetworkCommand::Ls(a) => list(ctx, a).await,
        NetworkCommand::Inspect(a) => inspect(ctx, a).await,
        NetworkCommand::Rm(a) => remove(ctx, a).await,
        NetworkCommand::Prune(a) => prune(ctx, a).await,
        NetworkCommand::Connect(a) => connect(ctx, a).await,
        NetworkCommand::Disconnect(a) => disconnect(ctx, a).await,
    }
}

fn key_values(items: &[String]) -> Map<String, Value> {
    items
        .iter()
        .map(|i| {
            let (k, v) = i.split_once('=').unwrap_or((i.as_str(), ""));
            (k.to_string(), json!(v))
        })
        .collect()
}

async fn create(ctx: &mut Ctx, a: CreateArgs) -> Result<()> {
    let mut configs = Vec::new();
    for (i, s) in a.subnet.iter().enumerate() {
        let mut c = Map::new();
        c.insert("Subnet".into(), json!(s));
        if let Some(g) = a.gateway.get(i) {
            c.insert("Gateway".into(), json!(g));
        }
        if let Some(r) = a.ip_range.get(i) {
            c.insert("IPRange".into(), json!(r));
        }
        configs.push(Value::Object(c));
    }
    if a.subnet.is_empty() && !(a.gateway.is_empty() && a.ip_range.is_empty()) {
        return Err(anyhow!(
            "every ip-range or gateway must have a corresponding subnet"
        ));
    }
    let body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Internal": a.internal,
        "Attachable": a.attachable,
        "EnableIPv6": a.ipv6,
        "IPAM": {"Driver": "default", "Config": configs},
        "Options": key_values(&a.opt),
        "Labels": key_values(&a.label),
    });
    let v = ctx
        .client()
        .await?
        .post_json("/networks/create", Some(&body))
        .await?;
    output::print(&format!("{}\n", v["Id"].as_str().unwrap_or_default()))
}

async fn list(ctx: &mut Ctx, a: ListArgs) -> Result<()> {
    let filters = Filters::parse(&a.filter)?;
    let resp = ctx
        .client()
        .await?
        .get_json(&format!("/networks{}", filters.query_string()))
        .await?;
    let template = list_template(a.format.as_deref(), a.quiet, "{{.ID}}", TABLE);
    let format = Format::parse(template, TABLE)?;
    let mut rows: Vec<Value> = resp
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|n| row(n, a.no_trunc))
        .collect();
    rows.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    format.print(&rows, HEADERS)
}

fn row(n: &Value, no_trunc: bool) -> Value {
    let id = n["Id"].as_str().unwrap_or_default();
    json!({
        "ID": if no_trunc { id } else { &id[..id.len().min(12)] },
        "Name": n["Name"],
        "Driver": n["Driver"],
        "Scope": n["Scope"],
        "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
        "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
        "Labels": label_pairs(&n["Labels"]).join(","),
        "CreatedAt": n["Created"],
    })
}

async fn inspect(ctx: &mut Ctx, a: InspectArgs) -> Result<()> {
    let client = ctx.client().await?;
    super::image::inspect::inspect_each(client, &a.networks, a.format.as_deref(), "network", |n| {
        format!("/networks/{}", encode_path(n))
    })
    .await
}

async fn remove(ctx: &mut Ctx, a: RmArgs) -> Result<()> {
    let client = ctx.client().await?;
    let mut errors = Vec::new();
    for name in &a.networks {
        match client
            .delete_json(&format!("/networks/{}", encode_path(name)))
            .await
        {
            Ok(_) => output::print(&format!("{name}\n"))?,
            Err(e) if a.force && e.is_not_found() => {}
            Err(e) => errors.push(item_error(e)?),
        }
    }
    collected(errors)
}

async fn prune(ctx: &mut Ctx, a: PruneArgs) -> Result<()> {
    let filters = Filters::parse(&a.filter)?;
    let warning =
        "WARNING! This will remove all custom networks not used by at least one container.";
    if !prune::confirmed(a.force, warning)? {
        return Ok(());
    }
    let report = prune::post(ctx.client().await?, "networks", &filters).await?;
    output::print(&prune::deleted(
        "Deleted Networks",
        &report["NetworksDeleted"],
    ))
}

async fn connect(ctx: &mut Ctx, a: ConnectArgs) -> Result<()> {
    let mut ep = Map::new();
    if let Some(ip) = &a.ip {
        ep.insert("IPAMConfig".into(), json!({"IPv4Address": ip}));
    }
    if !a.alias.is_empty() {
        ep.insert("Aliases".into(), json!(a.alias));
    }
    if let Some(m) = &a.mac_address {
        ep.insert("MacAddress".into(), json!(m));
    }
    let body = json!({"Container": a.container, "EndpointConfig": ep});
    ctx.client()
        .await?
        .post_json(
            &format!("/networks/{}/connect", encode_path(&a.network)),
            Some(&body),
        )
        .await?;
    Ok(())
}

async fn disconnect(ctx: &mut Ctx, a: DisconnectArgs) -> Result<()> {
    let body = json!({"Container": a.container, "Force": a.force});
    ctx.client()
        .await?
        .post_json(
            &format!("/networks/{}/disconnect", encode_path(&a.network)),
            Some(&body),
        )
        .await?;
    Ok(())
}
