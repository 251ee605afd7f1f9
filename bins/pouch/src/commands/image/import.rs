//! `pouch import` / `pouch image import`.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use http::Method;
use pouch_client::{Body, Query};

use super::load::open_tar;
use crate::commands::Ctx;
use crate::output;
use crate::reference::parse_target;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change", value_name = "CHANGE")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// A tarball path, a URL the daemon fetches, or '-' for STDIN
    #[arg(value_name = "file|URL|-")]
    source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// The `/images/create` query for an import. `fromSrc=-` means "the tar is the request body".
fn import_query(args: &ImportArgs) -> Result<Query> {
    let mut q = Query::new();
    q.push(
        "fromSrc",
        if is_url(&args.source) {
            args.source.as_str()
        } else {
            "-"
        },
    );
    if let Some(reference) = &args.reference {
        let (repo, tag) = parse_target(reference)?;
        q.push("repo", repo).push("tag", tag);
    }
    q.non_empty("message", args.message.as_deref().unwrap_or_default());
    if let Some(platform) = &args.platform {
        q.non_empty("platform", &platform.to_lowercase());
    }
    for change in &args.change {
        q.push("changes", change.as_str());
    }
    Ok(q)
}

pub async fn run(ctx: &mut Ctx, args: ImportArgs) -> Result<()> {
    let query = import_query(&args)?;
    let body = match args.source.as_str() {
        "-" => open_tar(None).await?,
        url if is_url(url) => Body::empty(),
        file => open_tar(Some(Path::new(file))).await?,
    };
    let path = format!("/images/create{}", query.to_query_string());
    let resp = ctx
        .client()
        .await?
        .upload(Method::POST, &path, "application/x-tar", body)
        .await?;
    // The daemon ends with `{"status":"sha256:…"}`, which prints as the new image's id.
    output::display_messages(resp.json_messages(), output::stdout_is_terminal()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(source: &str, reference: Option<&str>) -> ImportArgs {
        ImportArgs {
            change: vec!["CMD [\"sh\"]".into(), "ENV A=b c".into()],
            message: Some("from tar".into()),
            platform: None,
            source: source.into(),
            reference: reference.map(Into::into),
        }
    }

    #[test]
    fn builds_the_create_query() {
        let q = import_query(&args("rootfs.tar", Some("localhost:5000/app:v1"))).unwrap();
        assert_eq!(
            q.to_query_string(),
            "?fromSrc=-&repo=localhost%3A5000%2Fapp&tag=v1&message=from%20tar\
             &changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3Db%20c"
        );
        let q = import_query(&args("https://h/x.tar", None)).unwrap();
        assert!(
            q.to_query_string()
                .starts_with("?fromSrc=https%3A%2F%2Fh%2Fx.tar&message=")
        );
        assert!(import_query(&args("-", Some("a@sha256:00"))).is_err());
    }
}
