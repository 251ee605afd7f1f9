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

async fn info(State(engine): State<Engine>) -> ApiResult<Response> {
    Ok(Json(engine.info().await?).into_response())
}
