//! The one error type of the image store.

use std::io;

/// Errors of the image store. Every variant but [`Error::Io`] is caused by the input (a bad
/// reference, archive, layer or change), so callers can map them to "invalid argument".
#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error("invalid reference: {0}")]
    InvalidReference(String),
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    /// `what` names the object that failed verification ("layer 2 (blobs/sha256/…) of image …").
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("missing blob: {0}")]
    MissingBlob(String),
    #[error("unsafe layer: {0}")]
    UnsafeLayer(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("invalid change: {0}")]
    InvalidChange(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// True when the error was caused by what the caller handed in rather than by the host.
    pub fn is_invalid_input(&self) -> bool {
        !matches!(self, Error::Io { .. })
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn json(context: impl Into<String>, source: serde_json::Error) -> Error {
        Error::Json {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attaches a context message to io results: `file.read(..).ctx(|| format!("read {path}"))`.
pub(crate) trait IoContext<T> {
    fn ctx<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_io_is_a_host_error() {
        assert!(!Error::io("x", io::Error::other("boom")).is_invalid_input());
        assert!(Error::MissingBlob("b".into()).is_invalid_input());
        assert!(Error::InvalidChange("c".into()).is_invalid_input());
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        assert!(Error::json("cfg", json).is_invalid_input());
    }
}
