//! `pouch create` / `pouch container create`, and the create step `run` shares.

use anyhow::{Result, anyhow};
use clap::Args;
use pouch_client::{Client, Query};
use serde_json::Value;

use super::config::{self, Env, Spec};
use super::opts::ContainerOptions;
use super::tty;
use crate::commands::Ctx;
use crate::exit::usage_failure;
use crate::output;
use crate::reference::{pull_params, with_default_tag};

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOptions,
}

pub async fn run(ctx: &mut Ctx, args: CreateArgs) -> Result<()> {
    let spec = parse_spec("create", &args.opts)?;
    let client = ctx.client().await?;
    let id = create_container(client, &spec, &args.opts.pull, args.opts.quiet).await?;
    output::print(&format!("{id}\n"))
}

/// Validates `--pull` and maps the flags; a bad flag value fails like docker's
/// (`pouch: …`, exit 125).
pub fn parse_spec(command: &str, opts: &ContainerOptions) -> Result<Spec> {
    let build = || -> Result<Spec> {
        if !matches!(opts.pull.as_str(), "always" | "missing" | "never" | "") {
            return Err(anyhow!(
                "invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"",
                opts.pull
            ));
        }
        let console = if opts.tty { tty::size() } else { None };
        config::build(opts, &Env::system(console))
    };
    build().map_err(|e| usage_failure(command, &e, 125))
}

/// Creates the container, pulling the image first with `--pull always` or when the daemon
/// does not have it (`--pull missing`, the default), as docker does. Prints the daemon's
/// warnings and returns the new container's id.
pub async fn create_container(
    client: &Client,
    spec: &Spec,
    pull: &str,
    quiet: bool,
) -> Result<String> {
    if pull == "always" {
        pull_image(client, &spec.image, quiet).await?;
    }
    let mut query = Query::new();
    if let Some(name) = &spec.name {
        query.push("name", name.as_str());
    }
    if let Some(platform) = &spec.platform {
        query.push("platform", platform.as_str());
    }
    let path = format!("/containers/create{}", query.to_query_string());
    let body = spec.body();
    let response = match client.post_json(&path, Some(&body)).await {
        Ok(r) => r,
        Err(e) if is_missing_image(&e) && (pull == "missing" || pull.is_empty()) => {
            if !quiet {
                eprintln!(
                    "Unable to find image '{}' locally",
                    with_default_tag(&spec.image)
                );
            }
            pull_image(client, &spec.image, quiet).await?;
            client.post_json(&path, Some(&body)).await?
        }
        Err(e) => return Err(e.into()),
    };
    print_warnings(&response);
    response
        .get("Id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the daemon returned no container id"))
}

fn is_missing_image(err: &pouch_client::Error) -> bool {
    match err {
        pouch_client::Error::Api {
            status: 404,
            message,
        } => message.starts_with("No such image"),
        _ => false,
    }
}

fn print_warnings(response: &Value) {
    let warnings = response
        .get("Warnings")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for w in warnings.iter().filter_map(Value::as_str) {
        eprintln!("WARNING: {w}");
    }
}

/// `POST /images/create?fromImage=…&tag=…`, with the progress on stderr so that stdout only
/// ever carries the container id.
async fn pull_image(client: &Client, image: &str, quiet: bool) -> Result<()> {
    let (from, tag) = pull_params(image);
    let auth = crate::commands::login::auth_headers(&from);
    let mut query = Query::new();
    query.push("fromImage", from).push("tag", tag);
    let path = format!("/images/create{}", query.to_query_string());
    let resp = client.post_stream_with_headers(&path, &auth).await?;
    let messages = resp.json_messages();
    if quiet {
        return output::drain_messages(messages).await;
    }
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    output::display_messages_on(messages, terminal, output::eprint).await
}
