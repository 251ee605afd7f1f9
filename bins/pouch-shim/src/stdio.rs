//! The shim's ends of the container's stdio: output it reads (pipes, or the pty master) and the
//! stdin it feeds. All non-blocking; the poll loop decides when to touch them.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::unistd::pipe2;

use crate::backend::CreateIo;

/// Which output stream; the value is docker's stream number in attach frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 1,
    Stderr = 2,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Don't let one container's burst queue unbounded memory in the shim: stop reading clients'
/// input while this much is waiting for the container to read its stdin.
const STDIN_HIGH_WATER: usize = 64 * 1024;

/// Capacity asked for the container's output pipes (the default is 64 KiB): a fast writer
/// keeps filling the pipe while the shim writes the log, so each wake-up of the shim finds more
/// to read and both sides switch less. Kernel memory, used only while output is waiting; the
/// kernel caps it at `fs.pipe-max-size` for unprivileged callers.
const OUTPUT_PIPE_SIZE: i32 = 1024 * 1024;

/// A readable end of the container's output.
pub struct Output {
    pub file: File,
    pub stream: Stream,
}

/// What a read from an output produced.
pub enum Chunk {
    Data(usize),
    /// Nothing to read right now (spurious wakeup).
    Nothing,
    /// The writers are gone: pipe EOF, or EIO from a pty master whose slave was closed.
    Closed,
}

impl Output {
    pub fn read(&mut self, buf: &mut [u8]) -> Chunk {
        loop {
            match self.file.read(buf) {
                Ok(0) => return Chunk::Closed,
                Ok(n) => return Chunk::Data(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Chunk::Nothing,
                Err(e) => {
                    if e.raw_os_error() != Some(libc::EIO) {
                        tracing::warn!("reading container {}: {e}", self.stream.name());
                    }
                    return Chunk::Closed;
                }
            }
        }
    }
}

/// The writable end of the container's stdin (a pipe, or a dup of the pty master).
pub struct StdinSink {
    file: Option<File>,
    pending: Vec<u8>,
    close_when_flushed: bool,
    /// A pty is also the container's output, so "closing stdin" only stops forwarding.
    tty: bool,
}

impl StdinSink {
    pub fn new(file: File, tty: bool) -> StdinSink {
        StdinSink {
            file: Some(file),
            pending: Vec::new(),
            close_when_flushed: false,
            tty,
        }
    }

    pub fn is_open(&self) -> bool {
        self.file.is_some() && !self.close_when_flushed
    }

    /// Whether more client input may be taken now.
    pub fn accepts_more(&self) -> bool {
        self.is_open() && self.pending.len() < STDIN_HIGH_WATER
    }

    pub fn wants_write(&self) -> bool {
        self.file.is_some() && !self.pending.is_empty()
    }

    pub fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.file.as_ref().map(|f| f.as_fd())
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.is_open() {
            self.pending.extend_from_slice(data);
            self.flush();
        }
    }

    /// Closes the container's stdin (EOF) once everything queued has been written.
    pub fn close(&mut self) {
        if self.tty {
            self.pending.clear();
            self.file = None;
            return;
        }
        self.close_when_flushed = true;
        self.flush();
    }

    /// Writes as much as the container will take without blocking.
    pub fn flush(&mut self) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        while !self.pending.is_empty() {
            match file.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    // EPIPE: nobody in the container reads stdin any more.
                    tracing::debug!("container stdin closed: {e}");
                    self.pending.clear();
                    self.file = None;
                    return;
                }
            }
        }
        if self.close_when_flushed {
            self.file = None;
        }
    }
}

/// The shim's halves of the stdio of a container being created.
pub struct ShimSide {
    pub outputs: Vec<Output>,
    pub stdin: Option<StdinSink>,
}

/// Creates the pipes for a container without a tty: the container gets the write ends of
/// stdout/stderr (and the read end of stdin with `-i`; otherwise stdin is /dev/null).
pub fn pipes(stdin: bool) -> io::Result<(ShimSide, CreateIo)> {
    let (out_r, out_w) = cloexec_pipe()?;
    let (err_r, err_w) = cloexec_pipe()?;
    let (stdin_sink, stdin_fd) = if stdin {
        let (r, w) = cloexec_pipe()?;
        set_nonblocking(&w)?;
        (Some(StdinSink::new(File::from(w), false)), Some(r))
    } else {
        (None, None)
    };
    set_nonblocking(&out_r)?;
    set_nonblocking(&err_r)?;
    grow_pipe(&out_r);
    grow_pipe(&err_r);
    let shim = ShimSide {
        outputs: vec![
            Output {
                file: File::from(out_r),
                stream: Stream::Stdout,
            },
            Output {
                file: File::from(err_r),
                stream: Stream::Stderr,
            },
        ],
        stdin: stdin_sink,
    };
    let io = CreateIo {
        stdin: stdin_fd,
        stdout: Some(out_w),
        stderr: Some(err_w),
        console_socket: None,
    };
    Ok((shim, io))
}

/// The shim's side of a tty container: the pty master is both its output (logged as stdout)
/// and, with `-i`, its stdin.
pub fn pty(master: OwnedFd, stdin: bool) -> io::Result<ShimSide> {
    set_nonblocking(&master)?;
    let master = File::from(master);
    let sink = if stdin {
        Some(StdinSink::new(master.try_clone()?, true))
    } else {
        None
    };
    Ok(ShimSide {
        outputs: vec![Output {
            file: master,
            stream: Stream::Stdout,
        }],
        stdin: sink,
    })
}

fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Best effort: a pipe that keeps the default size only costs more wake-ups.
fn grow_pipe(fd: &OwnedFd) {
    if let Err(e) = fcntl(fd.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(OUTPUT_PIPE_SIZE)) {
        tracing::debug!("cannot grow the output pipe to {OUTPUT_PIPE_SIZE} bytes: {e}");
    }
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))
        .map(drop)
        .map_err(io::Error::from)
}
