//! The client's error type.
//!
//! Daemon-side failures keep the HTTP status and Docker's `message` apart so that callers (the
//! CLI, tests) can tell "no such image" from "daemon not running" without matching on text.

use std::io;

/// Everything that can go wrong talking to pouchd.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `-H` value is not `unix:///path` or `tcp://host:port`.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost { host: String, reason: &'static str },

    /// The socket could not be reached at all (missing socket file, refused, no permission).
    /// The OS error is part of the message rather than a `source` so that printing the error
    /// chain does not repeat it.
    #[error("cannot connect to pouchd at {host}: is the daemon running? ({cause})")]
    Connect { host: String, cause: io::Error },

    /// The TLS handshake with the daemon failed (its certificate did not verify, or it refused
    /// ours).
    #[error("TLS handshake with pouchd at {host} failed: {cause}")]
    Tls { host: String, cause: io::Error },

    /// The TLS options cannot be used (a certificate file missing or unreadable, a key that
    /// does not match).
    #[error("invalid TLS configuration: {0}")]
    TlsConfig(String),

    /// The daemon answered with a non-2xx status; `message` is Docker's `{"message": ...}`
    /// (or the raw body, or the status reason when the body is empty).
    #[error("error response from daemon: {message}")]
    Api { status: u16, message: String },

    /// A JSON message stream (load, import, pull, build) reported an `error` mid-stream; the
    /// HTTP status was already 200 by then.
    #[error("{message}")]
    Stream { message: String },

    /// The daemon's answer to a hijack request was not well-formed HTTP.
    #[error("invalid response from daemon: {0}")]
    Protocol(String),

    /// The response was not the JSON the caller expected.
    #[error("invalid JSON from daemon: {0}")]
    Json(#[from] serde_json::Error),

    /// The request could not be built (a path with characters that are not valid in a URI).
    #[error("invalid request: {0}")]
    Request(#[from] http::Error),

    /// The HTTP exchange failed after the connection was made.
    #[error("http: {0}")]
    Http(#[from] hyper::Error),

    /// Reading a request body (a file, stdin) failed while it was being sent.
    #[error("io: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// The HTTP status of a daemon error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for a daemon `404`: the object (image, container, …) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// Shorthand used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Extracts Docker's error message from a non-2xx body.
///
/// moby always sends `{"message": "..."}`; anything else (a proxy's HTML page, plain text) is
/// passed through trimmed, and an empty body falls back to the status reason so the user never
/// sees an empty error.
pub(crate) fn api_error(status: http::StatusCode, body: &[u8]) -> Error {
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned));
    let message = match from_json {
        Some(m) => m,
        None => {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if text.is_empty() {
                let reason = status.canonical_reason().unwrap_or("unknown status");
                format!("{} {}", status.as_u16(), reason)
            } else {
                text
            }
        }
    };
    Error::Api {
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn api_error_prefers_docker_message() {
        let e = api_error(StatusCode::NOT_FOUND, br#"{"message":"No such image: x"}"#);
        assert!(e.is_not_found());
        match e {
            Error::Api { message, .. } => assert_eq!(message, "No such image: x"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn api_error_falls_back_to_text_then_reason() {
        let e = api_error(StatusCode::BAD_GATEWAY, b"  upstream down\n");
        assert_eq!(e.to_string(), "error response from daemon: upstream down");
        let e = api_error(StatusCode::CONFLICT, b"");
        assert_eq!(e.to_string(), "error response from daemon: 409 Conflict");
        assert_eq!(e.status(), Some(409));
    }
}
