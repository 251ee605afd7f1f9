//! `pouch info`.

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};

use super::Ctx;
use crate::format::render_one;
use crate::output;
use crate::units;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template ('json' or a Go template over the /info fields)
    #[arg(short, long)]
    format: Option<String>,
}

pub async fn run(ctx: &mut Ctx, args: InfoArgs) -> Result<()> {
    let debug = ctx.debug();
    let mut info = ctx.client().await?.get_json("/info").await?;
    if let Some(f) = args.format.as_deref().filter(|f| !f.is_empty()) {
        // docker exposes the client's own facts next to the server's fields.
        if let Value::Object(map) = &mut info {
            map.insert(
                "ClientInfo".to_owned(),
                json!({"Version": pouch_api::VERSION, "Debug": debug}),
            );
        }
        return output::print(&render_one(f, &info)?);
    }
    output::print(&render_text(&info, debug))?;
    let warnings = info.get("Warnings").and_then(Value::as_array);
    for w in warnings.map(Vec::as_slice).unwrap_or_default() {
        if let Some(w) = w.as_str() {
            eprintln!("{w}");
        }
    }
    Ok(())
}

/// Builds docker's human summary. Fields the daemon leaves empty are skipped, as docker does,
/// rather than printed blank.
fn render_text(info: &Value, debug: bool) -> String {
    let s = |k: &str| info.get(k).and_then(Value::as_str).unwrap_or_default();
    let n = |k: &str| info.get(k).and_then(Value::as_i64).unwrap_or(0);
    let b = |k: &str| info.get(k).and_then(Value::as_bool).unwrap_or(false);
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let non_empty = |line: &mut dyn FnMut(String), key: &str, value: &str| {
        if !value.is_empty() {
            line(format!("{key} {value}"));
        }
    };

    line("Client:".into());
    line(format!(" Version:    {}", pouch_api::VERSION));
    line(format!(" Debug Mode: {debug}"));
    line(String::new());
    line("Server:".into());
    line(format!(" Containers: {}", n("Containers")));
    line(format!("  Running: {}", n("ContainersRunning")));
    line(format!("  Paused: {}", n("ContainersPaused")));
    line(format!("  Stopped: {}", n("ContainersStopped")));
    line(format!(" Images: {}", n("Images")));
    non_empty(&mut line, " Server Version:", s("ServerVersion"));
    non_empty(&mut line, " Storage Driver:", s("Driver"));
    let driver_status = info.get("DriverStatus").and_then(Value::as_array);
    for pair in driver_status.map(Vec::as_slice).unwrap_or_default() {
        if let [k, v] = strings(Some(pair)).as_slice() {
            line(format!("  {k}: {v}"));
        }
    }
    non_empty(&mut line, " Logging Driver:", s("LoggingDriver"));
    non_empty(&mut line, " Cgroup Driver:", s("CgroupDriver"));
    non_empty(&mut line, " Cgroup Version:", s("CgroupVersion"));
    if let Some(plugins) = info.get("Plugins").filter(|p| p.is_object()) {
        line(" Plugins:".into());
        for kind in ["Volume", "Network", "Authorization", "Log"] {
            let names = strings(plugins.get(kind));
            if !names.is_empty() || kind != "Authorization" {
                line(format!("  {kind}: {}", names.join(" ")));
            }
        }
    }
    if let Some(runtimes) = info.get("Runtimes").and_then(Value::as_object) {
        if !runtimes.is_empty() {
            let names: Vec<&str> = runtimes.keys().map(String::as_str).collect();
            line(format!(" Runtimes: {}", names.join(" ")));
            line(format!(" Default Runtime: {}", s("DefaultRuntime")));
        }
    }
    let security = strings(info.get("SecurityOptions"));
    if !security.is_empty() {
        line(" Security Options:".into());
        for opt in &security {
            for text in security_option(opt) {
                line(text);
            }
        }
    }
    non_empty(&mut line, " Kernel Version:", s("KernelVersion"));
    non_empty(&mut line, " Operating System:", s("OperatingSystem"));
    non_empty(&mut line, " OSType:", s("OSType"));
    non_empty(&mut line, " Architecture:", s("Architecture"));
    line(format!(" CPUs: {}", n("NCPU")));
    line(format!(
        " Total Memory: {}",
        units::bytes_size(n("MemTotal") as f64)
    ));
    non_empty(&mut line, " Name:", s("Name"));
    non_empty(&mut line, " ID:", s("ID"));
    line(format!(" Pouch Root Dir: {}", s("DockerRootDir")));
    line(format!(" Debug Mode: {}", b("Debug")));
    let labels = strings(info.get("Labels"));
    if !labels.is_empty() {
        line(" Labels:".into());
        for l in labels {
            line(format!("  {l}"));
        }
    }
    line(format!(" Experimental: {}", b("Experimental")));
    line(format!(
        " Live Restore Enabled: {}",
        b("LiveRestoreEnabled")
    ));
    if let Some(checks) = info.get("HostChecks").and_then(Value::as_array) {
        line(" Host Checks:".into());
        for c in checks {
            let t = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
            let ok = c.get("Ok").and_then(Value::as_bool).unwrap_or(false);
            line(format!(
                "  {:<20} {}  {}",
                t("Name"),
                if ok { "ok     " } else { "MISSING" },
                t("Detail")
            ));
            if !ok && !t("Fix").is_empty() {
                line(format!("  {:<20}          fix: {}", "", t("Fix")));
            }
        }
    }
    out
}

/// Expands `name=seccomp,profile=builtin` into docker's nested lines.
fn security_option(opt: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for part in opt.split(',') {
        match part.split_once('=') {
            Some(("name", name)) => lines.push(format!("  {name}")),
            Some((k, v)) => {
                let mut key = k.to_owned();
                if let Some(first) = key.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                lines.push(format!("   {key}: {v}"));
            }
            None => lines.push(format!("  {part}")),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_docker_like_summary() {
        let info = json!({
            "Containers": 3, "ContainersRunning": 1, "ContainersPaused": 0, "ContainersStopped": 2,
            "Images": 5, "ServerVersion": "0.1.0", "Driver": "overlayfs",
            "DriverStatus": [["Backing Filesystem", "extfs"]],
            "CgroupDriver": "cgroupfs", "CgroupVersion": "1",
            "Runtimes": {"runc": {"path": "runc"}, "libcontainer": {}}, "DefaultRuntime": "libcontainer",
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "KernelVersion": "6.1.0", "OperatingSystem": "Debian GNU/Linux 12", "OSType": "linux",
            "Architecture": "x86_64", "NCPU": 2, "MemTotal": 25_200_000_000_i64,
            "Name": "host", "ID": "abcd", "DockerRootDir": "/var/lib/pouch", "Debug": false
        });
        let text = render_text(&info, true);
        for want in [
            "Client:\n Version:    0.1.0\n Debug Mode: true\n\nServer:\n Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 5\n",
            " Server Version: 0.1.0\n Storage Driver: overlayfs\n  Backing Filesystem: extfs\n",
            " Cgroup Driver: cgroupfs\n Cgroup Version: 1\n",
            " Runtimes: libcontainer runc\n Default Runtime: libcontainer\n",
            " Security Options:\n  seccomp\n   Profile: builtin\n",
            " Kernel Version: 6.1.0\n Operating System: Debian GNU/Linux 12\n OSType: linux\n Architecture: x86_64\n",
            " CPUs: 2\n Total Memory: 23.47GiB\n Name: host\n ID: abcd\n Pouch Root Dir: /var/lib/pouch\n Debug Mode: false\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("Logging Driver"));
    }
}
