//! `pouch exec`: run a command in a running container.
//!
//! docker's flow: check the container exists, create the exec, start it on a hijacked
//! connection (or detached), stream, then read the exec's exit code and exit with it.

use anyhow::{Context, Result, anyhow};
use clap::Args;
use pouch_client::encode_path;
use serde_json::{Map, Value, json};

use super::envs;
use super::stream::{self, Streams};
use super::tty;
use crate::commands::Ctx;
use crate::exit::container_exit;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "ENV")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    workdir: Option<String>,
    /// CONTAINER, then the command and its arguments
    #[arg(required = true, num_args = 2.., trailing_var_arg = true,
          allow_hyphen_values = true, value_name = "CONTAINER COMMAND [ARG...]")]
    args: Vec<String>,
}

/// The body of `POST /containers/{id}/exec`.
fn exec_config(args: &ExecArgs, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Value> {
    let mut env = Vec::new();
    for file in &args.env_file {
        let contents = std::fs::read_to_string(file).with_context(|| format!("open {file}"))?;
        env.extend(envs::env_file(&contents, lookup)?);
    }
    for e in &args.env {
        env.push(envs::env_var(e, lookup)?);
    }
    let mut c = Map::new();
    c.insert("User".into(), json!(args.user.clone().unwrap_or_default()));
    c.insert("Privileged".into(), json!(args.privileged));
    c.insert("Tty".into(), json!(args.tty));
    c.insert(
        "AttachStdin".into(),
        json!(args.interactive && !args.detach),
    );
    c.insert("AttachStderr".into(), json!(!args.detach));
    c.insert("AttachStdout".into(), json!(!args.detach));
    c.insert("Detach".into(), json!(args.detach));
    c.insert(
        "DetachKeys".into(),
        json!(args.detach_keys.clone().unwrap_or_default()),
    );
    if !env.is_empty() {
        c.insert("Env".into(), json!(env));
    }
    c.insert(
        "WorkingDir".into(),
        json!(args.workdir.clone().unwrap_or_default()),
    );
    c.insert("Cmd".into(), json!(args.args[1..]));
    Ok(Value::Object(c))
}

pub async fn run(ctx: &mut Ctx, args: ExecArgs) -> Result<()> {
    let container = args.args[0].clone();
    if container.starts_with('-') {
        anyhow::bail!("unknown flag: {container}");
    }
    let stdin = args.interactive && !args.detach;
    if !args.detach {
        tty::check_tty(stdin, args.tty)?;
    }
    let mut config = exec_config(&args, &|k| std::env::var(k).ok())?;
    let console = if args.tty { tty::size() } else { None };
    if let Some((h, w)) = console {
        config["ConsoleSize"] = json!([h, w]);
    }
    let client = ctx.client().await?.clone();
    client
        .get_json(&format!("/containers/{}/json", encode_path(&container)))
        .await?;
    let created = client
        .post_json(
            &format!("/containers/{}/exec", encode_path(&container)),
            Some(&config),
        )
        .await?;
    let exec_id = created
        .get("Id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| anyhow!("exec ID empty"))?
        .to_owned();
    let start_path = format!("/exec/{}/start", encode_path(&exec_id));
    let mut start = json!({"Detach": args.detach, "Tty": args.tty});
    if let Some((h, w)) = console {
        start["ConsoleSize"] = json!([h, w]);
    }
    if args.detach {
        client.post_json(&start_path, Some(&start)).await?;
        return Ok(());
    }
    let conn = client.hijack(&start_path, Some(&start)).await?;
    let resizer = (args.tty && console.is_some())
        .then(|| tty::monitor(client.clone(), format!("/exec/{}", encode_path(&exec_id))));
    let streams = Streams {
        stdin,
        tty: args.tty,
        detach_keys: args.detach_keys.clone(),
    };
    let outcome = stream::stream(conn, &streams).await;
    if let Some(r) = resizer {
        r.abort();
    }
    outcome?;
    let inspect = client
        .get_json(&format!("/exec/{}/json", encode_path(&exec_id)))
        .await?;
    container_exit(inspect.get("ExitCode").and_then(Value::as_i64).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        exec: ExecArgs,
    }

    fn config(argv: &[&str]) -> Value {
        let cli = Cli::try_parse_from(std::iter::once("exec").chain(argv.iter().copied())).unwrap();
        exec_config(&cli.exec, &|k| (k == "HOME").then(|| "/root".to_owned())).unwrap()
    }

    #[test]
    fn exec_bodies_match_docker() {
        assert_eq!(
            config(&[
                "-e", "A=1", "-e", "HOME", "-w", "/tmp", "-u", "1", "c", "sh", "-c", "exit 3"
            ]),
            json!({"User": "1", "Privileged": false, "Tty": false, "AttachStdin": false,
                   "AttachStderr": true, "AttachStdout": true, "Detach": false, "DetachKeys": "",
                   "Env": ["A=1", "HOME=/root"], "WorkingDir": "/tmp", "Cmd": ["sh", "-c", "exit 3"]})
        );
        let v = config(&["-it", "--privileged", "c", "sh"]);
        assert_eq!(
            (v["AttachStdin"].clone(), v["Tty"].clone()),
            (json!(true), json!(true))
        );
        assert_eq!(v["Privileged"], true);
        let v = config(&["-di", "c", "true"]);
        assert_eq!(v["AttachStdin"], false);
        assert_eq!(v["AttachStdout"], false);
        assert_eq!(v["Detach"], true);
        assert!(Cli::try_parse_from(["exec", "c"]).is_err());
    }
}
