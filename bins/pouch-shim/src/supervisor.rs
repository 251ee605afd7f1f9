//! The shim's life after create: one poll(2) loop over the signalfd, the control socket, the
//! container's stdio and the client connections; then recording the exit and leaving.

use std::fs;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use pouch_runtime::shim::ShimLaunch;
use pouch_runtime::shim::proto::{ExitInfo, SOCKET_FILE, ShimStatus};

use crate::backend::Runtime;
use crate::cgroup::Cgroup;
use crate::conn::{Conn, Input, OUTPUT_HIGH_WATER, Phase};
use crate::exec::ExecProc;
use crate::exit::unix_nanos;
use crate::logfile::JsonLog;
use crate::stdio::{Chunk, Output, ShimSide, StdinSink};

/// How long output may keep flowing after init exited (only processes outside the container's
/// pid namespace can hold the pipes open that long).
const DRAIN: Duration = Duration::from_secs(2);
/// How long attached clients get to take the last output before the shim exits anyway.
pub(crate) const FLUSH: Duration = Duration::from_secs(2);

pub struct Shim {
    pub(crate) launch: ShimLaunch,
    pub(crate) runtime: Box<dyn Runtime>,
    pub(crate) status: ShimStatus,
    pub(crate) pid: i32,
    /// The recorded exit, once finalized.
    pub(crate) exit: Option<ExitInfo>,
    /// Init's exit code and time, as soon as it is reaped.
    pub(crate) reaped: Option<(i32, i64)>,
    pub(crate) drain_deadline: Option<Instant>,
    /// Set once the exit is recorded (or a never-started container torn down): the shim is
    /// only flushing clients until this instant.
    pub(crate) done: Option<Instant>,
    /// `shutdown` asked to skip the drain.
    pub(crate) hurry: bool,
    pub(crate) outputs: Vec<Output>,
    pub(crate) stdin: Option<StdinSink>,
    pub(crate) log: JsonLog,
    pub(crate) listener: Option<UnixListener>,
    /// Inode of our socket file, so we never unlink a successor shim's socket.
    pub(crate) socket_ino: Option<u64>,
    pub(crate) conns: Vec<Conn>,
    pub(crate) signals: SignalFd,
    pub(crate) cgroup: Cgroup,
    pub(crate) oom_base: Option<u64>,
    /// Processes started by `exec`, in order; never removed (connections refer to them by
    /// index), only emptied once they end.
    pub(crate) execs: Vec<ExecProc>,
}

#[derive(Clone, Copy)]
enum Tag {
    Signal,
    Listener,
    Output(usize),
    Stdin,
    Conn(usize),
    ExecOutput(usize, usize),
    ExecStdin(usize),
}

/// Everything `create` produced, handed to the loop.
pub struct Created {
    pub launch: ShimLaunch,
    pub runtime: Box<dyn Runtime>,
    pub pid: i32,
    pub io: ShimSide,
    pub log: JsonLog,
    pub listener: UnixListener,
    pub cgroup: Cgroup,
    pub signals: SignalFd,
}

/// The signals the loop handles (through a signalfd, so they are blocked).
pub fn signal_mask() -> SigSet {
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        mask.add(s);
    }
    mask
}

/// The signalfd for [`signal_mask`], made before create (it only takes effect once the
/// signals are blocked, after create).
pub fn signal_fd() -> std::io::Result<SignalFd> {
    SignalFd::with_flags(
        &signal_mask(),
        SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
    )
    .map_err(std::io::Error::from)
}

impl Shim {
    /// Takes over after a successful create. Blocks the signals the loop reads from the
    /// signalfd; this must come after create, since the runtime's clone() children inherit
    /// the mask and init would keep it.
    pub fn new(c: Created) -> Shim {
        if let Err(e) = signal_mask().thread_block() {
            tracing::error!("blocking signals: {e}");
        }
        if let Err(e) = c.listener.set_nonblocking(true) {
            tracing::error!("control socket: {e}");
        }
        let socket_ino = fs::metadata(c.launch.state_dir.join(SOCKET_FILE))
            .ok()
            .map(|m| m.ino());
        let oom_base = c.cgroup.oom_kills();
        Shim {
            launch: c.launch,
            runtime: c.runtime,
            status: ShimStatus::Created,
            pid: c.pid,
            exit: None,
            reaped: None,
            drain_deadline: None,
            done: None,
            hurry: false,
            outputs: c.io.outputs,
            stdin: c.io.stdin,
            log: c.log,
            listener: Some(c.listener),
            socket_ino,
            conns: Vec::new(),
            signals: c.signals,
            cgroup: c.cgroup,
            oom_base,
            execs: Vec::new(),
        }
    }

