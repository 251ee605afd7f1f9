//! Process plumbing for `pouch-shim`: detaching from the launcher, signal dispositions that must
//! not leak into containers, fd hygiene, and the two terminal calls a pty master needs.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, setsid};

/// Which process returned from [`daemonize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The process that called `daemonize`: its child already forked the daemon and exited, so
    /// the caller should exit too (with success).
    Original,
    /// The detached grandchild: a session leader's child, reparented to init (or the nearest
    /// subreaper), sharing nothing with the launcher but inherited fds.
    Daemon,
}

/// Detaches the calling process with the classic setsid + double fork, so that the daemon
/// survives its launcher being killed, restarted or upgraded, can never reacquire a controlling
/// terminal (it is not a session leader), and is not in the launcher's process group.
///
/// Refuses to run unless the process is single-threaded: after `fork` only async-signal-safe
/// code may run in the child of a multi-threaded process, and the daemon runs ordinary Rust.
pub fn daemonize() -> io::Result<Forked> {
    ensure_single_threaded()?;
    // SAFETY: the process has exactly one thread (checked above), so the child starts with a
    // consistent heap and no locks held by vanished threads.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Parent { child } => match waitpid(child, None).map_err(io::Error::from)? {
            WaitStatus::Exited(_, 0) => Ok(Forked::Original),
            other => Err(io::Error::other(format!(
                "intermediate process failed: {other:?}"
            ))),
        },
        ForkResult::Child => {
            if setsid().is_err() {
                // SAFETY: `_exit` skips atexit handlers and stdio flushing, which belong to the
                // original process; it is always safe to call.
                unsafe { libc::_exit(1) };
            }
            // SAFETY: still single-threaded (this child was forked from a single thread).
            match unsafe { fork() } {
                Ok(ForkResult::Child) => Ok(Forked::Daemon),
                // SAFETY: as above, `_exit` is always safe; the intermediate must not run the
                // original's exit path.
                Ok(ForkResult::Parent { .. }) => unsafe { libc::_exit(0) },
                // SAFETY: as above.
                Err(_) => unsafe { libc::_exit(1) },
            }
        }
    }
}

fn ensure_single_threaded() -> io::Result<()> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads == 1 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "cannot fork a process with {threads} threads"
        )))
    }
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Makes SIGPIPE harmless for this process (writes to a closed pipe or socket fail with EPIPE)
/// *without* `SIG_IGN`. An ignored disposition survives `execve`, so a runtime forked from this
/// process would start every container with SIGPIPE ignored (`yes | head` would then spin); a
/// caught signal is reset to the default by `execve`. Also resets SIGCHLD, SIGTERM, SIGINT,
/// SIGHUP and SIGQUIT to their defaults in case the launcher left them ignored, and clears the
/// signal mask, because children inherit both.
pub fn reset_signals_for_supervisor() -> io::Result<()> {
    let catch = SigAction::new(
        SigHandler::Handler(ignore_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler is an empty `extern "C"` function, trivially async-signal-safe.
    unsafe { sigaction(Signal::SIGPIPE, &catch) }.map_err(io::Error::from)?;
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        // SAFETY: installing SIG_DFL runs no code of ours in signal context.
        unsafe { sigaction(sig, &default) }.map_err(io::Error::from)?;
    }
    SigSet::empty().thread_set_mask().map_err(io::Error::from)
}

/// Closes every fd numbered `low` or above, so that nothing the launcher leaked (sockets,
/// database files, other containers' pipes) stays open in a long-lived daemon.
pub fn close_fds_from(low: RawFd) -> io::Result<()> {
    let low = u32::try_from(low).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: close_range only closes descriptors; the caller owns every fd at or above `low`
    // by contract (it is called before any such fd is handed to Rust objects).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, low, u32::MAX, 0u32) };
    if rc == 0 {
        return Ok(());
    }
    // Kernels before 5.9: close what /proc lists (collect first: the listing holds an fd).
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd: &RawFd| fd >= low as RawFd)
        .collect();
    for fd in fds {
        // SAFETY: see above; EBADF for the already-closed listing fd is harmless.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Sets a terminal's window size (`TIOCSWINSZ`); the kernel sends SIGWINCH to the foreground
/// process group of the terminal when the size changes.
pub fn set_winsize(tty: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which lives across the call.
    let rc = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Receives one file descriptor sent with `SCM_RIGHTS` over a unix socket (how OCI runtimes hand
/// over a container's pty master through `--console-socket`). The fd arrives close-on-exec.
/// Extra descriptors in the same message are closed.
pub fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    const MAX_FDS: usize = 4;
    let mut data = [0u8; 256];
    // u64 storage keeps the control buffer aligned for `cmsghdr`.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty header; fields are filled in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points at live buffers of the stated sizes for the duration of the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut received: Vec<OwnedFd> = Vec::new();
    // SAFETY: CMSG_FIRSTHDR/NXTHDR walk the control buffer the kernel just filled, bounded by
    // msg_controllen; each SCM_RIGHTS payload is an array of ints owned by us from now on.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let payload = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let count = (payload / std::mem::size_of::<RawFd>()).min(MAX_FDS);
                let fds = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..count {
                    received.push(OwnedFd::from_raw_fd(fds.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::other("control message truncated"));
    }
    let mut it = received.into_iter();
    it.next()
        .ok_or_else(|| io::Error::other("no file descriptor in message"))
}

/// Sends signal `sig` to process `pid`.
pub fn send_signal(pid: i32, sig: i32) -> io::Result<()> {
    let sig = nix::sys::signal::Signal::try_from(sig).map_err(io::Error::from)?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    fn send_fd(sock: &UnixStream, fd: RawFd) {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut control = [0u64; 8];
        // SAFETY: test helper building a one-fd SCM_RIGHTS message in local buffers.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
            libc::CMSG_DATA(cmsg).cast::<RawFd>().write_unaligned(fd);
            assert_eq!(libc::sendmsg(sock.as_raw_fd(), &msg, 0), 1);
        }
    }

    #[test]
    fn passes_a_pipe_end_over_a_socket() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        let (mut r, mut w) = (std::fs::File::from(r), std::fs::File::from(w));
        send_fd(&a, w.as_raw_fd());
        let got = recv_fd(b.as_fd()).unwrap();
        w.write_all(b"x").unwrap();
        drop(w);
        let mut f = std::fs::File::from(got);
        f.write_all(b"y").unwrap();
        drop(f);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "xy");
    }

    #[test]
    fn winsize_on_a_non_tty_fails() {
        let (_r, w) = nix::unistd::pipe().unwrap();
        assert!(set_winsize(w.as_fd(), 24, 80).is_err());
    }
}
