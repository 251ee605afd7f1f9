//! `pouch cp`: copy files between a container and the local filesystem, through
//! `GET`/`HEAD`/`PUT /containers/{id}/archive` and tar, with docker's copy rules.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use clap::Args;
use futures_util::{StreamExt, TryStreamExt};
use http::Method;
use pouch_client::{Body, Client, Query, encode_path};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::archive::{self, ChannelReader, ChannelWriter, PathStat};
use crate::commands::Ctx;
use crate::units;

const STAT_HEADER: &str = "x-docker-container-path-stat";

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short, long)]
    quiet: bool,
    #[arg(value_name = "SRC")]
    src: String,
    #[arg(value_name = "DEST")]
    dst: String,
}

/// One side of a copy.
#[derive(Debug, PartialEq, Eq)]
enum Loc {
    Local(String),
    Container { name: String, path: String },
}

/// docker's `splitCpArg`: `CONTAINER:PATH`, unless it is an absolute or explicitly relative
/// local path (which may contain colons).
fn split_arg(arg: &str) -> Loc {
    if arg.starts_with('/') || arg.starts_with("./") || arg == "-" {
        return Loc::Local(arg.to_owned());
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.is_empty() => Loc::Container {
            name: name.to_owned(),
            path: path.to_owned(),
        },
        _ => Loc::Local(arg.to_owned()),
    }
}

pub async fn run(ctx: &mut Ctx, args: CpArgs) -> Result<()> {
    if args.src.is_empty() {
        bail!("source can not be empty");
    }
    if args.dst.is_empty() {
        bail!("destination can not be empty");
    }
    let client = ctx.client().await?.clone();
    let progress = !args.quiet && std::io::stderr().is_terminal();
    match (split_arg(&args.src), split_arg(&args.dst)) {
        (Loc::Container { name, path }, Loc::Local(dst)) => {
            copy_from(&client, &name, &path, &dst, args.follow_link, progress).await
        }
        (Loc::Local(src), Loc::Container { name, path }) => {
            copy_to(&client, &name, &src, &path, &args, progress).await
        }
        (Loc::Container { .. }, Loc::Container { .. }) => {
            bail!("copying between containers is not supported")
        }
        (Loc::Local(_), Loc::Local(_)) => bail!("must specify at least one container source"),
    }
}

