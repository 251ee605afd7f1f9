//! `pouch login` / `pouch logout`, and the credentials store they share with the docker CLI:
//! `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`), `auths.<server>.auth` =
//! base64 of `user:password`. Other keys of that file are kept as they are.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use clap::Args;
use serde_json::{Map, Value, json};

use crate::commands::Ctx;
use crate::output;

/// docker's key for Docker Hub in `auths`.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry server (default Docker Hub)
    #[arg(value_name = "SERVER")]
    server: Option<String>,
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry server (default Docker Hub)
    #[arg(value_name = "SERVER")]
    server: Option<String>,
}

fn config_path() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").context("HOME is not set; set DOCKER_CONFIG")?;
    Ok(PathBuf::from(home).join(".docker/config.json"))
}

fn read_config() -> Result<Map<String, Value>> {
    let path = config_path()?;
    match std::fs::read(&path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => serde_json::from_slice(&b).with_context(|| format!("parse {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

/// Writes the file through a temp file and rename, mode 0600 (it holds passwords).
fn write_config(cfg: &Map<String, Value>) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = config_path()?;
    let dir = path.parent().context("config path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("write {}", tmp.display()))?;
    f.write_all(&serde_json::to_vec_pretty(cfg)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// The `auths` key of a server as the user typed it (`https://host/` → `host`).
fn server_key(server: Option<&str>) -> String {
    match server {
        None | Some("") => DOCKER_HUB_SERVER.to_string(),
        Some(s) => {
            let host = s
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or(s);
            if matches!(
                host,
                "docker.io" | "index.docker.io" | "registry-1.docker.io"
            ) {
                DOCKER_HUB_SERVER.to_string()
            } else {
                host.to_string()
            }
        }
    }
}

/// The registry host of an image name, as `auths` keys it.
pub fn server_of_image(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first != first.to_lowercase() =>
        {
            server_key(Some(first))
        }
        _ => DOCKER_HUB_SERVER.to_string(),
    }
}

/// The `X-Registry-Auth` header for pulling or pushing `image`: the stored credentials of its
/// registry, or `None` when there are none.
pub fn registry_auth_for(image: &str) -> Option<String> {
    let server = server_of_image(image);
    let cfg = read_config().ok()?;
    let auth = cfg.get("auths")?.get(&server)?.get("auth")?.as_str()?;
    let raw = String::from_utf8(STANDARD.decode(auth.trim()).ok()?).ok()?;
    let (user, pass) = raw.split_once(':')?;
    let v = json!({"username": user, "password": pass, "serveraddress": server});
    Some(URL_SAFE.encode(serde_json::to_vec(&v).ok()?))
}

/// Headers to send with a pull or push of `image`.
pub fn auth_headers(image: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    if let Some(a) = registry_auth_for(image)
        && let Ok(v) = http::HeaderValue::from_str(&a)
    {
        h.insert("X-Registry-Auth", v);
    }
    h
}

pub async fn login(ctx: &mut Ctx, args: LoginArgs) -> Result<()> {
    let server = server_key(args.server.as_deref());
    let username = match args.username {
        Some(u) => u,
        None => {
            output::print("Username: ")?;
            read_line()?
        }
    };
    let password = match (args.password, args.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p
        }
        (None, _) => {
            if !args.password_stdin {
                output::print("Password: ")?;
            }
            read_line()?
        }
    };
    if username.is_empty() || password.is_empty() {
        bail!("Error: Cannot perform an interactive login from a non TTY device");
    }
    let body = json!({"username": username, "password": password, "serveraddress": server});
    let resp = ctx.client().await?.post_json("/auth", Some(&body)).await?;
    let mut cfg = read_config()?;
    let auths = cfg
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    auths.as_object_mut().expect("object").insert(
        server.clone(),
        json!({"auth": STANDARD.encode(format!("{username}:{password}"))}),
    );
    write_config(&cfg)?;
    let status = resp
        .get("Status")
        .and_then(Value::as_str)
        .unwrap_or("Login Succeeded");
    output::print(&format!("{status}\n"))
}

pub async fn logout(_ctx: &mut Ctx, args: LogoutArgs) -> Result<()> {
    let server = server_key(args.server.as_deref());
    let mut cfg = read_config()?;
    let removed = cfg
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.remove(&server))
        .is_some();
    if !removed {
        return output::print(&format!("Not logged in to {server}\n"));
    }
    write_config(&cfg)?;
    output::print(&format!("Removing login credentials for {server}\n"))
}

fn read_line() -> Result<String> {
    let mut s = String::new();
    std::io::stdin().lock().read_line(&mut s)?;
    Ok(s.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_of_images() {
        assert_eq!(server_of_image("busybox"), DOCKER_HUB_SERVER);
        assert_eq!(server_of_image("user/app:1"), DOCKER_HUB_SERVER);
        assert_eq!(server_of_image("localhost:5000/a"), "localhost:5000");
        assert_eq!(server_of_image("127.0.0.1:5000/a/b:c"), "127.0.0.1:5000");
        assert_eq!(
            server_key(Some("https://127.0.0.1:5000/")),
            "127.0.0.1:5000"
        );
        assert_eq!(server_key(Some("docker.io")), DOCKER_HUB_SERVER);
    }
}
