//! `pouch ps` / `pouch container ls`: docker's container table and `--format` fields.

use std::net::IpAddr;

use anyhow::Result;
use clap::Args;
use pouch_client::Query;
use serde_json::{Value, json};

use crate::commands::Ctx;
use crate::filters::Filters;
use crate::format::{Format, Headers, label_pairs};
use crate::reference::{ellipsis, familiar_name, normalize_name, split_tag, truncate_id};
use crate::units;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", value_name = "N", default_value_t = -1,
          allow_hyphen_values = true)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
}

const TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
const RAW: &str = "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\nstate: {{.State}}\nstatus: {{.Status}}\nnames: {{.Names}}\nlabels: {{.Labels}}\nports: {{.Ports}}\n";

const HEADERS: Headers = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

/// docker's `NewContainerFormat`.
fn choose_format(format: &str, quiet: bool, size: bool) -> String {
    match format {
        "" | "table" if quiet => "{{.ID}}".to_owned(),
        "" | "table" if size => format!("{TABLE}\t{{{{.Size}}}}"),
        "" | "table" => TABLE.to_owned(),
        "raw" if quiet => "container_id: {{.ID}}".to_owned(),
        "raw" => RAW.to_owned(),
        _ if quiet => "{{.ID}}".to_owned(),
        custom => custom.to_owned(),
    }
}

pub async fn run(ctx: &mut Ctx, args: ListArgs) -> Result<()> {
    let format_arg = args.format.clone().unwrap_or_default();
    let template = choose_format(&format_arg, args.quiet, args.size);
    let format = Format::parse(&template, TABLE)?;
    // Sizes are costly for the daemon: only asked for when shown.
    let size = args.size || (!args.quiet && (template.contains(".Size") || format_arg == "json"));
    let mut q = Query::new();
    q.flag("all", args.all).flag("size", size);
    let limit = if args.latest && args.last == -1 {
        1
    } else {
        args.last
    };
    if limit > 0 {
        q.push("limit", limit.to_string());
    }
    let filters = Filters::parse(&args.filter)?;
    if !filters.is_empty() {
        q.push("filters", filters.to_json());
    }
    let list = ctx
        .client()
        .await?
        .get_json(&format!("/containers/json{}", q.to_query_string()))
        .await?;
    let now = units::now_unix();
    let rows: Vec<Value> = list
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| display_row(c, !args.no_trunc, now))
        .collect();
    format.print(&rows, HEADERS)
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn text<'a>(c: &'a Value, key: &str) -> &'a str {
    c.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The image column: the id when the container was created from one, else the reference
/// without its digest, in docker's short form.
fn image(c: &Value, trunc: bool) -> String {
    let image = text(c, "Image");
    if image.is_empty() {
        return "<no image>".to_owned();
    }
    if !trunc {
        return image.to_owned();
    }
    let image_id = text(c, "ImageID");
    if truncate_id(image_id) == truncate_id(image) {
        return truncate_id(image).to_owned();
    }
    let without_digest = image.split_once('@').map_or(image, |(name, _)| name);
    let (name, tag) = split_tag(without_digest);
    let name = normalize_name(name);
    match tag {
        Some(t) => format!("{}:{t}", familiar_name(&name)),
        None => familiar_name(&name).to_owned(),
    }
}

fn names(c: &Value, trunc: bool) -> String {
    let names: Vec<&str> = c
        .get("Names")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let stripped = names.iter().map(|n| n.trim_start_matches('/'));
    if trunc {
        // One name only, and not a legacy link (`other/alias`).
        return stripped
            .clone()
            .find(|n| !n.contains('/'))
            .unwrap_or_default()
            .to_owned();
    }
    stripped.collect::<Vec<_>>().join(",")
}

/// Sort key of an address like Go's `netip.Addr.Less`: none < IPv4 < IPv6.
fn ip_key(ip: &str) -> (u8, Vec<u8>) {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => (1, a.octets().to_vec()),
        Ok(IpAddr::V6(a)) => (2, a.octets().to_vec()),
        Err(_) => (0, Vec::new()),
    }
}

fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// docker's `DisplayablePorts`: `0.0.0.0:8080->80/tcp, 9000-9001/tcp`, consecutive ports
/// folded into ranges.
pub fn displayable_ports(ports: &[Value]) -> String {
    let mut ports: Vec<(u16, String, u16, String)> = ports
        .iter()
        .map(|p| {
            let port = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0) as u16;
            (
                port("PrivatePort"),
                text(p, "IP").to_owned(),
                port("PublicPort"),
                text(p, "Type").to_owned(),
            )
        })
        .collect();
    ports.sort_by(|a, b| (a.0, ip_key(&a.1), a.2, &a.3).cmp(&(b.0, ip_key(&b.1), b.2, &b.3)));
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for (private, ip, public, kind) in ports {
        let mut key = kind.clone();
        if !ip.is_empty() {
            if public != private {
                host_mappings.push(format!(
                    "{}->{private}/{kind}",
                    join_host_port(&ip, &public.to_string())
                ));
                continue;
            }
            key = format!("{ip}/{kind}");
        }
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, private, private)),
            Some(group) if private == group.2.wrapping_add(1) => group.2 = private,
            Some(group) => {
                result.push(form_group(&group.0, group.1, group.2));
                *group = (key, private, private);
            }
        }
    }
    for (key, first, last) in &groups {
        result.push(form_group(key, *first, *last));
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, kind) = match key.rsplit_once('/') {
        Some((ip, kind)) => (ip, kind),
        None => ("", key),
    };
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{}->{group}", join_host_port(ip, &group));
    }
    format!("{group}/{kind}")
}

/// The strings `--format` sees for one container (docker's `ContainerContext`).
fn display_row(c: &Value, trunc: bool, now: i64) -> Value {
    let id = text(c, "Id");
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let command = if trunc {
        ellipsis(text(c, "Command"), 20)
    } else {
        text(c, "Command").to_owned()
    };
    let size_rw = c.get("SizeRw").and_then(Value::as_f64).unwrap_or(0.0);
    let size_root = c.get("SizeRootFs").and_then(Value::as_f64).unwrap_or(0.0);
    let mut size = units::human_size_precision(size_rw, 3);
    if size_root > 0.0 {
        size = format!(
            "{size} (virtual {})",
            units::human_size_precision(size_root, 3)
        );
    }
    let mut labels = label_pairs(&c["Labels"]);
    labels.sort();
    let mounts = c
        .get("Mounts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let name = match text(m, "Name") {
                "" => text(m, "Source"),
                n => n,
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_owned()
            }
        })
        .collect();
    let local_volumes = mounts
        .iter()
        .filter(|m| text(m, "Driver") == "local")
        .count();
    let networks: Vec<&str> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let ports = c
        .get("Ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    json!({
        "ID": if trunc { truncate_id(id) } else { id },
        "Image": image(c, trunc),
        "Command": go_quote(&command),
        "CreatedAt": units::go_time_string(created),
        "RunningFor": format!("{} ago", units::human_duration(now - created)),
        "Ports": displayable_ports(ports),
        "State": text(c, "State"),
        "Status": text(c, "Status"),
        "Size": size,
        "Names": names(c, trunc),
        "Labels": labels.join(","),
        "Mounts": mount_names.join(","),
        "Networks": networks.join(","),
        "LocalVolumes": local_volumes.to_string(),
    })
}

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
