//! `/volumes/…`: create, list, inspect, remove, prune.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pouch_api::types::{VolumeCreateBody, VolumeListResponse};
use pouch_engine::{Engine, Error};

use crate::error::ApiResult;
use crate::query::Query;

pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

async fn create(State(engine): State<Engine>, body: Bytes) -> ApiResult<Response> {
    let req: VolumeCreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        VolumeCreateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Error::invalid(format!("invalid volume create request: {e}")))?
    };
    let v = engine.create_volume(req).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn list(State(engine): State<Engine>, uri: Uri) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    let volumes = engine.list_volumes(q.filters()?).await?;
    Ok(Json(VolumeListResponse {
        volumes,
        warnings: Vec::new(),
    })
    .into_response())
}

async fn inspect(State(engine): State<Engine>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(Json(engine.inspect_volume(name).await?).into_response())
}

async fn remove(
    State(engine): State<Engine>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    engine.remove_volume(name, q.bool("force")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(engine): State<Engine>, uri: Uri) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    Ok(Json(engine.prune_volumes(q.filters()?).await?).into_response())
}
