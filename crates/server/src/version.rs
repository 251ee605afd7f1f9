//! API version handling: strips an optional `/v1.NN` prefix before routing, refuses versions
//! outside [MIN_API_VERSION, API_VERSION] the way docker does, and stamps every response with
//! the headers docker clients read.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::Response;
use pouch_api::{API_VERSION, MIN_API_VERSION, parse_api_version};

use crate::error::error_response;

/// The API version a request asked for (the newest when unversioned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

pub async fn middleware(mut req: Request<Body>, next: Next) -> Response {
    let (max, min) = (
        parse_api_version(API_VERSION).unwrap(),
        parse_api_version(MIN_API_VERSION).unwrap(),
    );
    let mut version = ApiVersion(max.0, max.1);
    if let Some((v, rest)) = split_version(req.uri().path()) {
        let Some(parsed) = parse_api_version(v) else {
            return stamp(error_response(
                StatusCode::BAD_REQUEST,
                format!("invalid API version {v:?}"),
            ));
        };
        if parsed > max {
            return stamp(error_response(
                StatusCode::BAD_REQUEST,
                format!(
                    "client version {v} is too new. Maximum supported API version is {API_VERSION}"
                ),
            ));
        }
        if parsed < min {
            return stamp(error_response(
                StatusCode::BAD_REQUEST,
                format!(
                    "client version {v} is too old. Minimum supported API version is \
                     {MIN_API_VERSION}, please upgrade your client to a newer version"
                ),
            ));
        }
        version = ApiVersion(parsed.0, parsed.1);
        let rest = rest.to_string();
        let mut parts = req.uri().clone().into_parts();
        let pq = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest,
        };
        parts.path_and_query = pq.parse().ok();
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req.extensions_mut().insert(version);
    stamp(next.run(req).await)
}

/// `/v1.47/images/json` → `("1.47", "/images/json")`.
fn split_version(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let v = &rest[..end];
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let tail = &rest[end..];
    Some((v, if tail.is_empty() { "/" } else { tail }))
}

fn stamp(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert(
        "Server",
        HeaderValue::from_str(&format!("Pouch/{} (linux)", pouch_api::VERSION))
            .unwrap_or(HeaderValue::from_static("Pouch")),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_version_prefix() {
        assert_eq!(
            split_version("/v1.47/images/json"),
            Some(("1.47", "/images/json"))
        );
        assert_eq!(split_version("/v1.24/_ping"), Some(("1.24", "/_ping")));
        assert_eq!(split_version("/version"), None);
        assert_eq!(split_version("/volumes"), None);
        assert_eq!(split_version("/v1.40"), Some(("1.40", "/")));
    }
}
