//! Answers to control-socket requests.

use std::os::fd::AsFd;

use pouch_runtime::shim::proto::{
    ErrorBody, ErrorCode, Op, Request, Response, ShimState, ShimStatus,
};

use crate::conn::Phase;
use crate::supervisor::Shim;

impl Shim {
    pub(crate) fn handle(&mut self, i: usize, req: Request) {
        tracing::debug!(?req.op, "request");
        let answer = match req.op {
            Op::Start => self.start(),
            Op::State => Ok(Response {
                state: Some(ShimState {
                    status: self.status,
                    pid: self.pid,
                    exit: self.exit.clone(),
                }),
                ..Response::ok()
            }),
            Op::Kill { signal, all } => self.kill(signal, all),
            Op::Wait => {
                if let Some(exit) = &self.exit {
                    Ok(Response {
                        exit: Some(exit.clone()),
                        ..Response::ok()
                    })
                } else {
                    self.conns[i].phase = Phase::Waiting;
                    return;
                }
            }
            Op::Pause => self.pause(),
            Op::Resume => self.resume(),
            Op::Resize { height, width } => self.resize(height, width),
            Op::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                self.attach(i, stdin, stdout, stderr);
                return;
            }
            Op::Exec(req) => {
                self.exec(i, req);
                return;
            }
            Op::ExecState { exec_id } => self.exec_state(&exec_id),
            Op::ExecResize {
                exec_id,
                height,
                width,
            } => self.exec_resize(&exec_id, height, width),
            Op::Shutdown => match self.status {
                ShimStatus::Created => {
                    self.teardown_created();
                    Ok(Response::ok())
                }
                ShimStatus::Stopped if self.exit.is_none() => {
                    // Answered from `finalize`, which now runs without waiting for the drain.
                    self.hurry = true;
                    self.conns[i].phase = Phase::Waiting;
                    return;
                }
                ShimStatus::Stopped => Ok(Response::ok()),
                ShimStatus::Running | ShimStatus::Paused => Err(body(
                    ErrorCode::InvalidState,
                    "container is running; kill it first",
                )),
            },
        };
        let r = answer.unwrap_or_else(|e| Response {
            error: Some(e),
            ..Response::ok()
        });
        self.conns[i].finish(&r);
    }

    fn start(&mut self) -> Result<Response, ErrorBody> {
        if self.status != ShimStatus::Created {
            return Err(body(
                ErrorCode::InvalidState,
                format!("container is {:?}, not created", self.status).to_lowercase(),
            ));
        }
        self.runtime.start().map_err(runtime_err)?;
        self.status = ShimStatus::Running;
        Ok(Response {
            pid: Some(self.pid),
            ..Response::ok()
        })
    }

    fn kill(&mut self, signal: i32, all: bool) -> Result<Response, ErrorBody> {
        if !matches!(self.status, ShimStatus::Running | ShimStatus::Paused) {
            return Err(not_running());
        }
        self.runtime.kill(signal, all).map_err(runtime_err)?;
        if self.status == ShimStatus::Paused && signal == libc::SIGKILL {
            // A frozen process cannot die; thaw so SIGKILL takes effect (libcontainer does
            // this itself on cgroup v1, external runtimes do not for a single process).
            let _ = self.runtime.resume();
            self.status = ShimStatus::Running;
        }
        Ok(Response::ok())
    }

    fn pause(&mut self) -> Result<Response, ErrorBody> {
        match self.status {
            ShimStatus::Running => {}
            ShimStatus::Paused => {
                return Err(body(ErrorCode::InvalidState, "container is already paused"));
            }
            _ => return Err(not_running()),
        }
        self.runtime.pause().map_err(runtime_err)?;
        self.status = ShimStatus::Paused;
        Ok(Response::ok())
    }

    fn resume(&mut self) -> Result<Response, ErrorBody> {
        if self.status != ShimStatus::Paused {
            return Err(body(ErrorCode::InvalidState, "container is not paused"));
        }
        self.runtime.resume().map_err(runtime_err)?;
        self.status = ShimStatus::Running;
        Ok(Response::ok())
    }

    fn resize(&mut self, height: u16, width: u16) -> Result<Response, ErrorBody> {
        if !self.launch.tty {
            return Ok(Response::ok());
        }
        let Some(pty) = self.outputs.first() else {
            return Err(not_running());
        };
        pouch_sys::proc::set_winsize(pty.file.as_fd(), height, width)
            .map_err(|e| body(ErrorCode::Runtime, format!("resizing the terminal: {e}")))?;
        Ok(Response::ok())
    }

    fn attach(&mut self, i: usize, stdin: bool, stdout: bool, stderr: bool) {
        let conn = &mut self.conns[i];
        conn.respond(&Response::ok());
        conn.phase = Phase::Attached {
            stdin,
            stdout,
            stderr,
        };
        let early = conn.take_leftover();
        if !early.is_empty() {
            self.stdin_data(i, &early);
        }
        if self.exit.is_some() {
            let conn = &mut self.conns[i];
            conn.phase = Phase::Closing;
            conn.flush();
        }
    }

    /// Client bytes in attach mode: to the container's stdin if this attach asked for it.
    pub(crate) fn stdin_data(&mut self, i: usize, data: &[u8]) {
        if let Phase::Exec { exec, stdin: true } = self.conns[i].phase {
            if let Some(sink) = self.execs.get_mut(exec).and_then(|e| e.stdin.as_mut()) {
                sink.push(data);
            }
            return;
        }
        if let Phase::Attached { stdin: true, .. } = self.conns[i].phase {
            if let Some(sink) = self.stdin.as_mut() {
                sink.push(data);
            }
        }
    }

    /// The client half-closed: close the container's stdin, if this attach owned it.
    pub(crate) fn stdin_eof(&mut self, i: usize) {
        if let Phase::Exec { exec, stdin: true } = self.conns[i].phase {
            if let Some(sink) = self.execs.get_mut(exec).and_then(|e| e.stdin.as_mut()) {
                sink.close();
            }
            return;
        }
        if let Phase::Attached { stdin: true, .. } = self.conns[i].phase {
            if let Some(sink) = self.stdin.as_mut() {
                sink.close();
            }
        }
    }

    /// A request line that does not parse: an op from a newer protocol, or garbage.
    pub(crate) fn reject_line(&mut self, i: usize, msg: &str) {
        let code = if msg.contains("unknown variant") {
            ErrorCode::Unsupported
        } else {
            ErrorCode::BadRequest
        };
        self.conns[i].finish(&Response::err(code, msg));
    }
}

fn body(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
    ErrorBody {
        code,
        message: message.into(),
        create_error: None,
    }
}

fn not_running() -> ErrorBody {
    body(ErrorCode::NotRunning, "container is not running")
}

fn runtime_err(e: anyhow::Error) -> ErrorBody {
    body(ErrorCode::Runtime, format!("{e:#}"))
}
