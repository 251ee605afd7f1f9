//! `pouch load` / `pouch image load`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use futures_util::TryStreamExt;
use http::Method;
use pouch_client::{Body, Query};
use tokio::io::AsyncWriteExt;

use crate::commands::Ctx;
use crate::output;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

/// Opens the tar to upload. It is streamed, never read into memory: image archives can be
/// gigabytes.
pub async fn open_tar(path: Option<&std::path::Path>) -> Result<Body> {
    match path {
        Some(p) => {
            let file = tokio::fs::File::open(p)
                .await
                .with_context(|| format!("open {}", p.display()))?;
            Ok(Body::from(file))
        }
        None => Ok(Body::reader(tokio::io::stdin())),
    }
}

pub async fn run(ctx: &mut Ctx, args: LoadArgs) -> Result<()> {
    // Without this check a bare `pouch load` would wait forever on the keyboard.
    if args.input.is_none() && output::stdin_is_terminal() {
        bail!("requested load from stdin, but stdin is empty");
    }
    let body = open_tar(args.input.as_deref()).await?;
    let terminal = output::stdout_is_terminal();
    let mut query = Query::new();
    // Progress bars are only for people: off when asked, and when stdout is not a terminal.
    query.flag("quiet", args.quiet || !terminal);
    let path = format!("/images/load{}", query.to_query_string());
    let resp = ctx
        .client()
        .await?
        .upload(Method::POST, &path, "application/x-tar", body)
        .await?;
    if resp.is_json() {
        return output::display_messages(resp.json_messages(), terminal).await;
    }
    let mut stdout = tokio::io::stdout();
    let mut body = resp.body;
    while let Some(chunk) = body.try_next().await? {
        stdout
            .write_all(&chunk)
            .await
            .context("writing to stdout")?;
    }
    stdout.flush().await.context("writing to stdout")
}
