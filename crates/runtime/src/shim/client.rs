//! pouchd's side of the control socket.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::files::{SocketPath, read_exit_file};
use super::proto::{
    ErrorBody, ExecRequest, ExitInfo, Op, PROTOCOL_VERSION, Request, Response, SOCKET_FILE,
    ShimState,
};
use super::{Error, Result};

/// Requests other than `wait` and `attach` are answered at once by a healthy shim; one that
/// does not answer within this time (stopped, wedged in the runtime) is reported unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one response line.
const MAX_LINE: u64 = 1 << 20;

/// A handle on one container's shim. Cheap: it only knows the socket's directory and opens a
/// connection per request, so it can be cloned freely and recreated after pouchd restarts.
#[derive(Debug, Clone)]
pub struct ShimClient {
    state_dir: PathBuf,
}

impl ShimClient {
    /// A client for the shim serving `state_dir` (the shim need not be alive; requests then
    /// fail with [`Error::Unavailable`]).
    pub fn connect_path(state_dir: &Path) -> ShimClient {
        ShimClient {
            state_dir: state_dir.to_owned(),
        }
    }

    /// Starts the created container; returns its init pid.
    pub async fn start(&self) -> Result<i32> {
        let r = self.call(Op::Start).await?;
        r.pid
            .ok_or_else(|| Error::Protocol("start answer has no pid".into()))
    }

    /// The container's state; [`Error::Unavailable`] once the shim is gone (then read
    /// [`read_exit_file`]).
    pub async fn state(&self) -> Result<ShimState> {
        let r = self.call(Op::State).await?;
        r.state
            .ok_or_else(|| Error::Protocol("state answer has no state".into()))
    }

    /// Signals init, or every process of the container with `all`. Fails when the container
    /// is not running.
    pub async fn kill(&self, signal: i32, all: bool) -> Result<()> {
        self.call(Op::Kill { signal, all }).await.map(drop)
    }

    /// Waits for the container to exit. Returns at once if it already has, also when the shim
    /// is already gone and left its exit record.
    pub async fn wait(&self) -> Result<ExitInfo> {
        let answer = async {
            let mut stream = self.connect().await?;
            send(&mut stream, Op::Wait).await?;
            read_response(stream).await
        };
        match answer.await {
            Ok(r) => r
                .exit
                .ok_or_else(|| Error::Protocol("wait answer has no exit".into())),
            // The shim may exit between our connect and its answer only after recording the
            // exit, so the file is authoritative whenever the conversation broke off.
            Err(e @ (Error::Unavailable(_) | Error::Io(_))) => read_exit_file(&self.state_dir)
                .ok_or(match e {
                    Error::Io(io) => Error::Unavailable(io.to_string()),
                    other => other,
                }),
            Err(e) => Err(e),
        }
    }

    /// Freezes the container's processes.
    pub async fn pause(&self) -> Result<()> {
        self.call(Op::Pause).await.map(drop)
    }

    /// Thaws a paused container.
    pub async fn resume(&self) -> Result<()> {
        self.call(Op::Resume).await.map(drop)
    }

    /// Sets the pty size (ignored for containers without a tty).
    pub async fn resize(&self, height: u16, width: u16) -> Result<()> {
        self.call(Op::Resize { height, width }).await.map(drop)
    }

    /// Attaches to the container's stdio. The returned stream is raw after the handshake: read
    /// output (8-byte framed unless the container has a tty), write stdin, and
    /// `shutdown()` the write half to close the container's stdin (if `stdin` was asked for).
    pub async fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> Result<UnixStream> {
        let mut stream = self.connect().await?;
        send(
            &mut stream,
            Op::Attach {
                stdin,
                stdout,
                stderr,
            },
        )
        .await?;
        read_handshake(&mut stream).await?;
        Ok(stream)
    }

