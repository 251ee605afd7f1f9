//! HTTP helpers of the registry client: building requests, reading small bodies, turning error
//! answers into [`Error`]s with the registry's own words, and URL odds and ends.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;

use super::auth::{Challenge, parse_challenge};
use super::transport::Body;
use super::{Error, Result};
use crate::oci::{
    MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_MANIFEST,
};

/// Manifests and configs are small; refuse to buffer more.
const MAX_SMALL_BODY: usize = 16 << 20;

#[derive(Deserialize)]
struct RegistryErrors {
    #[serde(default)]
    errors: Vec<RegistryError>,
}

#[derive(Deserialize)]
struct RegistryError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Accepted manifest media types, for callers that check what they got.
pub fn known_manifest(media_type: &str) -> bool {
    matches!(
        media_type,
        MEDIA_TYPE_DOCKER_MANIFEST
            | MEDIA_TYPE_DOCKER_MANIFEST_LIST
            | MEDIA_TYPE_OCI_INDEX
            | MEDIA_TYPE_OCI_MANIFEST
    )
}

/// Turns an error status into an [`Error`] carrying the registry's own message.
pub(super) async fn check(resp: Response<Incoming>, not_found: &str) -> Result<Response<Incoming>> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = read_small(resp).await.unwrap_or_default();
    let msg = error_message(&body);
    Err(match status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized(
            msg.map(|m| m.trim_start_matches("unauthorized: ").to_string())
                .unwrap_or_else(|| "authentication required".into()),
        ),
        StatusCode::FORBIDDEN => Error::Denied(
            msg.unwrap_or_else(|| "requested access to the resource is denied".into()),
        ),
        StatusCode::NOT_FOUND => Error::NotFound(match msg {
            Some(m) => format!("{not_found}: {m}"),
            None => not_found.to_string(),
        }),
        s if s.is_server_error() => Error::Unavailable(format!(
            "registry answered {s}{}",
            msg.map(|m| format!(": {m}")).unwrap_or_default()
        )),
        s => Error::Protocol(format!(
            "registry answered {s}{}",
            msg.map(|m| format!(": {m}")).unwrap_or_default()
        )),
    })
}

/// `code: message` of the first error in a registry error body, docker style
/// (`manifest unknown: manifest unknown`).
pub(super) fn error_message(body: &[u8]) -> Option<String> {
    let errs: RegistryErrors = serde_json::from_slice(body).ok()?;
    let e = errs.errors.into_iter().next()?;
    let code = e.code.to_lowercase().replace('_', " ");
    Some(match (code.is_empty(), e.message.is_empty()) {
        (false, false) => format!("{code}: {}", e.message),
        (false, true) => code,
        _ => e.message,
    })
}

pub(super) async fn read_small(resp: Response<Incoming>) -> Result<Bytes> {
    Limited::new(resp.into_body(), MAX_SMALL_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| Error::Unavailable(format!("read registry answer: {e}")))
}

pub(super) fn challenge_of(resp: &Response<Incoming>) -> Option<Challenge> {
    resp.headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(parse_challenge)
        .max_by_key(|c| c.scheme == "bearer")
}

pub(super) fn request(
    method: Method,
    url: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Request<Body>> {
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .body(body)
        .map_err(|e| Error::Protocol(format!("bad request URL {url:?}: {e}")))?;
    req.headers_mut().extend(headers.clone());
    Ok(req)
}

pub(super) fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub(super) fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

pub(super) fn hv(s: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(s).map_err(|e| Error::Protocol(format!("bad header value: {e}")))
}

pub(super) async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(250 << attempt.min(5))).await;
}

/// The innermost message of an io error, without repeating wrappers.
pub(super) fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    if s.contains("Connection refused") {
        return "connection refused".into();
    }
    s
}

/// Resolves a `Location` against the URL it answered.
pub(super) fn resolve(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        return loc.to_string();
    }
    let origin_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|s| base[s..].find('/').map(|j| s + j))
        .unwrap_or(base.len());
    if loc.starts_with('/') {
        format!("{}{loc}", &base[..origin_end])
    } else {
        let dir_end = base
            .rfind('/')
            .filter(|&i| i >= origin_end)
            .unwrap_or(origin_end);
        format!("{}/{loc}", &base[..dir_end])
    }
}

pub(super) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// Percent-encodes a query value.
pub(super) fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_locations_and_messages() {
        assert_eq!(
            resolve(
                "http://r:5000/v2/a/blobs/uploads/",
                "/v2/a/blobs/uploads/x?_state=1"
            ),
            "http://r:5000/v2/a/blobs/uploads/x?_state=1"
        );
        assert_eq!(resolve("http://r/v2/x", "https://s3/y"), "https://s3/y");
        assert_eq!(host_of("https://r:5000/v2/"), "r:5000");
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            error_message(body).unwrap(),
            "manifest unknown: manifest unknown"
        );
        assert!(known_manifest(MEDIA_TYPE_OCI_INDEX));
    }
}
