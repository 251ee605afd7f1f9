//! Wire types shared by pouchd (the client) and pouch-shim (the server). Plain serde, no I/O, so
//! the shim links them without an async runtime.
//!
//! Compatibility rules (a newer pouchd must drive shims started by an older one after an upgrade):
//! fields are only ever added, each new one with `#[serde(default)]`; unknown fields are ignored;
//! an unknown `op` is answered with [`ErrorCode::Unsupported`]; enums that may grow carry an
//! `Unknown` catch-all. [`PROTOCOL_VERSION`] is bumped when an op or field is added so either
//! side can tell what the other understands.

use serde::{Deserialize, Serialize};

/// Version of the protocol spoken by this build. Sent in every request, response and ready line.
pub const PROTOCOL_VERSION: u32 = 2;

/// The shim's control socket, in the container's state dir.
pub const SOCKET_FILE: &str = "shim.sock";
/// The shim's pid (decimal), in the container's state dir.
pub const PID_FILE: &str = "shim.pid";
/// The container's exit record ([`ExitInfo`] as JSON), in the container's state dir.
pub const EXIT_FILE: &str = "exit.json";
/// The shim's own diagnostics (and those of the embedded runtime), in the container's state dir.
pub const LOG_FILE: &str = "shim.log";
/// Where the shim receives a pty master from the runtime (tty containers only).
pub const CONSOLE_SOCKET_FILE: &str = "console.sock";

/// How the container ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The exit status, or 128 + signal number when the init process was killed by a signal.
    pub exit_code: i32,
    /// When the shim reaped the init process, in nanoseconds since the Unix epoch.
    pub exited_at: i64,
    /// Whether the kernel OOM killer killed a process of the container's cgroup (best effort:
    /// read from the memory controller's `oom_kill` counter, so false when it is unavailable).
    #[serde(default)]
    pub oom_killed: bool,
    /// Why the exit status is not trustworthy or cleanup failed, when that happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The container's state as the shim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShimStatus {
    /// Created by the runtime, init is waiting for `start`.
    Created,
    Running,
    Paused,
    /// Init has exited; the shim is finishing up (or has, see [`ShimState::exit`]).
    Stopped,
}

/// Answer to a `state` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimState {
    pub status: ShimStatus,
    /// The container's init process as seen from the host.
    pub pid: i32,
    /// Set once the container has exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
}

/// One request: a single JSON line from client to shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub op: Op,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Start the created container. Answer: `pid`.
    Start,
    /// Answer: `state`.
    State,
    /// Signal init (or, with `all`, every process of the container).
    Kill {
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    /// Answered once the container has exited, with `exit`.
    Wait,
    Pause,
    Resume,
    /// Set the pty's window size (a no-op without a tty).
    Resize {
        height: u16,
        width: u16,
    },
    /// After a successful answer the connection carries raw bytes (see the module docs).
    Attach {
        #[serde(default)]
        stdin: bool,
        #[serde(default)]
        stdout: bool,
        #[serde(default)]
        stderr: bool,
    },
    /// Finish now: delete runtime state and exit (only when the container is created or stopped).
    Shutdown,
    /// Run an extra process in the running container (since version 2). Answer: `pid`; then
    /// the connection carries the process's stdio raw, like `attach`.
    Exec(ExecRequest),
    /// Answer: `exit_code` once the exec'd process has exited, none while it runs (since 2).
    ExecState {
        exec_id: String,
    },
    /// Set the exec's pty window size (a no-op without a tty) (since 2).
    ExecResize {
        exec_id: String,
        height: u16,
        width: u16,
    },
}

/// An extra process to run in a running container (`docker exec`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The caller's name for the process; `exec_state`/`exec_resize` refer to it.
    pub exec_id: String,
    pub args: Vec<String>,
    /// `KEY=value` entries, added to (and overriding) the container's environment.
    #[serde(default)]
    pub env: Vec<String>,
    /// Working directory; empty means the container's (`/` if it has none).
    #[serde(default)]
    pub cwd: String,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub stdin: bool,
    /// All capabilities instead of the container's set.
    #[serde(default)]
    pub privileged: bool,
}

/// Why the shim refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The container is not running (not started yet, or already exited).
    NotRunning,
    /// The request does not fit the container's state (start twice, resume when not paused …).
    InvalidState,
    /// The OCI runtime failed.
    Runtime,
    /// The shim does not know this op (it is older than the client).
    Unsupported,
    /// The request line was not valid.
    BadRequest,
    /// No such exec (since version 2).
    NotFound,
    /// The exec id is already in use (since version 2).
    AlreadyExists,
    /// A code added by a newer shim.
    #[serde(other)]
    Unknown,
}

