//! `/containers/…`: lifecycle, inspect/list, wait, logs, attach.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use pouch_api::types::ContainerCreateBody;
use pouch_engine::{Containers, Error, LogBatch, LogLine, LogOptions, Started, WaitCondition};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::AppState;
use crate::error::ApiResult;
use crate::query::Query;
use crate::stream::{MUX, RAW, frame, parse_detach_keys, relay_upgraded, switching, writer_body};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/export", get(export))
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}/top", get(top))
        .route(
            "/containers/{id}/checkpoints",
            get(checkpoints).post(checkpoints),
        )
        .route("/containers/{id}/checkpoints/{name}", delete(checkpoints))
        .route("/containers/{id}", delete(remove))
}

fn q(uri: &Uri) -> Query {
    Query::parse(uri.query())
}

async fn create(
    State(containers): State<Containers>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid("config cannot be empty in order to create a container").into());
    }
    let parsed: ContainerCreateBody = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid(format!("invalid container config: {e}")))?;
    let name = q(&uri).get("name").map(str::to_string);
    let resp = containers.create_container(name, parsed).await?;
    Ok((StatusCode::CREATED, Json(resp)).into_response())
}

async fn list(State(containers): State<Containers>, uri: Uri) -> ApiResult<Response> {
    let q = q(&uri);
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let list = containers
        .list_containers(q.bool("all"), limit, q.bool("size"), q.filters()?)
        .await?;
    Ok(Json(list).into_response())
}

async fn inspect(
    State(containers): State<Containers>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(containers.inspect_container(id).await?).into_response())
}

/// `docker checkpoint create|ls|rm`: refused as docker refuses them outside experimental mode
/// (501), with pouch's reason.
async fn checkpoints() -> ApiResult<Response> {
    Err(Error::not_implemented(
        "checkpoints are not supported: pouch cannot checkpoint or restore containers (no CRIU \
         support)",
    )
    .into())
}

/// Starting from a checkpoint (CRIU restore) is refused, as docker refuses it outside its
/// experimental mode: starting afresh instead would silently lose the checkpointed state.
async fn start(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = q(&uri);
    if let Some(cp) = q.get("checkpoint").filter(|c| !c.is_empty()) {
        return Err(Error::invalid(format!(
            "checkpoint is only supported in experimental mode, and pouch has none: it cannot \
             restore container {id} from checkpoint {cp:?} (no checkpoint/restore support); \
             start it without --checkpoint"
        ))
        .into());
    }
    if q.get("checkpoint-dir").is_some_and(|d| !d.is_empty()) {
        return Err(Error::invalid("custom checkpointdir is not supported").into());
    }
    Ok(match containers.start_container(&id).await? {
        Started::Now => StatusCode::NO_CONTENT.into_response(),
        Started::Already => StatusCode::NOT_MODIFIED.into_response(),
    })
}

fn timeout(q: &Query) -> ApiResult<Option<i64>> {
    match q
        .get("t")
        .or_else(|| q.get("timeout"))
        .filter(|t| !t.is_empty())
    {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| Error::invalid(format!("invalid timeout {t:?}")).into()),
    }
}

async fn stop(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = q(&uri);
    let stopped = containers
        .stop_container(&id, q.get("signal").map(str::to_string), timeout(&q)?)
        .await?;
    Ok(if stopped {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    }
    .into_response())
}

