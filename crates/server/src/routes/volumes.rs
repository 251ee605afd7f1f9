//! `/volumes/…`: create, list, inspect, remove, prune.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pouch_api::types::{VolumeCreateBody, VolumeListResponse};
use pouch_engine::{Error, Volumes};

use crate::AppState;
use crate::error::ApiResult;
use crate::query::Query;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

async fn create(State(volumes): State<Volumes>, body: Bytes) -> ApiResult<Response> {
    let req: VolumeCreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        VolumeCreateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Error::invalid(format!("invalid volume create request: {e}")))?
    };
    let v = volumes.create_volume(req).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn list(State(volumes): State<Volumes>, uri: Uri) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    let volumes = volumes.list_volumes(q.filters()?).await?;
    Ok(Json(VolumeListResponse {
        volumes,
        warnings: Vec::new(),
    })
    .into_response())
}

async fn inspect(State(volumes): State<Volumes>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(Json(volumes.inspect_volume(name).await?).into_response())
}

async fn remove(
    State(volumes): State<Volumes>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    volumes.remove_volume(name, q.bool("force")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(volumes): State<Volumes>, uri: Uri) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    Ok(Json(volumes.prune_volumes(q.filters()?).await?).into_response())
}
