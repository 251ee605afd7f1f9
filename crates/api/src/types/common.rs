//! Bodies shared by every resource: the error body and the JSON progress message stream.

use serde::{Deserialize, Serialize};

/// Docker's error body: `{"message": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorResponse {
    pub message: String,
}

/// One line of Docker's JSON message stream (load, import, pull, push).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct JsonMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// `{"current": n, "total": m}` while a transfer runs; `{}` on state changes.
    #[serde(
        rename = "progressDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub progress_detail: Option<ProgressDetail>,
    /// Structured results (push: `{"Digest","Size","Tag"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<PushResult>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A transfer's progress; both absent (`{}`) on a state change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProgressDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// The `aux` of push's last message: what was pushed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct PushResult {
    pub digest: String,
    pub size: u64,
    pub tag: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ErrorDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub message: String,
}

impl JsonMessage {
    pub fn stream(text: impl Into<String>) -> JsonMessage {
        JsonMessage {
            stream: Some(text.into()),
            ..Default::default()
        }
    }

    pub fn status(text: impl Into<String>) -> JsonMessage {
        JsonMessage {
            status: Some(text.into()),
            ..Default::default()
        }
    }

    /// An error reported inside a stream whose 200 status line was already sent.
    pub fn error(message: impl Into<String>) -> JsonMessage {
        let message = message.into();
        JsonMessage {
            error_detail: Some(ErrorDetail {
                code: None,
                message: message.clone(),
            }),
            error: Some(message),
            ..Default::default()
        }
    }
}
