//! `pouch stop` and `pouch restart` (same flags, same reporting).

use anyhow::Result;
use clap::Args;
use pouch_client::{Query, encode_path};

use super::post_each;
use crate::commands::Ctx;
use crate::signal::normalize_signal;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "SIGNAL")]
    signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        value_name = "SECONDS",
        allow_hyphen_values = true
    )]
    time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `?signal=…&t=…` for whatever was given.
fn query(args: &StopArgs) -> Result<String> {
    let mut q = Query::new();
    if let Some(s) = &args.signal {
        q.push("signal", normalize_signal(s)?);
    }
    if let Some(t) = args.time {
        q.push("t", t.to_string());
    }
    Ok(q.to_query_string())
}

/// Runs `action` (`stop` or `restart`) on every container, printing each name that worked and
/// failing at the end with one line per container that did not.
async fn each(ctx: &mut Ctx, action: &str, args: StopArgs) -> Result<()> {
    let query = query(&args)?;
    let client = ctx.client().await?;
    post_each(client, &args.containers, |name| {
        format!("/containers/{}/{action}{query}", encode_path(name))
    })
    .await
}

pub async fn stop(ctx: &mut Ctx, args: StopArgs) -> Result<()> {
    each(ctx, "stop", args).await
}

pub async fn restart(ctx: &mut Ctx, args: StopArgs) -> Result<()> {
    each(ctx, "restart", args).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_queries() {
        let args = |signal: Option<&str>, time: Option<i64>| StopArgs {
            signal: signal.map(str::to_owned),
            time,
            containers: vec!["c".into()],
        };
        assert_eq!(query(&args(None, None)).unwrap(), "");
        assert_eq!(
            query(&args(Some("int"), Some(0))).unwrap(),
            "?signal=SIGINT&t=0"
        );
        assert_eq!(query(&args(None, Some(-1))).unwrap(), "?t=-1");
        assert!(query(&args(Some("NOPE"), None)).is_err());
    }
}