async fn restart(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = q(&uri);
    containers
        .restart_container(&id, q.get("signal").map(str::to_string), timeout(&q)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn kill(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    containers
        .kill_container(&id, q(&uri).get("signal").map(str::to_string))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn pause(
    State(containers): State<Containers>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    containers.pause_container(&id, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn unpause(
    State(containers): State<Containers>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    containers.pause_container(&id, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rename(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let name = q(&uri).get("name").unwrap_or("").to_string();
    containers.rename_container(&id, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn resize(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = q(&uri);
    let dim = |k: &str| {
        q.get(k)
            .and_then(|v| v.parse::<u16>().ok())
            .ok_or_else(|| Error::invalid(format!("invalid {k}")))
    };
    containers
        .resize_container(&id, dim("h")?, dim("w")?)
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn remove(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = q(&uri);
    if q.bool("link") {
        return Err(Error::not_implemented("container links are not supported").into());
    }
    containers
        .remove_container(&id, q.bool("force"), q.bool("v"))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(containers): State<Containers>, uri: Uri) -> ApiResult<Response> {
    Ok(Json(containers.prune_containers(q(&uri).filters()?).await?).into_response())
}

/// Headers go out at once (clients treat them as "the wait is registered"); the body when the
/// condition holds.
async fn wait(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let cond = WaitCondition::parse(q(&uri).get("condition").unwrap_or(""))?;
    let fut = containers.wait_container(&id, cond)?;
    let stream = futures_util::stream::once(async move {
        let r = fut.await;
        let mut body = serde_json::to_vec(&r).unwrap_or_default();
        body.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(body))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn unix_nanos(v: Option<&str>) -> ApiResult<i64> {
    let Some(v) = v.filter(|v| !v.is_empty() && *v != "0") else {
        return Ok(0);
    };
    let f: f64 = v
        .parse()
        .map_err(|_| Error::invalid(format!("invalid time value {v:?}: expected unix seconds")))?;
    Ok((f * 1e9) as i64)
}

async fn logs(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = q(&uri);
    let tail = match q.get("tail") {
        None | Some("") | Some("all") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| Error::invalid(format!("invalid tail {n:?}")))?,
        ),
    };
    let opts = LogOptions {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        follow: q.bool("follow"),
        since: unix_nanos(q.get("since"))?,
        until: unix_nanos(q.get("until"))?,
        tail,
    };
    let how = LogFormat {
        timestamps: q.bool("timestamps"),
        details: q.bool("details"),
    };
    let (tty, rx) = containers.container_logs(&id, opts)?;
    // One body chunk per batch of records, not per line.
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
        .map(move |b| Ok::<_, std::io::Error>(how.encode(&b, tty)));
    let ctype = if tty { RAW } else { MUX };
    Ok(([(header::CONTENT_TYPE, ctype)], Body::from_stream(stream)).into_response())
}

/// How `logs` presents records (docker's `httputils.WriteLogStream`).
#[derive(Clone, Copy)]
struct LogFormat {
    timestamps: bool,
    details: bool,
}

impl LogFormat {
    /// A batch as the client gets it: each record raw for a tty, else in a frame of its stream;
    /// with `timestamps` prefixed by its time (nanoseconds always nine digits, docker's
    /// `RFC3339NanoFixed`) and a space; with `details` by its attributes and a space (the
    /// shim records none, so just the space).
    fn encode(self, batch: &LogBatch, tty: bool) -> Bytes {
        let per_record = 8 + if self.timestamps { 32 } else { 0 } + usize::from(self.details);
        let mut out = Vec::with_capacity(batch.bytes() + batch.len() * per_record);
        for r in batch.iter() {
            let start = out.len();
            if !tty {
                out.extend_from_slice(&[r.stream, 0, 0, 0, 0, 0, 0, 0]);
            }
            if self.timestamps {
                rfc3339_nano_fixed(r.time, &mut out);
                out.push(b' ');
            }
            if self.details {
                out.push(b' ');
            }
            out.extend_from_slice(r.data);
            if !tty {
                let len = (out.len() - start - 8) as u32;
                out[start + 4..start + 8].copy_from_slice(&len.to_be_bytes());
            }
        }
        Bytes::from(out)
    }
}

/// An RFC 3339 time with its fraction padded (or cut) to nine digits, keeping its zone.
fn rfc3339_nano_fixed(t: &str, out: &mut Vec<u8>) {
    let b = t.as_bytes();
    if b.len() < 20 || b[10] != b'T' {
        out.extend_from_slice(b);
        return;
    }
    out.extend_from_slice(&b[..19]);
    out.push(b'.');
    let mut i = 19;
    let mut digits = 0;
    if b[19] == b'.' {
        i = 20;
        while i < b.len() && b[i].is_ascii_digit() {
            if digits < 9 {
                out.push(b[i]);
                digits += 1;
            }
            i += 1;
        }
    }
    out.resize(out.len() + 9 - digits, b'0');
    out.extend_from_slice(&b[i..]);
}

/// One log line as the client gets it: raw for a tty, else in a frame of its stream.
fn log_chunk(l: &LogLine, tty: bool, timestamps: bool) -> Bytes {
    let mut data = Vec::with_capacity(l.data.len() + 40);
    if timestamps {
        data.extend_from_slice(l.time.as_bytes());
        data.push(b' ');
    }
    data.extend_from_slice(&l.data);
    Bytes::from(if tty { data } else { frame(l.stream, &data) })
}

/// Hijacks the connection (`101 UPGRADED`, `Upgrade: tcp`) and relays it to the shim's attach
/// stream; without an upgrade request it streams the output only. With `logs` the container's log
/// comes first, framed like the live output; without `stream` the response ends after it (and
/// with neither, at once, as docker's does).
async fn attach(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let q = q(req.uri());
    let (stdin, stdout, stderr) = (q.bool("stdin"), q.bool("stdout"), q.bool("stderr"));
    let detach = parse_detach_keys(q.get("detachKeys").unwrap_or("")).map_err(Error::invalid)?;
    let att = containers
        .attach_container(
            &id,
            (stdin, stdout, stderr),
            q.bool("logs"),
            q.bool("stream"),
        )
        .await?;
    let tty = att.tty;
    let ctype = if tty { RAW } else { MUX };
    let history = att.history.map(|rx| {
        tokio_stream::wrappers::ReceiverStream::new(rx).map(move |l| log_chunk(&l, tty, false))
    });
    let wants_upgrade = req.headers().get(header::UPGRADE).is_some();
    if wants_upgrade {
        let on_upgrade = hyper::upgrade::on(&mut req);
        let live = att.live;
        tokio::spawn(async move {
            let up = match on_upgrade.await {
                Ok(up) => up,
                Err(e) => return tracing::debug!(error = %e, "attach upgrade failed"),
            };
            let mut io = hyper_util::rt::TokioIo::new(up);
            if let Some(mut history) = history {
                while let Some(chunk) = history.next().await {
                    if io.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            }
            // No shim stream (not asked for, or the start failed): dropping the connection
            // closes it.
            match live {
                Some(rx) => {
                    if let Ok(shim) = rx.await {
                        relay_upgraded(io.into_inner(), shim, stdin, Some(detach)).await;
                    }
                }
                None => {
                    let _ = io.shutdown().await;
                }
            }
        });
        return Ok(switching(ctype));
    }
    let history = futures_util::stream::iter(history).flatten().map(Ok);
    let live = futures_util::stream::iter(att.live.map(async_stream_output)).flatten();
    Ok((
        [(header::CONTENT_TYPE, ctype)],
        Body::from_stream(history.chain(live)),
    )
        .into_response())
}

fn async_stream_output(
    rx: tokio::sync::oneshot::Receiver<pouch_engine::AttachStream>,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    futures_util::stream::unfold(
        (Some(rx), None::<pouch_engine::AttachStream>),
        |(rx, shim)| async move {
            let mut shim = match (rx, shim) {
                (Some(rx), _) => rx.await.ok()?,
                (None, Some(s)) => s,
                (None, None) => return None,
            };
            let _ = shim.shutdown().await;
            let mut buf = vec![0u8; 32 * 1024];
            match shim.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), (None, Some(shim))))
                }
            }
        },
    )
}

async fn export(
    State(containers): State<Containers>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    // Resolve first so that an unknown name is a clean 404 before any byte is sent.
    containers.inspect_container(id.clone()).await?;
    let body = writer_body("container export", move |out| async move {
        containers.export_container(&id, out).await
    });
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

async fn changes(
    State(containers): State<Containers>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(containers.container_changes(&id).await?).into_response())
}

async fn top(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = q(&uri);
    Ok(Json(
        containers
            .container_top(&id, q.get("ps_args").unwrap_or(""))
            .await?,
    )
    .into_response())
}

#[cfg(test)]
mod log_tests {
    use super::*;
    use pouch_engine::LogRecord;

    fn batch() -> LogBatch {
        let mut b = LogBatch::default();
        for (stream, time, data) in [
            (1, "2026-11-23T14:00:00.12Z", &b"out\n"[..]),
            (2, "2026-11-23T14:00:01Z", b"err\n"),
            (1, "2026-11-23T14:00:02.123456789Z", b"partial"),
        ] {
            b.push(LogRecord { stream, time, data });
        }
        b
    }

    #[test]
    fn a_batch_is_one_chunk_of_frames() {
        let plain = LogFormat {
            timestamps: false,
            details: false,
        };
        let out = plain.encode(&batch(), false);
        let mut want = Vec::new();
        want.extend_from_slice(&frame(1, b"out\n"));
        want.extend_from_slice(&frame(2, b"err\n"));
        want.extend_from_slice(&frame(1, b"partial"));
        assert_eq!(out.as_ref(), want.as_slice());
        assert_eq!(plain.encode(&batch(), true).as_ref(), b"out\nerr\npartial");
    }

    #[test]
    fn timestamps_have_nine_digits_and_details_a_space_like_docker() {
        let both = LogFormat {
            timestamps: true,
            details: true,
        };
        let out = both.encode(&batch(), true);
        assert_eq!(
            String::from_utf8(out.to_vec()).unwrap(),
            "2026-11-23T14:00:00.120000000Z  out\n\
             2026-11-23T14:00:01.000000000Z  err\n\
             2026-11-23T14:00:02.123456789Z  partial"
        );
        let framed = LogFormat {
            timestamps: true,
            details: false,
        }
        .encode(&batch(), false);
        assert_eq!(&framed[..8], &[1, 0, 0, 0, 0, 0, 0, 35]);
        let mut t = Vec::new();
        rfc3339_nano_fixed("2024-01-01T00:00:00.5+01:00", &mut t);
        assert_eq!(t, b"2024-01-01T00:00:00.500000000+01:00");
    }
}
