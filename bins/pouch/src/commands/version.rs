//! `pouch version`.

use anyhow::Result;
use clap::Args;
use serde_json::{Value, json};

use super::Ctx;
use crate::format::render_one;
use crate::output;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template ('json' or a Go template over .Client and .Server)
    #[arg(short, long)]
    format: Option<String>,
}

/// Go-style names, because that is what `OS/Arch` lines and `.Client.Arch` show everywhere
/// else in the docker ecosystem (`amd64`, not `x86_64`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn client_info(api_version: &str) -> Value {
    json!({
        "Version": pouch_api::VERSION,
        "ApiVersion": api_version,
        "DefaultAPIVersion": pouch_api::API_VERSION,
        "GitCommit": option_env!("POUCH_GIT_COMMIT").unwrap_or_default(),
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
    })
}

/// Prints the client part even when the daemon is unreachable (that is when people run
/// `version`), then reports the daemon error.
pub async fn run(ctx: &mut Ctx, args: VersionArgs) -> Result<()> {
    let server = match ctx.client().await {
        Ok(client) => client.get_json("/version").await,
        Err(e) => Err(e.downcast::<pouch_client::Error>()?),
    };
    let api_version = ctx.offline_client().api_version().to_owned();
    let client = client_info(&api_version);
    let server_value = server.as_ref().ok().cloned().unwrap_or(Value::Null);
    let text = match args.format.as_deref() {
        Some(f) if !f.is_empty() => {
            let all = json!({"Client": client, "Server": server_value});
            match render_one(f, &all) {
                Ok(t) => t,
                // A template over .Server cannot work without a server: report that instead.
                Err(e) if server.is_ok() => return Err(e),
                Err(_) => String::new(),
            }
        }
        _ => render_text(&client, server.as_ref().ok()),
    };
    output::print(&text)?;
    server.map(drop).map_err(Into::into)
}

/// docker's aligned `Key:  value` lines (its tabwriter uses a minimum cell width of 20).
fn line(out: &mut String, key: &str, value: &str) {
    out.push_str(&format!("{key:<20}{value}\n"));
}

fn render_text(client: &Value, server: Option<&Value>) -> String {
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut out = String::from("Client:\n");
    line(&mut out, " Version:", &s(client, "Version"));
    let mut api = s(client, "ApiVersion");
    if api != s(client, "DefaultAPIVersion") {
        api.push_str(&format!(
            " (downgraded from {})",
            s(client, "DefaultAPIVersion")
        ));
    }
    line(&mut out, " API version:", &api);
    if !s(client, "GitCommit").is_empty() {
        line(&mut out, " Git commit:", &s(client, "GitCommit"));
    }
    line(
        &mut out,
        " OS/Arch:",
        &format!("{}/{}", s(client, "Os"), s(client, "Arch")),
    );
    let Some(server) = server else {
        return out;
    };
    out.push_str("\nServer:");
    if let Some(name) = server.pointer("/Platform/Name").and_then(Value::as_str) {
        if !name.is_empty() {
            out.push(' ');
            out.push_str(name);
        }
    }
    out.push_str("\n Engine:\n");
    line(&mut out, "  Version:", &s(server, "Version"));
    line(
        &mut out,
        "  API version:",
        &format!(
            "{} (minimum version {})",
            s(server, "ApiVersion"),
            s(server, "MinAPIVersion")
        ),
    );
    for (key, field) in [
        ("  Git commit:", "GitCommit"),
        ("  Built:", "BuildTime"),
        ("  OS/Arch:", ""),
        ("  Kernel Version:", "KernelVersion"),
    ] {
        let value = if field.is_empty() {
            format!("{}/{}", s(server, "Os"), s(server, "Arch"))
        } else {
            s(server, field)
        };
        if !value.is_empty() {
            line(&mut out, key, &value);
        }
    }
    if let Some(exp) = server.get("Experimental").and_then(Value::as_bool) {
        line(&mut out, "  Experimental:", &exp.to_string());
    }
    // Other components (runtimes, shims) as docker lists them: version, then details by name.
    let components = server.get("Components").and_then(Value::as_array);
    for comp in components.map(Vec::as_slice).unwrap_or_default() {
        let name = s(comp, "Name");
        if name == "Engine" || name.is_empty() {
            continue;
        }
        out.push_str(&format!(" {name}:\n"));
        line(&mut out, "  Version:", &s(comp, "Version"));
        if let Some(details) = comp.get("Details").and_then(Value::as_object) {
            for (k, v) in details {
                line(&mut out, &format!("  {k}:"), v.as_str().unwrap_or_default());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_client_and_server() {
        let client = json!({"Version": "0.1.0", "ApiVersion": "1.44", "DefaultAPIVersion": "1.47",
                            "GitCommit": "", "Os": "linux", "Arch": "amd64"});
        let server = json!({
            "Platform": {"Name": "pouch"},
            "Version": "0.1.0", "ApiVersion": "1.47", "MinAPIVersion": "1.24",
            "GitCommit": "abc123", "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0",
            "Components": [
                {"Name": "Engine", "Version": "0.1.0"},
                {"Name": "pouch-shim", "Version": "0.1.0", "Details": {"GitCommit": "abc123"}}
            ]
        });
        let want = "Client:
 Version:           0.1.0
 API version:       1.44 (downgraded from 1.47)
 OS/Arch:           linux/amd64

Server: pouch
 Engine:
  Version:          0.1.0
  API version:      1.47 (minimum version 1.24)
  Git commit:       abc123
  OS/Arch:          linux/amd64
  Kernel Version:   6.1.0
 pouch-shim:
  Version:          0.1.0
  GitCommit:        abc123
";
        assert_eq!(render_text(&client, Some(&server)), want);
        assert!(render_text(&client, None).ends_with("linux/amd64\n"));
    }

    #[test]
    fn template_over_client_and_server() {
        let all = json!({"Client": client_info("1.47"), "Server": {"Version": "9"}});
        assert_eq!(
            render_one("{{.Server.Version}} {{.Client.ApiVersion}}", &all).unwrap(),
            "9 1.47\n"
        );
    }
}
