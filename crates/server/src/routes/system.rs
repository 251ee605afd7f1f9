//! `/_ping`, `/version`, `/info`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pouch_engine::Engine;

use crate::error::ApiResult;

pub fn routes() -> Router<Engine> {
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

async fn version(State(engine): State<Engine>) -> Response {
    Json(engine.version()).into_response()
}

async fn df(State(engine): State<Engine>, uri: axum::http::Uri) -> ApiResult<Response> {
    let q = crate::query::Query::parse(uri.query());
    let types = q.all("type");
    Ok(Json(engine.system_df(types).await?).into_response())
}

/// `docker build` (the classic builder's endpoint): refused with a reason, not a bare 404.
async fn build() -> ApiResult<Response> {
    Err(pouch_engine::Error::not_implemented(
        "image builds are not supported: pouch cannot build images yet; build with another tool \
         and `docker load` or pull the result",
    )
    .into())
}

/// pouch has no builder yet, so there is no build cache to prune: refused rather than answered
/// with an empty report that would read as "pruned".
async fn build_prune() -> ApiResult<Response> {
    Err(pouch_engine::Error::not_implemented(
        "pruning the build cache is not supported: pouch cannot build images yet, so it keeps no \
         build cache",
    )
    .into())
}

/// `docker search` asks the daemon to query Docker Hub's index; pouch has no index to ask.
async fn search() -> ApiResult<Response> {
    Err(pouch_engine::Error::not_implemented(
        "searching is not supported: pouch talks to registries (OCI distribution API), not to \
         Docker Hub's search index; list a registry's repositories with GET /v2/_catalog",
    )
    .into())
}

async fn info(State(engine): State<Engine>) -> ApiResult<Response> {
    Ok(Json(engine.info().await?).into_response())
}