    pub fn run(mut self) -> anyhow::Result<()> {
        self.reap();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            if self.reaped.is_some()
                && self.done.is_none()
                && (self.outputs.is_empty()
                    || self.hurry
                    || self.drain_deadline.is_some_and(|d| Instant::now() >= d))
            {
                self.finalize();
            }
            if let Some(deadline) = self.done {
                if self.conns.is_empty() || Instant::now() >= deadline {
                    return Ok(());
                }
            }
            let exec_deadline = self.execs.iter().filter_map(ExecProc::deadline).min();
            let deadline = match (self.done.or(self.drain_deadline), exec_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let timeout = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now()).as_millis() + 1;
                    PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
                }
                None => PollTimeout::NONE,
            };
            let mut tags = Vec::new();
            let mut fds = Vec::new();
            self.poll_set(&mut tags, &mut fds);
            match poll(&mut fds, timeout) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e).context("poll"),
            }
            let events: Vec<(Tag, PollFlags)> = tags
                .into_iter()
                .zip(
                    fds.iter()
                        .map(|f| f.revents().unwrap_or(PollFlags::empty())),
                )
                .filter(|(_, ev)| !ev.is_empty())
                .collect();
            drop(fds);
            let mut closed_outputs = Vec::new();
            let mut closed_exec_outputs = Vec::new();
            for (tag, ev) in events {
                match tag {
                    Tag::Signal => self.on_signals(),
                    Tag::Listener => self.accept(),
                    Tag::Output(i) => {
                        if self.read_output(i, &mut buf) {
                            closed_outputs.push(i);
                        }
                    }
                    Tag::Stdin => {
                        if let Some(s) = self.stdin.as_mut() {
                            s.flush();
                        }
                    }
                    Tag::Conn(i) => self.on_conn(i, ev),
                    Tag::ExecOutput(i, j) => {
                        if self.read_exec_output(i, j, &mut buf) {
                            closed_exec_outputs.push((i, j));
                        }
                    }
                    Tag::ExecStdin(i) => {
                        if let Some(s) = self.execs[i].stdin.as_mut() {
                            s.flush();
                        }
                    }
                }
            }
            // Tags are in (exec, output) order, so removing backwards keeps indices valid.
            for (i, j) in closed_exec_outputs.into_iter().rev() {
                self.execs[i].outputs.remove(j);
            }
            self.check_execs();
            for i in closed_outputs.into_iter().rev() {
                let o = self.outputs.remove(i);
                self.log.finish(o.stream);
            }
            self.conns.retain(|c| !c.dead);
        }
    }

    fn poll_set<'a>(&'a self, tags: &mut Vec<Tag>, fds: &mut Vec<PollFd<'a>>) {
        let mut add = |tag: Tag, fd: BorrowedFd<'a>, flags: PollFlags| {
            tags.push(tag);
            fds.push(PollFd::new(fd, flags));
        };
        add(Tag::Signal, self.signals.as_fd(), PollFlags::POLLIN);
        if let Some(l) = &self.listener {
            add(Tag::Listener, l.as_fd(), PollFlags::POLLIN);
        }
        let backlogged = self.conns.iter().any(|c| c.backlog() > OUTPUT_HIGH_WATER);
        if !backlogged && self.done.is_none() {
            for (i, o) in self.outputs.iter().enumerate() {
                add(Tag::Output(i), o.file.as_fd(), PollFlags::POLLIN);
            }
            for (i, e) in self.execs.iter().enumerate() {
                for (j, o) in e.outputs.iter().enumerate() {
                    add(Tag::ExecOutput(i, j), o.file.as_fd(), PollFlags::POLLIN);
                }
            }
        }
        for (i, e) in self.execs.iter().enumerate() {
            if let Some(fd) = e
                .stdin
                .as_ref()
                .filter(|s| s.wants_write())
                .and_then(|s| s.fd())
            {
                add(Tag::ExecStdin(i), fd, PollFlags::POLLOUT);
            }
        }
        if let Some(fd) = self
            .stdin
            .as_ref()
            .filter(|s| s.wants_write())
            .and_then(|s| s.fd())
        {
            add(Tag::Stdin, fd, PollFlags::POLLOUT);
        }
        let stdin_room = self.stdin.as_ref().is_none_or(|s| s.accepts_more());
        for (i, c) in self.conns.iter().enumerate() {
            let mut flags = PollFlags::empty();
            let wants_input = match c.phase {
                Phase::Attached { stdin: true, .. } => stdin_room,
                Phase::Exec { exec, stdin: true } => self
                    .execs
                    .get(exec)
                    .and_then(|e| e.stdin.as_ref())
                    .is_none_or(|s| s.accepts_more()),
                Phase::Closing => false,
                _ => true,
            };
            if wants_input && !c.read_eof {
                flags |= PollFlags::POLLIN;
            }
            if c.has_output() {
                flags |= PollFlags::POLLOUT;
            }
            add(Tag::Conn(i), c.stream().as_fd(), flags);
        }
    }

    fn on_signals(&mut self) {
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => self.reap(),
                Ok(Signal::SIGTERM | Signal::SIGINT) => self.on_terminate(),
                _ => {}
            }
        }
    }

    /// Reaps every exited child: init, and orphans reparented to us as subreaper.
    pub(crate) fn reap(&mut self) {
        loop {
            let (pid, code) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::warn!("waitpid: {e}");
                    return;
                }
            };
            if pid.as_raw() == self.pid && self.reaped.is_none() {
                tracing::info!(code, "container init exited");
                self.reaped = Some((code, unix_nanos()));
                self.status = ShimStatus::Stopped;
                self.drain_deadline = Some(Instant::now() + DRAIN);
            } else {
                self.exec_reaped(pid.as_raw(), code);
            }
        }
    }

    /// SIGTERM/SIGINT to the shim: passed on to the container (which then exits and is
    /// recorded as usual), so stopping a shim never orphans a running container. A container
    /// that was never started is torn down.
    fn on_terminate(&mut self) {
        match self.status {
            ShimStatus::Running | ShimStatus::Paused => {
                tracing::info!("shim terminated: forwarding SIGTERM to the container");
                if let Err(e) = self.runtime.kill(libc::SIGTERM, false) {
                    tracing::warn!("forwarding SIGTERM: {e:#}");
                }
            }
            ShimStatus::Created => self.teardown_created(),
            ShimStatus::Stopped => {}
        }
    }

    pub(crate) fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        loop {
            match listener.accept() {
                Ok((stream, _)) => match Conn::new(stream) {
                    Ok(c) => self.conns.push(c),
                    Err(e) => tracing::warn!("accept: {e}"),
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    return;
                }
            }
        }
    }

    /// Reads one chunk of output into the log and the attached clients. True when it closed.
    fn read_output(&mut self, i: usize, buf: &mut [u8]) -> bool {
        let tty = self.launch.tty;
        let Some(out) = self.outputs.get_mut(i) else {
            return false;
        };
        match out.read(buf) {
            Chunk::Data(n) => {
                let (stream, data) = (out.stream, &buf[..n]);
                self.log.write(stream, data);
                for c in &mut self.conns {
                    c.output(stream, data, tty);
                }
                false
            }
            Chunk::Nothing => false,
            Chunk::Closed => true,
        }
    }

    fn on_conn(&mut self, i: usize, ev: PollFlags) {
        if ev.intersects(PollFlags::POLLOUT) {
            self.conns[i].flush();
        }
        if ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match self.conns[i].read() {
                Input::Nothing => {}
                Input::Request(Ok(req)) => self.handle(i, req),
                Input::Request(Err(msg)) => self.reject_line(i, &msg),
                Input::Data(data) => self.stdin_data(i, &data),
                Input::Eof => self.stdin_eof(i),
            }
            // Hung up for good (not just a half-close): without this a client that closed
            // after shutting down its write half would wake every poll.
            let c = &mut self.conns[i];
            if c.read_eof && ev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                c.dead = true;
            }
        }
    }
}
