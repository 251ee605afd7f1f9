//! `GET /events`: past events since `since`, then live ones until `until` (or forever).

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pouch_api::types::EventMessage;
use pouch_engine::{Error, System, event_matches};
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::error::ApiResult;
use crate::query::Query;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

/// Unix seconds (with an optional fraction) or RFC 3339, as docker accepts; 0 when absent.
fn time_param(v: Option<&str>) -> ApiResult<i64> {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return Ok(0);
    };
    if let Ok(f) = v.parse::<f64>() {
        return Ok((f * 1e9) as i64);
    }
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp_nanos() as i64)
        .map_err(|_| {
            Error::invalid(format!("invalid time {v:?}: use unix seconds or RFC 3339")).into()
        })
}

fn line(m: &EventMessage) -> Bytes {
    let mut v = serde_json::to_vec(m).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

async fn events(State(system): State<System>, uri: Uri) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    let filters = q.filters()?;
    let since = time_param(q.get("since"))?;
    let until = time_param(q.get("until"))?;
    let (past, mut rx) = system.subscribe_events(since, &filters)?;
    let (tx, out) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(64);
    tokio::spawn(async move {
        for m in past.iter().filter(|m| until == 0 || m.time_nano <= until) {
            if tx.send(Ok(line(m))).await.is_err() {
                return;
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        if until != 0 && until <= now {
            return;
        }
        let deadline = async {
            if until == 0 {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_nanos((until - now).max(0) as u64)).await;
        };
        tokio::pin!(deadline);
        loop {
            let m = tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                m = rx.recv() => m,
            };
            match m {
                Ok(m) if event_matches(&m, &filters) => {
                    if tx.send(Ok(line(&m))).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(out);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}
