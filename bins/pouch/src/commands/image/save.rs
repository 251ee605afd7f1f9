//! `pouch save` / `pouch image save`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use futures_util::TryStreamExt;
use pouch_client::{ByteStream, Query};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::commands::Ctx;
use crate::output;

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: SaveArgs) -> Result<()> {
    if args.output.is_none() && output::stdout_is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let mut query = Query::new();
    for name in &args.images {
        query.push("names", name.as_str());
    }
    let path = format!("/images/get{}", query.to_query_string());
    match &args.output {
        Some(dest) => save_to_file(ctx, &path, dest).await,
        None => {
            let body = ctx.client().await?.get_stream(&path).await?;
            copy(body, &mut tokio::io::stdout()).await
        }
    }
}

/// Streams into a temporary file next to `dest` and renames it into place only when the whole
/// archive arrived, so an interrupted save never leaves a truncated tar under the real name.
pub(crate) async fn save_to_file(ctx: &mut Ctx, path: &str, dest: &Path) -> Result<()> {
    let tmp = temp_path(dest);
    let mut file = tokio::fs::File::create(&tmp).await.with_context(|| {
        format!(
            "failed to save image: invalid output path {}",
            dest.display()
        )
    })?;
    let result = async {
        let body = ctx.client().await?.get_stream(path).await?;
        copy(body, &mut file).await?;
        file.sync_all().await.context("flushing the archive")?;
        tokio::fs::rename(&tmp, dest)
            .await
            .with_context(|| format!("renaming into {}", dest.display()))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image.tar".to_owned());
    dest.with_file_name(format!(".{name}.pouch-tmp-{}", std::process::id()))
}

pub(crate) async fn copy<W: AsyncWrite + Unpin>(mut body: ByteStream, out: &mut W) -> Result<()> {
    while let Some(chunk) = body.try_next().await? {
        out.write_all(&chunk).await.context("writing the archive")?;
    }
    out.flush().await.context("writing the archive")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_is_a_hidden_sibling() {
        let tmp = temp_path(Path::new("/out/dir/busybox.tar"));
        assert_eq!(tmp.parent(), Some(Path::new("/out/dir")));
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".busybox.tar.pouch-tmp-"), "{name}");
    }
}
