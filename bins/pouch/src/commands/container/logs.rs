//! `pouch logs`: a container's output, demultiplexed onto stdout/stderr unless it has a TTY.

use anyhow::{Result, anyhow};
use clap::Args;
use futures_util::{FutureExt, TryStreamExt};
use pouch_client::{Demuxer, Query, StreamKind, content_type_kind, encode_path};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};

use crate::commands::Ctx;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    details: bool,
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Number of lines to show from the end of the logs ("all" for everything)
    #[arg(short = 'n', long, value_name = "N")]
    tail: Option<String>,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// Go's `time.ParseDuration` for the units `logs` users type (`1h30m`, `42s`, `1.5h`, `500ms`).
fn go_duration(s: &str) -> Option<f64> {
    let mut rest = s;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// docker's `timetypes.GetTimestamp`: a duration counts back from `now`, a date or RFC 3339
/// time becomes Unix seconds, and a Unix timestamp passes through. Times without a zone are
/// taken as UTC (the CLI cannot read the local zone safely).
pub fn get_timestamp(value: &str, now: i64) -> Result<String> {
    if value != "0"
        && let Some(secs) = go_duration(value)
    {
        return Ok((now - secs as i64).to_string());
    }
    let parsed = if value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3 {
        OffsetDateTime::parse(value, &Rfc3339).ok()
    } else if value.contains('-') {
        let full = match (value.contains('T'), value.matches(':').count()) {
            (false, _) => format!("{value}T00:00:00Z"),
            (true, 0) => format!("{value}:00:00Z"),
            (true, 1) => format!("{value}:00Z"),
            (true, _) => format!("{value}Z"),
        };
        OffsetDateTime::parse(&full, &Rfc3339).ok()
    } else {
        None
    };
    if let Some(t) = parsed {
        return Ok(format!("{}.{:09}", t.unix_timestamp(), t.nanosecond()));
    }
    if value.contains('-') {
        return Err(anyhow!("failed to parse value as time: {value:?}"));
    }
    let (secs, nanos) = value.split_once('.').unwrap_or((value, "0"));
    if secs.parse::<i64>().is_err() || nanos.parse::<u64>().is_err() {
        return Err(anyhow!(
            "failed to parse value as time or duration: {value:?}"
        ));
    }
    Ok(value.to_owned())
}

pub async fn run(ctx: &mut Ctx, args: LogsArgs) -> Result<()> {
    let now = crate::units::now_unix();
    let mut q = Query::new();
    q.push("stdout", "1").push("stderr", "1");
    if let Some(s) = &args.since {
        q.push("since", get_timestamp(s, now)?);
    }
    if let Some(u) = &args.until {
        q.push("until", get_timestamp(u, now)?);
    }
    q.flag("timestamps", args.timestamps)
        .flag("follow", args.follow)
        .flag("details", args.details);
    if let Some(t) = &args.tail {
        q.push("tail", t.as_str());
    }
    let client = ctx.client().await?;
    let c = client
        .get_json(&format!(
            "/containers/{}/json",
            encode_path(&args.container)
        ))
        .await?;
    let id = c["Id"].as_str().unwrap_or(&args.container).to_owned();
    let tty = c.pointer("/Config/Tty").and_then(Value::as_bool) == Some(true);
    let path = format!(
        "/containers/{}/logs{}",
        encode_path(&id),
        q.to_query_string()
    );
    let resp = client.get_response(&path).await?;
    let multiplexed = content_type_kind(&resp.headers).unwrap_or(!tty);
    let mut body = resp.body;
    let mut out = Output::new(tokio::io::stdout(), tokio::io::stderr());
    let mut demux = Demuxer::new();
    let mut pieces = Vec::new();
    loop {
        // A burst is written in large blocks; what is buffered goes out as soon as the daemon
        // has nothing more right now (a follower waiting for the container to speak).
        let next = match body.try_next().now_or_never() {
            Some(next) => next?,
            None => {
                out.flush().await?;
                body.try_next().await?
            }
        };
        let Some(chunk) = next else {
            break;
        };
        if multiplexed {
            demux.push(chunk, &mut pieces)?;
            for (kind, bytes) in pieces.drain(..) {
                out.write(kind, &bytes).await?;
            }
        } else {
            out.write(StreamKind::Stdout, &chunk).await?;
        }
    }
    out.flush().await?;
    Ok(())
}

/// stdout and stderr behind large buffers, written in the order the output came: switching
/// streams flushes the other one first, so `pouch logs c >file 2>&1` interleaves the lines as
/// docker's unbuffered copy does.
struct Output<O: AsyncWrite + Unpin, E: AsyncWrite + Unpin> {
    out: BufWriter<O>,
    err: BufWriter<E>,
    last: StreamKind,
}

/// Large enough that a fast reader makes few write syscalls.
const OUTPUT_BUFFER: usize = 256 * 1024;

impl<O: AsyncWrite + Unpin, E: AsyncWrite + Unpin> Output<O, E> {
    fn new(out: O, err: E) -> Self {
        Output {
            out: BufWriter::with_capacity(OUTPUT_BUFFER, out),
            err: BufWriter::with_capacity(OUTPUT_BUFFER, err),
            last: StreamKind::Stdout,
        }
    }

    async fn write(&mut self, kind: StreamKind, data: &[u8]) -> std::io::Result<()> {
        if kind != self.last {
            match self.last {
                StreamKind::Stdout => self.out.flush().await?,
                StreamKind::Stderr => self.err.flush().await?,
            }
            self.last = kind;
        }
        match kind {
            StreamKind::Stdout => self.out.write_all(data).await,
            StreamKind::Stderr => self.err.write_all(data).await,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush().await?;
        self.err.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn timestamps_like_docker() {
        for (input, want) in [
            ("10m", "1699999400"),
            ("1h30m", "1699994600"),
            ("1.5h", "1699994600"),
            ("42s", "1699999958"),
            ("2024-01-01T00:00:00Z", "1704067200.000000000"),
            ("2024-01-01T00:00:00.5+01:00", "1704063600.500000000"),
            ("2024-01-01", "1704067200.000000000"),
            ("2024-01-01T10", "1704103200.000000000"),
            ("2024-01-01T10:30", "1704105000.000000000"),
            ("1704067200", "1704067200"),
            ("1704067200.123", "1704067200.123"),
            ("0", "0"),
        ] {
            assert_eq!(get_timestamp(input, NOW).unwrap(), want, "{input}");
        }
        assert!(get_timestamp("yesterday", NOW).is_err());
        assert!(get_timestamp("2024-13-01", NOW).is_err());
        assert!(get_timestamp("10x", NOW).is_err());
    }

    /// Both streams into one shared buffer, as when stdout and stderr are the same file.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl AsyncWrite for Shared {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.0.lock().unwrap().extend_from_slice(buf);
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn buffered_output_keeps_the_order_of_the_streams() {
        let shared = Shared::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut out = Output::new(shared.clone(), shared.clone());
            out.write(StreamKind::Stdout, b"out 1\n").await.unwrap();
            out.write(StreamKind::Stderr, b"err 1\n").await.unwrap();
            out.write(StreamKind::Stdout, b"out 2\n").await.unwrap();
            out.write(StreamKind::Stdout, b"out 3\n").await.unwrap();
            // Nothing is written before a flush or a switch of streams…
            assert_eq!(shared.0.lock().unwrap().as_slice(), b"out 1\nerr 1\n");
            out.flush().await.unwrap();
        });
        assert_eq!(
            shared.0.lock().unwrap().as_slice(),
            b"out 1\nerr 1\nout 2\nout 3\n"
        );
    }
}
