//! `POST /containers/{id}/update` and `GET /containers/{id}/stats`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pouch_api::types::{ContainerStats, ContainerUpdateBody, ContainerUpdateResponse};
use pouch_engine::{Containers, Error};

use crate::AppState;
use crate::error::ApiResult;
use crate::query::Query;

/// docker samples once a second.
const INTERVAL: Duration = Duration::from_secs(1);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}/stats", get(stats))
}

async fn update(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let u: ContainerUpdateBody = if body.iter().all(u8::is_ascii_whitespace) {
        ContainerUpdateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Error::invalid(format!("invalid update config: {e}")))?
    };
    let warnings = containers.update_container(&id, u).await?;
    Ok(Json(ContainerUpdateResponse { warnings }).into_response())
}

fn json_line(s: &ContainerStats) -> Bytes {
    let mut v = serde_json::to_vec(s).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// `stream` (default true) sends a sample a second; `stream=false` answers one sample with
/// `precpu_stats` from a sample a second earlier, unless `one-shot=true` asks for no wait.
async fn stats(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    let stream = q.get("stream").is_none_or(|_| q.bool("stream"));
    let one_shot = q.bool("one-shot");
    let first = containers.container_stats(&id, None).await?;
    if !stream {
        let sample = if one_shot {
            first
        } else {
            tokio::time::sleep(INTERVAL).await;
            containers.container_stats(&id, Some(&first)).await?
        };
        return Ok(Json(sample).into_response());
    }
    let (tx, out) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::spawn(async move {
        let mut prev = first;
        if tx.send(Ok(json_line(&prev))).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(INTERVAL) => {}
            }
            // The container was removed: the stream ends, as docker's does.
            let Ok(next) = containers.container_stats(&id, Some(&prev)).await else {
                return;
            };
            if tx.send(Ok(json_line(&next))).await.is_err() {
                return;
            }
            prev = next;
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(out));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
