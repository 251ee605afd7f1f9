//! Registry routes: `POST /images/create?fromImage=` (pull), `POST /images/{name}/push` and
//! `POST /auth`, plus the progress-stream plumbing they share.
//!
//! A pull or push runs as its own task feeding docker's JSON message stream. Until its first
//! message the response is held back, so an error found up front (no such image, bad
//! credentials, unreachable registry) is an ordinary HTTP error; later errors end the stream with
//! an `errorDetail` message, as docker does.

use std::future::Future;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use pouch_api::types::JsonMessage;
use pouch_engine::{Distribution, Error};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use crate::AppState;
use crate::error::ApiResult;
use crate::query::Query;

pub fn routes() -> Router<AppState> {
    Router::new().route("/auth", post(auth))
}

fn registry_auth(headers: &HeaderMap) -> Option<String> {
    headers
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `POST /images/create?fromImage=…&tag=…&platform=…`.
pub async fn pull(registry: Distribution, req: Request) -> ApiResult<Response> {
    let q = Query::parse(req.uri().query());
    let from = q.get("fromImage").unwrap_or("").to_string();
    let tag = q.get("tag").unwrap_or("").to_string();
    let platform = q.get("platform").map(str::to_string);
    let auth = registry_auth(req.headers());
    progress_response(move |tx| async move {
        registry
            .pull_image(from, tag, platform, auth, tx)
            .await
            .map(|_| ())
    })
    .await
}

/// `POST /images/{name}/push?tag=…`.
pub async fn push(registry: Distribution, name: String, req: Request) -> ApiResult<Response> {
    let q = Query::parse(req.uri().query());
    let tag = q.get("tag").unwrap_or("").to_string();
    let auth = registry_auth(req.headers());
    progress_response(move |tx| async move { registry.push_image(name, tag, auth, tx).await }).await
}

/// `POST /auth`: `{"username","password","serveraddress"}` → `{"Status":"Login Succeeded"}`.
async fn auth(
    State(registry): State<Distribution>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid(format!("bad auth config: {e}")))?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let status = registry
        .registry_login(field("username"), field("password"), field("serveraddress"))
        .await?;
    Ok(Json(serde_json::json!({"Status": status, "IdentityToken": ""})).into_response())
}

/// Runs `op` and answers with its message stream (see the module docs).
async fn progress_response<F, Fut>(op: F) -> ApiResult<Response>
where
    F: FnOnce(UnboundedSender<JsonMessage>) -> Fut,
    Fut: Future<Output = pouch_engine::Result<()>> + Send + 'static,
{
    let (tx, mut rx) = unbounded_channel();
    let mut task = tokio::spawn(op(tx));
    let first = tokio::select! {
        m = rx.recv() => m,
        res = &mut task => {
            let res = res.map_err(|e| Error::internal(format!("task failed: {e}")))?;
            match rx.try_recv() {
                Ok(m) => {
                    let rest = stream(rx, None, res.err());
                    return Ok(body(Some(m), rest));
                }
                Err(_) => {
                    res?;
                    return Ok(body(None, stream(rx, None, None)));
                }
            }
        }
    };
    match first {
        Some(m) => Ok(body(Some(m), stream(rx, Some(task), None))),
        // The sender is gone: the task has finished without saying anything.
        None => {
            let res = task
                .await
                .map_err(|e| Error::internal(format!("task failed: {e}")))?;
            res?;
            Ok(body(None, stream(rx, None, None)))
        }
    }
}

type Chunks =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send>>;

fn line(m: &JsonMessage) -> bytes::Bytes {
    let mut v = serde_json::to_vec(m).unwrap_or_default();
    v.push(b'\n');
    bytes::Bytes::from(v)
}

fn stream(
    rx: UnboundedReceiver<JsonMessage>,
    task: Option<JoinHandle<pouch_engine::Result<()>>>,
    err: Option<Error>,
) -> Chunks {
    Box::pin(futures_util::stream::unfold(
        (rx, task, err, false),
        |(mut rx, mut task, mut err, done)| async move {
            if done {
                return None;
            }
            if let Some(m) = rx.recv().await {
                return Some((Ok(line(&m)), (rx, task, err, false)));
            }
            if let Some(t) = task.take() {
                err = match t.await {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(e) => Some(Error::internal(format!("task failed: {e}"))),
                };
            }
            let e = err.take()?;
            Some((
                Ok(line(&JsonMessage::error(e.message))),
                (rx, None, None, true),
            ))
        },
    ))
}

fn body(first: Option<JsonMessage>, rest: Chunks) -> Response {
    use futures_util::StreamExt;
    let head = futures_util::stream::iter(first.map(|m| Ok(line(&m))));
    let body = axum::body::Body::from_stream(head.chain(rest));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