/// `HEAD /containers/{id}/archive?path=…`: the path's stat, or `None` when it does not exist.
async fn stat(client: &Client, container: &str, path: &str) -> Result<Option<PathStat>> {
    let mut q = Query::new();
    q.push("path", path);
    let url = format!(
        "/containers/{}/archive{}",
        encode_path(container),
        q.to_query_string()
    );
    match client.head(&url).await {
        Ok(headers) => {
            let value = headers
                .get(STAT_HEADER)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| anyhow!("missing {STAT_HEADER} header"))?;
            Ok(Some(PathStat::from_header(value)?))
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Resolves a symlinked container path against its parent, as docker does.
fn link_path(path: &str, target: &str) -> String {
    if target.starts_with('/') {
        return target.to_owned();
    }
    let (parent, _) = archive::split_dir_entry(path);
    format!("{}/{target}", parent.trim_end_matches('/'))
}

async fn copy_from(
    client: &Client,
    container: &str,
    src: &str,
    dst: &str,
    follow_link: bool,
    progress: bool,
) -> Result<()> {
    let mut src = src.to_owned();
    if follow_link
        && let Ok(Some(st)) = stat(client, container, &src).await
        && st.is_symlink()
    {
        src = link_path(&src, &st.link_target);
    }
    let mut q = Query::new();
    q.push("path", src.as_str());
    let url = format!(
        "/containers/{}/archive{}",
        encode_path(container),
        q.to_query_string()
    );
    let resp = client.get_response(&url).await?;
    if dst == "-" {
        let mut out = tokio::io::stdout();
        let mut body = resp.body;
        while let Some(chunk) = body.try_next().await? {
            out.write_all(&chunk).await?;
        }
        return out.flush().await.map_err(Into::into);
    }
    let src_stat = resp
        .headers
        .get(STAT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(PathStat::from_header)
        .transpose()?
        .unwrap_or_default();
    let (dst_exists, dst_is_dir) = local_destination(dst)?;
    let (_, src_base) = archive::split_dir_entry(&src);
    let src_base = if src_stat.name.is_empty() || src.ends_with("/.") {
        src_base
    } else {
        src_stat.name.clone()
    };
    let (dir, rename) =
        archive::prepare_copy(&src_base, src_stat.is_dir(), dst, dst_exists, dst_is_dir)?;
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let target = PathBuf::from(&dir);
    let unpacker = tokio::task::spawn_blocking(move || {
        archive::unpack(ChannelReader::new(rx), &target, rename.as_ref())
    });
    let mut copied = 0u64;
    let mut body = resp.body;
    let mut pumped = Ok(());
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(c) => {
                copied += c.len() as u64;
                if tx.send(c).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                pumped = Err(e);
                break;
            }
        }
    }
    drop(tx);
    unpacker.await.context("extracting the archive")??;
    pumped?;
    if progress {
        eprintln!(
            "Successfully copied {} to {dst}",
            units::human_size(copied as f64)
        );
    }
    Ok(())
}

/// Whether the local destination exists and is a directory; its parent must exist.
fn local_destination(dst: &str) -> Result<(bool, bool)> {
    match std::fs::metadata(dst) {
        Ok(m) => Ok((true, m.is_dir())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (parent, _) = archive::split_dir_entry(dst);
            let meta = std::fs::metadata(&parent).with_context(|| format!("stat {parent}"))?;
            if !meta.is_dir() {
                bail!("not a directory");
            }
            Ok((false, false))
        }
        Err(e) => Err(e).with_context(|| format!("stat {dst}")),
    }
}

async fn copy_to(
    client: &Client,
    container: &str,
    src: &str,
    dst: &str,
    args: &CpArgs,
    progress: bool,
) -> Result<()> {
    let mut dst_path = dst.to_owned();
    let mut dst_stat = stat(client, container, dst).await.ok().flatten();
    if let Some(st) = dst_stat.clone().filter(PathStat::is_symlink) {
        dst_path = link_path(dst, &st.link_target);
        dst_stat = stat(client, container, &dst_path).await.ok().flatten();
    }
    let (dst_exists, dst_is_dir) = dst_stat
        .as_ref()
        .map_or((false, false), |s| (true, s.is_dir()));
    let (dir, body) = if src == "-" {
        if !dst_is_dir {
            bail!("destination \"{container}:{dst}\" must be a directory");
        }
        (dst_path, Body::reader(tokio::io::stdin()))
    } else {
        let mut local = PathBuf::from(src);
        if args.follow_link {
            local = std::fs::canonicalize(&local).with_context(|| format!("stat {src}"))?;
        }
        let meta = std::fs::symlink_metadata(&local)
            .with_context(|| format!("could not find the file {src} in the local filesystem"))?;
        let (_, src_base) = archive::split_dir_entry(src);
        let (dir, rename) =
            archive::prepare_copy(&src_base, meta.is_dir(), &dst_path, dst_exists, dst_is_dir)?;
        let root = match &rename {
            Some((_, new)) => new.clone(),
            None => src_base,
        };
        (dir, tar_body(local, root))
    };
    let mut q = Query::new();
    q.push("path", dir.as_str())
        .push("noOverwriteDirNonDir", "true");
    if args.archive {
        q.push("copyUIDGID", "true");
    }
    let url = format!(
        "/containers/{}/archive{}",
        encode_path(container),
        q.to_query_string()
    );
    client
        .upload(Method::PUT, &url, "application/x-tar", body)
        .await?;
    if progress {
        eprintln!("Successfully copied to {container}:{dst}");
    }
    Ok(())
}

/// Streams a tar of `src` built on a blocking thread.
fn tar_body(src: PathBuf, root: String) -> Body {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
    std::thread::spawn(move || {
        let errors = tx.clone();
        if let Err(e) = archive::build(Path::new(&src), &root, ChannelWriter(tx)) {
            let _ = errors.blocking_send(Err(e));
        }
    });
    Body::stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_arguments_like_docker() {
        let c = |n: &str, p: &str| Loc::Container {
            name: n.into(),
            path: p.into(),
        };
        assert_eq!(split_arg("web:/etc/hosts"), c("web", "/etc/hosts"));
        assert_eq!(split_arg("web:rel"), c("web", "rel"));
        assert_eq!(split_arg("/tmp/a:b"), Loc::Local("/tmp/a:b".into()));
        assert_eq!(split_arg("./a:b"), Loc::Local("./a:b".into()));
        assert_eq!(split_arg("-"), Loc::Local("-".into()));
        assert_eq!(split_arg("file"), Loc::Local("file".into()));
        assert_eq!(split_arg(":x"), Loc::Local(":x".into()));
        assert_eq!(
            link_path("/etc/localtime", "../usr/share/zoneinfo/UTC"),
            "/etc/../usr/share/zoneinfo/UTC"
        );
        assert_eq!(link_path("/a/b", "/abs"), "/abs");
    }
}