    /// Starts an extra process in the running container and returns its host pid and its
    /// stdio as a raw stream, framed like [`attach`](Self::attach) (8-byte headers without a
    /// tty, raw bytes with one). With `stdin`, bytes written go to the process's stdin and
    /// `shutdown()` of the write half closes it. The stream ends after the process has exited
    /// and its output is flushed; then [`exec_state`](Self::exec_state) has its exit code.
    /// A missing executable is [`Error::Create`] with `NotFound`, an unexecutable one
    /// `PermissionDenied` (docker's 127/126).
    pub async fn exec(&self, req: &ExecRequest) -> Result<(i32, UnixStream)> {
        let mut stream = self.connect().await?;
        send(&mut stream, Op::Exec(req.clone())).await?;
        let r = read_handshake(&mut stream).await?;
        let pid = r
            .pid
            .ok_or_else(|| Error::Protocol("exec answer has no pid".into()))?;
        Ok((pid, stream))
    }

    /// The exit code of an exec'd process once it has exited (128 + signal when killed),
    /// `None` while it runs. The shim keeps it until the container exits.
    pub async fn exec_state(&self, exec_id: &str) -> Result<Option<i32>> {
        let r = self
            .call(Op::ExecState {
                exec_id: exec_id.to_owned(),
            })
            .await?;
        Ok(r.exit_code)
    }

    /// Sets the exec's pty size (ignored for an exec without a tty).
    pub async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        self.call(Op::ExecResize {
            exec_id: exec_id.to_owned(),
            height,
            width,
        })
        .await
        .map(drop)
    }

    /// Tells a shim whose container has exited (or was created but never started) to delete
    /// the runtime state and exit now instead of finishing on its own.
    pub async fn shutdown(&self) -> Result<()> {
        self.call(Op::Shutdown).await.map(drop)
    }

    async fn call(&self, op: Op) -> Result<Response> {
        let exchange = async {
            let mut stream = self.connect().await?;
            send(&mut stream, op).await?;
            read_response(stream).await
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Err(_) => Err(Error::Unavailable("shim did not answer in time".into())),
            // The shim exited while we were talking to it.
            Ok(Err(Error::Io(e)))
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ) =>
            {
                Err(Error::Unavailable(e.to_string()))
            }
            Ok(r) => r,
        }
    }

    async fn connect(&self) -> Result<UnixStream> {
        let path = SocketPath::new(&self.state_dir, SOCKET_FILE)?;
        UnixStream::connect(path.path())
            .await
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => Error::Unavailable(
                    format!("{}: {e}", self.state_dir.join(SOCKET_FILE).display()),
                ),
                _ => Error::Io(e),
            })
    }
}

async fn send(stream: &mut UnixStream, op: Op) -> Result<()> {
    let mut line = serde_json::to_vec(&Request {
        version: PROTOCOL_VERSION,
        op,
    })
    .map_err(|e| Error::Protocol(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line).await?;
    Ok(())
}

async fn read_response(stream: UnixStream) -> Result<Response> {
    let mut line = Vec::new();
    BufReader::new(stream.take(MAX_LINE))
        .read_until(b'\n', &mut line)
        .await?;
    if !line.ends_with(b"\n") {
        return Err(Error::Unavailable(
            "shim closed the connection without answering".into(),
        ));
    }
    check(parse(&line)?)
}

/// Reads the answer line of a request whose connection turns raw (`attach`, `exec`).
async fn read_handshake(stream: &mut UnixStream) -> Result<Response> {
    // Byte by byte: output may follow the answer at once, and must stay in the stream.
    let mut line = Vec::new();
    loop {
        let b = stream.read_u8().await.map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::Unavailable("shim closed the connection".into()),
            _ => Error::Io(e),
        })?;
        if b == b'\n' {
            break;
        }
        if line.len() as u64 >= MAX_LINE {
            return Err(Error::Protocol("answer too long".into()));
        }
        line.push(b);
    }
    check(parse(&line)?)
}

fn parse(line: &[u8]) -> Result<Response> {
    serde_json::from_slice(line).map_err(|e| Error::Protocol(format!("bad answer: {e}")))
}

fn check(r: Response) -> Result<Response> {
    match r.error {
        Some(ErrorBody {
            create_error: Some(kind),
            message,
            ..
        }) => Err(Error::Create { kind, message }),
        Some(e) => Err(Error::Rejected {
            code: e.code,
            message: e.message,
        }),
        None => Ok(r),
    }
}
