//! `/_ping`, `/version`, `/info`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pouch_api::types::BuildCachePruneReport;
use pouch_engine::System;

use crate::AppState;
use crate::error::ApiResult;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).post(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/system/df", get(df))
        .route("/build", axum::routing::post(build))
        .route("/build/prune", axum::routing::post(build_prune))
        .route("/images/search", get(search))
}

/// GET and HEAD (axum answers HEAD from the GET route, without a body).
async fn ping() -> Response {
    let mut resp = "OK".into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    resp
}

async fn version(State(system): State<System>) -> Response {
    Json(system.version()).into_response()
}

async fn df(State(system): State<System>, uri: axum::http::Uri) -> ApiResult<Response> {
    let q = crate::query::Query::parse(uri.query());
    let types = q.all("type");
    Ok(Json(system.system_df(types).await?).into_response())
}

/// `docker build` (the classic builder's endpoint): refused with a reason, not a bare 404.
async fn build() -> ApiResult<Response> {
    Err(pouch_engine::Error::not_implemented(
        "image builds are not supported: pouch cannot build images yet; build with another tool \
         and `docker load` or pull the result",
    )
    .into())
}

/// pouch keeps no build cache (it cannot build images yet), so pruning it deletes nothing and
/// reclaims nothing: the report says exactly that, in dockerd's words for an empty prune
/// (`CachesDeleted: null`). A refusal here would fail `docker system prune`, which asks for the
/// build cache after pruning everything else.
async fn build_prune() -> Response {
    Json(BuildCachePruneReport {
        caches_deleted: None,
        space_reclaimed: 0,
    })
    .into_response()
}

/// `docker search` asks the daemon to query Docker Hub's index; pouch has no index to ask.
async fn search() -> ApiResult<Response> {
    Err(pouch_engine::Error::not_implemented(
        "searching is not supported: pouch talks to registries (OCI distribution API), not to \
         Docker Hub's search index; list a registry's repositories with GET /v2/_catalog",
    )
    .into())
}

async fn info(State(system): State<System>) -> ApiResult<Response> {
    Ok(Json(system.info().await?).into_response())
}
