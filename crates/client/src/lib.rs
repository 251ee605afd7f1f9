//! An async client for pouchd's Docker Engine API, over a unix socket, plain TCP or TCP with
//! TLS (docker's `--tls`/`--tlsverify` options).
//!
//! It is deliberately untyped: responses are `serde_json::Value`, so the CLI and the end-to-end
//! tests keep working while the API types evolve, and both see exactly what a docker client
//! would. What it does own is the protocol around the JSON: the `/v1.NN` prefix and version
//! negotiation, Docker's error bodies, streamed uploads and downloads, JSON message streams, and the
//! hijacked connections of attach and exec with their multiplexed stdout/stderr frames.

mod body;
mod client;
mod conn;
mod error;
mod hijack;
mod host;
mod messages;
mod mux;
mod query;
mod tls;

pub use body::{Body, ByteStream};
pub use client::{Client, Deferred, Ping, StreamResponse};
pub use error::{Error, Result};
pub use hijack::{Hijacked, MULTIPLEXED_STREAM, RAW_STREAM, content_type_kind};
pub use host::{DEFAULT_HOST, Host};
pub use messages::{json_messages, message_error};
pub use mux::{Demuxer, StreamKind};
pub use query::{Query, encode_path, encode_query_component};
pub use tls::TlsOptions;

#[cfg(test)]
mod tests;
