//! One client connection on the control socket: a request line in, a response line out, and
//! for `attach` a raw stream afterwards. Non-blocking; the poll loop drives it.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;

use pouch_runtime::shim::proto::{Request, Response};

use crate::stdio::Stream;

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;
/// An attached client that has this much output queued makes the shim stop reading the
/// container's output until it catches up — the container then blocks on write, as under
/// dockerd. Bounded memory per client rather than unbounded buffering.
pub const OUTPUT_HIGH_WATER: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the request line.
    Request,
    /// Parked until the container exits (`wait`).
    Waiting,
    /// Raw stream mode.
    Attached {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Raw stream of the exec'd process `exec` (an index into the shim's execs).
    Exec { exec: usize, stdin: bool },
    /// Sending the last bytes, then closing.
    Closing,
}

pub struct Conn {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    pub phase: Phase,
    /// The client shut down its write half (or sent EOF).
    pub read_eof: bool,
    /// Broken or finished: drop it.
    pub dead: bool,
}

/// What reading from a connection produced.
pub enum Input {
    Nothing,
    /// A complete request line (or why it is not one).
    Request(Result<Request, String>),
    /// Bytes for the container's stdin (attach mode).
    Data(Vec<u8>),
    /// The client closed its write half.
    Eof,
}

impl Conn {
    pub fn new(stream: UnixStream) -> std::io::Result<Conn> {
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            phase: Phase::Request,
            read_eof: false,
            dead: false,
        })
    }

    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    pub fn has_output(&self) -> bool {
        !self.outbuf.is_empty()
    }

    pub fn backlog(&self) -> usize {
        self.outbuf.len()
    }

    pub fn read(&mut self) -> Input {
        if self.read_eof {
            return Input::Nothing;
        }
        let mut buf = [0u8; 16 * 1024];
        let n = loop {
            match self.stream.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Input::Nothing,
                Err(_) => {
                    self.dead = true;
                    return Input::Nothing;
                }
            }
        };
        if n == 0 {
            self.read_eof = true;
            return match self.phase {
                // A request cut short, or a waiter that hung up: nobody to answer.
                Phase::Request | Phase::Waiting => {
                    self.dead = true;
                    Input::Nothing
                }
                _ => Input::Eof,
            };
        }
        match self.phase {
            Phase::Request => {
                self.inbuf.extend_from_slice(&buf[..n]);
                self.take_request()
            }
            Phase::Attached { .. } | Phase::Exec { .. } => Input::Data(buf[..n].to_vec()),
            // Nothing more is expected; ignore stray bytes.
            Phase::Waiting | Phase::Closing => Input::Nothing,
        }
    }

    fn take_request(&mut self) -> Input {
        let Some(nl) = self.inbuf.iter().position(|&b| b == b'\n') else {
            if self.inbuf.len() > MAX_REQUEST {
                self.inbuf.clear();
                return Input::Request(Err("request line too long".into()));
            }
            return Input::Nothing;
        };
        let line: Vec<u8> = self.inbuf.drain(..=nl).collect();
        Input::Request(serde_json::from_slice(&line).map_err(|e| e.to_string()))
    }

    /// Bytes that arrived after the request line (early stdin for an attach).
    pub fn take_leftover(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.inbuf)
    }

    /// Queues a response line.
    pub fn respond(&mut self, r: &Response) {
        if let Ok(mut line) = serde_json::to_vec(r) {
            line.push(b'\n');
            self.outbuf.extend_from_slice(&line);
        }
        self.flush();
    }

    /// Answers and closes.
    pub fn finish(&mut self, r: &Response) {
        self.phase = Phase::Closing;
        self.respond(r);
    }

    /// Forwards container output if this attach asked for the stream: raw for a tty, else in
    /// docker's 8-byte-header frames.
    pub fn output(&mut self, stream: Stream, data: &[u8], tty: bool) {
        let Phase::Attached { stdout, stderr, .. } = self.phase else {
            return;
        };
        let wanted = match stream {
            Stream::Stdout => stdout,
            Stream::Stderr => stderr,
        };
        if wanted {
            self.frame(stream, data, tty);
        }
    }

    /// Forwards the output of the exec'd process this connection streams.
    pub fn exec_output(&mut self, exec: usize, stream: Stream, data: &[u8], tty: bool) {
        if matches!(self.phase, Phase::Exec { exec: e, .. } if e == exec) {
            self.frame(stream, data, tty);
        }
    }

    fn frame(&mut self, stream: Stream, data: &[u8], tty: bool) {
        if self.dead {
            return;
        }
        if !tty {
            let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
            self.outbuf.extend_from_slice(&[stream as u8, 0, 0, 0]);
            self.outbuf.extend_from_slice(&len.to_be_bytes());
        }
        self.outbuf.extend_from_slice(data);
        self.flush();
    }

    /// Writes what the client will take without blocking; closes a finished connection once
    /// everything is out.
    pub fn flush(&mut self) {
        while !self.outbuf.is_empty() {
            match self.stream.write(&self.outbuf) {
                Ok(n) => {
                    self.outbuf.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    // EPIPE/ECONNRESET: the client is gone.
                    self.outbuf.clear();
                    self.dead = true;
                    return;
                }
            }
        }
        if self.phase == Phase::Closing {
            self.dead = true;
        }
    }
}
