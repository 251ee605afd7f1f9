//! `/networks/…`: create, list, inspect, remove, prune, connect, disconnect.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pouch_api::types::{NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest};
use pouch_engine::{Error, Networks};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiResult;
use crate::query::Query;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

fn body<T: DeserializeOwned + Default>(b: &Bytes, what: &str) -> Result<T, Error> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(b).map_err(|e| Error::invalid(format!("invalid {what} request: {e}")))
}

async fn create(State(networks): State<Networks>, b: Bytes) -> ApiResult<Response> {
    let req: NetworkCreateRequest = body(&b, "network create")?;
    Ok((
        StatusCode::CREATED,
        Json(networks.create_network(req).await?),
    )
        .into_response())
}

async fn list(State(networks): State<Networks>, uri: Uri) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    Ok(Json(networks.list_networks(q.filters()?).await?).into_response())
}

async fn inspect(State(networks): State<Networks>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(networks.inspect_network(&id).await?).into_response())
}

async fn remove(State(networks): State<Networks>, Path(id): Path<String>) -> ApiResult<Response> {
    networks.remove_network(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(networks): State<Networks>, uri: Uri) -> ApiResult<Response> {
    let q = Query::parse(uri.query());
    Ok(Json(networks.prune_networks(q.filters()?).await?).into_response())
}

async fn connect(
    State(networks): State<Networks>,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult<Response> {
    let req: NetworkConnectRequest = body(&b, "network connect")?;
    networks
        .connect_network(&id, &req.container, req.endpoint_config)
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(
    State(networks): State<Networks>,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult<Response> {
    let req: NetworkDisconnectRequest = body(&b, "network disconnect")?;
    networks.disconnect_network(&id, &req.container).await?;
    Ok(StatusCode::OK.into_response())
}
