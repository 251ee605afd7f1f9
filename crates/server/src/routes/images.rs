//! `/images/…`. Image names may contain slashes (`localhost:5000/a/b`), so the per-image routes
//! are matched by suffix on a catch-all path, as docker's `{name:.*}` routes do.

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::TryStreamExt;
use pouch_api::types::JsonMessage;
use pouch_engine::{Distribution, Error, Images};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::stream::writer_body;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/get", get(save_many))
        .route("/images/load", post(load))
        .route("/images/create", post(create))
        .route("/images/prune", post(prune))
        .route(
            "/images/{*rest}",
            get(get_image).post(post_image).delete(delete_image),
        )
}

fn query(uri: &Uri) -> Query {
    Query::parse(uri.query())
}

async fn list(State(images): State<Images>, uri: Uri) -> ApiResult<Response> {
    let q = query(&uri);
    let images = images.list_images(q.filters()?, q.bool("digests")).await?;
    Ok(Json(images).into_response())
}

/// `GET /images/{name}/json|history|get`.
async fn get_image(
    State(images): State<Images>,
    Path(rest): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/json") {
        return Ok(Json(images.inspect_image(name.to_string()).await?).into_response());
    }
    if let Some(name) = rest.strip_suffix("/history") {
        return Ok(Json(images.image_history(name.to_string()).await?).into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save(images, vec![name.to_string()]).await;
    }
    let _ = uri;
    Err(page_not_found())
}

/// `POST /images/{name}/tag|push`.
async fn post_image(
    State(images): State<Images>,
    State(registry): State<Distribution>,
    Path(rest): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = query(req.uri());
    if let Some(name) = rest.strip_suffix("/tag") {
        let repo = q.get("repo").unwrap_or("").to_string();
        let tag = q.get("tag").unwrap_or("").to_string();
        images.tag_image(name.to_string(), repo, tag).await?;
        return Ok(StatusCode::CREATED.into_response());
    }
    if let Some(name) = rest.strip_suffix("/push") {
        return super::registry::push(registry, name.to_string(), req).await;
    }
    Err(page_not_found())
}

async fn delete_image(
    State(images): State<Images>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let q = query(&uri);
    Ok(Json(images.remove_image(name, q.bool("force")).await?).into_response())
}

async fn prune(State(images): State<Images>, uri: Uri) -> ApiResult<Response> {
    let q = query(&uri);
    Ok(Json(images.prune_images(q.filters()?).await?).into_response())
}

async fn save_many(State(images): State<Images>, uri: Uri) -> ApiResult<Response> {
    save(images, query(&uri).all("names")).await
}

/// Streams the archive as it is written; names are resolved first so a bad one is a clean 404.
async fn save(images: Images, names: Vec<String>) -> ApiResult<Response> {
    let plan = images.plan_save(names).await?;
    let body = writer_body("image save", move |out| async move {
        images.write_save(plan, out).await
    });
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// The request body as a blocking reader, for the images's tar parsers.
fn body_reader(req: Request) -> Box<dyn std::io::Read + Send> {
    let stream = req
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    Box::new(SyncIoBridge::new(StreamReader::new(stream)))
}

async fn load(State(images): State<Images>, req: Request) -> ApiResult<Response> {
    let lines = images.load_images(body_reader(req)).await?;
    Ok(json_stream(
        lines.into_iter().map(JsonMessage::stream).collect(),
    ))
}

/// `POST /images/create`: `fromImage` pulls from a registry, `fromSrc=-` imports a rootfs tarball.
async fn create(
    State(images): State<Images>,
    State(registry): State<Distribution>,
    req: Request,
) -> ApiResult<Response> {
    let q = query(req.uri());
    if q.get("fromImage").is_some_and(|s| !s.is_empty()) {
        return super::registry::pull(registry, req).await;
    }
    match q.get("fromSrc") {
        Some("-") => {}
        Some("") | None => return Err(Error::invalid("give fromImage or fromSrc").into()),
        Some(src) => {
            return Err(Error::invalid(format!(
                "importing from {src:?} is not supported: send the tarball as the request body \
                 with fromSrc=-"
            ))
            .into());
        }
    }
    let repo = q.get("repo").map(str::to_string);
    let tag = q.get("tag").map(str::to_string);
    let message = q
        .get("message")
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let changes = q.all("changes");
    let id = images
        .import_image(body_reader(req), repo, tag, changes, message)
        .await?;
    Ok(json_stream(vec![JsonMessage::status(id)]))
}

/// Docker's newline-delimited JSON message stream.
fn json_stream(messages: Vec<JsonMessage>) -> Response {
    let mut body = Vec::new();
    for m in messages {
        if serde_json::to_writer(&mut body, &m).is_ok() {
            body.push(b'\n');
        }
    }
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub fn page_not_found() -> ApiError {
    ApiError(Error::not_found("page not found"))
}
