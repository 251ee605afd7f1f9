//! `/containers/{id}/archive`: what `docker cp` uses (HEAD stats a path, GET reads it as a tar,
//! PUT extracts a tar into a directory).

use axum::Router;

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::TryStreamExt;
use pouch_engine::{Containers, Error};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::AppState;
use crate::error::ApiResult;
use crate::query::Query;
use crate::stream::writer_body;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/containers/{id}/archive",
        get(get_archive).head(head_archive).put(put_archive),
    )
}

fn path_param(q: &Query) -> ApiResult<String> {
    match q.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(Error::invalid("bad parameter: path cannot be empty").into()),
    }
}

async fn head_archive(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let path = path_param(&Query::parse(req.uri().query()))?;
    let stat = containers.container_path_stat(&id, &path).await?;
    Ok((StatusCode::OK, [(STAT_HEADER, stat)]).into_response())
}

async fn get_archive(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let path = path_param(&Query::parse(req.uri().query()))?;
    // Stat first: a missing path is a clean 404 before any byte of the tar is sent.
    let stat = containers.container_path_stat(&id, &path).await?;
    let body = writer_body("container archive", move |out| async move {
        containers.container_archive(&id, &path, out).await
    });
    Ok((
        [
            (
                header::CONTENT_TYPE.as_str(),
                "application/x-tar".to_string(),
            ),
            (STAT_HEADER, stat),
        ],
        body,
    )
        .into_response())
}

async fn put_archive(
    State(containers): State<Containers>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = Query::parse(req.uri().query());
    let path = path_param(&q)?;
    let no_overwrite = q.bool("noOverwriteDirNonDir");
    let copy_uid_gid = q.bool("copyUIDGID");
    let body = req.into_body();
    // Refuse an unknown container or destination before taking the tar, but read what the client
    // is still sending first, or it may never see the answer.
    if let Err(e) = containers.container_path_stat(&id, &path).await {
        drain(body).await;
        return Err(e.into());
    }
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let body = Box::new(SyncIoBridge::new(StreamReader::new(stream)));
    containers
        .extract_to_container(&id, &path, no_overwrite, copy_uid_gid, body)
        .await?;
    Ok(StatusCode::OK.into_response())
}

/// Reads and drops up to 64 MiB of a refused upload.
async fn drain(body: axum::body::Body) {
    let mut left: usize = 64 << 20;
    let mut stream = body.into_data_stream();
    while let Ok(Some(chunk)) = stream.try_next().await {
        left = left.saturating_sub(chunk.len());
        if left == 0 {
            break;
        }
    }
}
