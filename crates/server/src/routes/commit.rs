//! `POST /commit`: `docker commit`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use pouch_engine::{CommitOptions, Containers, Error};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiResult;
use crate::query::Query;

pub fn routes() -> Router<AppState> {
    Router::new().route("/commit", post(commit))
}

async fn commit(
    State(containers): State<Containers>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    let Some(container) = q.get("container").filter(|c| !c.is_empty()) else {
        return Err(Error::invalid("container is required").into());
    };
    let config = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| Error::invalid(format!("invalid commit config: {e}")))?;
        match v {
            Value::Null => None,
            Value::Object(_) => Some(v),
            _ => return Err(Error::invalid("commit config must be a JSON object").into()),
        }
    };
    let opt = |k: &str| q.get(k).filter(|s| !s.is_empty()).map(str::to_string);
    let opts = CommitOptions {
        repo: opt("repo"),
        tag: opt("tag"),
        comment: opt("comment"),
        author: opt("author"),
        changes: q.all("changes"),
        // Docker pauses unless told not to.
        pause: q
            .get("pause")
            .filter(|p| !p.is_empty())
            .is_none_or(|_| q.bool("pause")),
        config,
    };
    let id = containers.commit_container(container, opts).await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))).into_response())
}
