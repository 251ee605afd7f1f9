//! pouchd ↔ pouch-shim: launching a shim per container and talking to it.
//!
//! pouchd never runs a container itself. At `start` it calls [`launch`], which runs `pouch-shim`
//! with the flags of [`ShimLaunch::to_args`]. The shim detaches (setsid + double fork, so it
//! outlives pouchd), creates the container through the OCI runtime, and reports one JSON line
//! ([`proto::Ready`]) on its stdout: the init pid, or why create failed (then it has already
//! cleaned up and exited). From then on pouchd talks to it over `<state_dir>/shim.sock`.
//!
//! # Protocol (version [`proto::PROTOCOL_VERSION`])
//!
//! One connection per request. The client sends one JSON line, a [`proto::Request`]:
//! `{"version":1,"op":"kill","signal":15,"all":false}`; the shim answers one JSON line, a
//! [`proto::Response`] (`{"version":1,"pid":42}`, or `{"version":1,"error":{"code":
//! "not_running","message":"…"}}`), and closes. Ops: `start`, `state`, `kill`, `wait`
//! (answered when the container has exited), `pause`, `resume`, `resize`, `attach`, `shutdown`.
//!
//! `attach` is the exception: after a successful answer the connection becomes a raw byte
//! stream. Shim → client carries the container's output from the moment of attaching — for a
//! tty the raw pty bytes, otherwise docker's multiplexed frames (`[stream, 0, 0, 0,
//! len as u32 big-endian]` + payload, stream 1 = stdout, 2 = stderr). Client → shim bytes go
//! to the container's stdin if the attach asked for it (and are discarded otherwise); when the
//! client shuts down its write half, the shim closes the container's stdin (for a tty, it
//! only stops forwarding: the pty stays open). When the container exits the shim flushes what
//! is left and closes every attached stream.
//!
//! `exec` (version 2, with `exec_state` and `exec_resize`) runs an extra process in the running
//! container. Its answer carries the process's host pid; then the connection is raw like an
//! attach with stdout and stderr (and stdin if asked for), but carrying only that process's
//! stdio, which is not logged. The shim ends the stream once the process has exited (it reaps
//! it as parent or subreaper) and its output is flushed, and keeps its exit code for
//! `exec_state` until the container exits. A failed exec answers an error whose
//! `create_error` classifies it like a failed create (missing executable, permission denied).
//! An exec'd process dies with the container (it is in the container's cgroup).
//!
//! # Lifecycle and files
//!
//! When init exits the shim drains the container's output (at most a couple of seconds), then in
//! this order: writes `exit.json` ([`read_exit_file`]) atomically, deletes the runtime's state
//! (and with it the container's cgroup), removes `shim.sock` and `shim.pid`, answers `wait`
//! requests, flushes attached streams and exits. So when `wait` returns, the state dir is free
//! for a new shim of the same container (restart policies), and a client that finds no socket
//! can rely on `exit.json`. `shutdown` only shortens this (or tears down a container that was
//! created but never started).
//!
//! SIGTERM/SIGINT sent to a shim are forwarded to the container as SIGTERM (a created, never
//! started container is torn down instead), so stopping shims never orphans containers. A shim
//! that is SIGKILLed leaves its container running without a supervisor; [`cleanup`] (which runs
//! `pouch-shim cleanup`, since the runtime library never runs inside pouchd) then kills it and
//! removes the runtime state, cgroup, socket and pid file.

pub mod args;
pub mod files;
pub mod proto;

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod launch;

use std::io;

pub use args::{RuntimeChoice, ShimLaunch};
#[cfg(feature = "client")]
pub use client::ShimClient;
pub use files::{find_shims, read_exit_file, serves, shim_pid};
#[cfg(feature = "client")]
pub use launch::{cleanup, launch};
pub use proto::{CreateErrorKind, ErrorCode, ExecRequest, ExitInfo, ShimState, ShimStatus};

/// Errors of the shim client and launcher.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runtime could not create the container. `kind` separates a missing executable and
    /// a permission problem (docker's 127 and 126) from everything else.
    #[error("{message}")]
    Create {
        kind: CreateErrorKind,
        message: String,
    },
    /// The shim refused the request (wrong state, runtime failure …).
    #[error("{message}")]
    Rejected { code: ErrorCode, message: String },
    /// No shim answers: it has exited (see [`read_exit_file`]), crashed, or never started.
    #[error("shim unavailable: {0}")]
    Unavailable(String),
    /// The shim binary could not be run or died before reporting.
    #[error("cannot launch shim: {0}")]
    Launch(String),
    /// `cleanup` could not remove everything (or the shim is still alive).
    #[error("shim cleanup: {0}")]
    Cleanup(String),
    /// The shim answered something this client does not understand.
    #[error("shim protocol error: {0}")]
    Protocol(String),
    #[error("shim i/o: {0}")]
    Io(#[from] io::Error),
}

/// Result of shim operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