/// A refusal, with a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// For a failed `exec`: the class of the failure, as for a failed create (since 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_error: Option<CreateErrorKind>,
}

/// One response: a single JSON line from shim to client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ShimState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
    /// `exec_state`: the exec's exit code (128 + signal when killed), once it has exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

impl Response {
    /// A successful answer with nothing in it.
    pub fn ok() -> Self {
        Response {
            version: PROTOCOL_VERSION,
            ..Default::default()
        }
    }

    /// A refusal.
    pub fn err(code: ErrorCode, message: impl Into<String>) -> Self {
        Response {
            version: PROTOCOL_VERSION,
            error: Some(ErrorBody {
                code,
                message: message.into(),
                create_error: None,
            }),
            ..Default::default()
        }
    }
}

/// Why creating the container failed, in the classes docker maps to exit codes 127/126/125.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateErrorKind {
    /// The process's executable does not exist (docker: 127).
    NotFound,
    /// The executable exists but cannot be executed (docker: 126).
    PermissionDenied,
    /// Anything else: bad spec, missing rootfs, cgroup or namespace failure (docker: 125/126).
    #[serde(other)]
    Other,
}

impl CreateErrorKind {
    /// Classifies a runtime's create error message. Runtimes report these only as text:
    /// libcontainer "executable 'x' not found in $PATH" / "does not have correct permissions",
    /// runc `exec: "x": executable file not found in $PATH` / "permission denied",
    /// crun "executable file `x` not found in $PATH" / "Permission denied".
    pub fn classify(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        if m.contains("not found in $path")
            || m.contains("executable file not found")
            || m.contains("no such file or directory") && m.contains("exec")
        {
            CreateErrorKind::NotFound
        } else if m.contains("permission denied") || m.contains("does not have correct permissions")
        {
            CreateErrorKind::PermissionDenied
        } else {
            CreateErrorKind::Other
        }
    }
}

/// The shim's one-line report to its launcher on stdout: either the container was created
/// (`pid` set) or creating it failed (`error` set, and the shim has cleaned up and exited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CreateFailure>,
}

/// A failed create, as reported in [`Ready`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateFailure {
    pub kind: CreateErrorKind,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_flat_json_lines() {
        let r = Request {
            version: 1,
            op: Op::Kill {
                signal: 15,
                all: false,
            },
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"version":1,"op":"kill","signal":15,"all":false}"#);
        let back: Request =
            serde_json::from_str(r#"{"version":1,"op":"kill","signal":9}"#).unwrap();
        assert_eq!(
            back.op,
            Op::Kill {
                signal: 9,
                all: false
            }
        );
    }

    #[test]
    fn newer_fields_and_codes_are_tolerated() {
        let r: Response = serde_json::from_str(
            r#"{"version":7,"error":{"code":"brand_new","message":"x"},"extra":1}"#,
        )
        .unwrap();
        assert_eq!(r.error.unwrap().code, ErrorCode::Unknown);
        let k: CreateErrorKind = serde_json::from_str(r#""weird""#).unwrap();
        assert_eq!(k, CreateErrorKind::Other);
        assert!(serde_json::from_str::<Request>(r#"{"version":9,"op":"checkpoint"}"#).is_err());
    }

    #[test]
    fn exec_requests_are_flat() {
        let r = Request {
            version: PROTOCOL_VERSION,
            op: Op::ExecState {
                exec_id: "e1".into(),
            },
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"version":2,"op":"exec_state","exec_id":"e1"}"#);
        let back: Request =
            serde_json::from_str(r#"{"version":2,"op":"exec","exec_id":"x","args":["true"]}"#)
                .unwrap();
        let Op::Exec(e) = back.op else {
            panic!("{back:?}")
        };
        assert_eq!(
            (e.exec_id.as_str(), e.cwd.as_str(), e.tty),
            ("x", "", false)
        );
    }

    #[test]
    fn classifies_runtime_messages() {
        use CreateErrorKind::*;
        for (msg, kind) in [
            ("executable '/nonexistent' not found in $PATH", NotFound),
            (
                r#"exec: "nope": executable file not found in $PATH"#,
                NotFound,
            ),
            (
                "executable file `nope` not found in $PATH: No such file or directory",
                NotFound,
            ),
            (
                "executable 'x' at path '\"/x\"' does not have correct permissions",
                PermissionDenied,
            ),
            ("exec /etc/passwd: permission denied", PermissionDenied),
            ("rootfs does not exist", Other),
        ] {
            assert_eq!(CreateErrorKind::classify(msg), kind, "{msg}");
        }
    }
}
