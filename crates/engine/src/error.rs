//! The engine's one error type. Each kind maps to one HTTP status in the server and one gRPC code
//! in the CRI; messages are written for the user and say what to do where that helps.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    /// The operation is known but this build or host cannot do it (yet).
    NotImplemented,
    Unavailable,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn not_found(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, m)
    }
    pub fn conflict(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Conflict, m)
    }
    pub fn invalid(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, m)
    }
    pub fn not_implemented(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotImplemented, m)
    }
    pub fn internal(m: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, m)
    }
    /// Prefixes the message with what was being done.
    pub fn context(self, what: &str) -> Error {
        Error {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<pouch_image::Error> for Error {
    fn from(e: pouch_image::Error) -> Error {
        let kind = if e.is_invalid_input() {
            ErrorKind::InvalidArgument
        } else {
            ErrorKind::Internal
        };
        Error::new(kind, e.to_string())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::internal(format!("metadata store: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::internal(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::internal(format!("json: {e}"))
    }
}
