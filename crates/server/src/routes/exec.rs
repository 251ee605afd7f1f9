//! `docker exec`: create, start (hijacked like attach), resize, inspect.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pouch_api::types::{ExecCreateBody, ExecStartBody};
use pouch_engine::{Error, Exec, ExecStarted};

use crate::AppState;
use crate::error::ApiResult;
use crate::query::Query;
use crate::stream::{MUX, RAW, relay_upgraded, switching};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/resize", post(resize))
        .route("/exec/{id}/json", get(inspect))
}

fn json_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("invalid exec config: {e}")).into())
}

async fn create(
    State(exec): State<Exec>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: ExecCreateBody = json_body(&body)?;
    let exec_id = exec.create_exec(&id, b).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"Id": exec_id})),
    )
        .into_response())
}

async fn start(
    State(exec): State<Exec>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let on_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .is_some()
        .then(|| hyper::upgrade::on(&mut req));
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map_err(|e| Error::invalid(format!("reading request body: {e}")))?;
    let b: ExecStartBody = json_body(&bytes)?;
    let started = match exec.start_exec(&id, b.detach).await {
        Ok(s) => s,
        // Like docker, a client that hijacked gets the failure in the stream, then the exit code
        // (126/127) from exec inspect.
        Err(e) if on_upgrade.is_some() && e.kind == pouch_engine::ErrorKind::InvalidArgument => {
            let on_upgrade = on_upgrade.expect("checked");
            tokio::spawn(async move {
                if let Ok(up) = on_upgrade.await {
                    use tokio::io::AsyncWriteExt;
                    let mut io = hyper_util::rt::TokioIo::new(up);
                    let msg = format!("{}\r\n", e.message);
                    let bytes = if b.tty {
                        msg.into_bytes()
                    } else {
                        crate::stream::frame(1, msg.as_bytes())
                    };
                    let _ = io.write_all(&bytes).await;
                    let _ = io.shutdown().await;
                }
            });
            return Ok(switching(if b.tty { RAW } else { MUX }));
        }
        Err(e) => return Err(e.into()),
    };
    match started {
        ExecStarted::Detached => Ok(StatusCode::OK.into_response()),
        ExecStarted::Attached { stream, tty, stdin } => {
            let ctype = if tty { RAW } else { MUX };
            match on_upgrade {
                Some(on_upgrade) => {
                    tokio::spawn(async move {
                        match on_upgrade.await {
                            Ok(up) => relay_upgraded(up, stream, stdin, None).await,
                            Err(e) => tracing::debug!(error = %e, "exec upgrade failed"),
                        }
                    });
                    Ok(switching(ctype))
                }
                None => {
                    let s = tokio_util::io::ReaderStream::new(stream);
                    Ok(([(header::CONTENT_TYPE, ctype)], Body::from_stream(s)).into_response())
                }
            }
        }
    }
}

async fn resize(
    State(exec): State<Exec>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    let dim = |k: &str| {
        q.get(k)
            .and_then(|v| v.parse::<u16>().ok())
            .ok_or_else(|| Error::invalid(format!("invalid {k}")))
    };
    exec.resize_exec(&id, dim("h")?, dim("w")?).await?;
    Ok(StatusCode::OK.into_response())
}

async fn inspect(State(exec): State<Exec>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(exec.inspect_exec(&id).await?).into_response())
}
