//! Installing a precompiled seccomp filter: the classic BPF program that libseccomp's
//! `seccomp_export_bpf` writes, loaded with `seccomp(SECCOMP_SET_MODE_FILTER)` exactly as
//! libseccomp's own `seccomp_load` would load it, without compiling anything in the process
//! that installs it.

use std::fmt;
use std::io;

/// Most instructions the kernel accepts in one classic BPF program (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// Size of one instruction (`struct sock_filter`: u16 code, u8 jt, u8 jf, u32 k).
const INSN_SIZE: usize = 8;

/// `SECCOMP_FILTER_FLAG_*` bits a filter can be loaded with (see seccomp(2)).
pub mod flags {
    /// Synchronise the filter to every thread of the process.
    pub const TSYNC: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
    /// Log every action but `SECCOMP_RET_ALLOW`.
    pub const LOG: u32 = libc::SECCOMP_FILTER_FLAG_LOG as u32;
    /// Leave speculative store bypass mitigation off.
    pub const SPEC_ALLOW: u32 = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32;
}

/// A seccomp BPF program, checked to have a size the kernel can take.
#[derive(Clone)]
pub struct Program(Vec<libc::sock_filter>);

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Program({} instructions)", self.0.len())
    }
}

impl Program {
    /// The program from the bytes libseccomp exports: whole instructions in the host's byte
    /// order, at least one and at most [`MAX_INSNS`].
    pub fn from_bytes(bytes: &[u8]) -> io::Result<Program> {
        let n = bytes.len() / INSN_SIZE;
        if bytes.len() % INSN_SIZE != 0 || n == 0 || n > MAX_INSNS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} bytes are not a seccomp BPF program of 1 to {MAX_INSNS} instructions",
                    bytes.len()
                ),
            ));
        }
        let insns = bytes
            .chunks_exact(INSN_SIZE)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Ok(Program(insns))
    }

    /// The program as bytes, the inverse of [`Program::from_bytes`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * INSN_SIZE);
        for i in &self.0 {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        out
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for a program built by [`Program::from_bytes`]; here for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(code, jt, jf, k)` of each instruction, for inspection.
    pub fn instructions(&self) -> impl Iterator<Item = (u16, u8, u8, u32)> + '_ {
        self.0.iter().map(|i| (i.code, i.jt, i.jf, i.k))
    }

    /// Adds the program to the calling thread's seccomp filters (every thread's with
    /// [`flags::TSYNC`]). As with any filter, the kernel accepts it only from a thread that has
    /// no_new_privs set or `CAP_SYS_ADMIN` in its user namespace; it stays for the life of the
    /// thread and its descendants, across execve.
    ///
    /// Uses seccomp(2), or `prctl(PR_SET_SECCOMP)` on a kernel without it (older than 3.17,
    /// which takes no flags).
    pub fn install(&self, flags: u32) -> io::Result<()> {
        let prog = libc::sock_fprog {
            // At most MAX_INSNS (4096), checked in from_bytes: fits in u16.
            len: self.0.len() as u16,
            filter: self.0.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` describes `len` initialised instructions owned by `self`, alive for the
        // whole call; the kernel only reads them (it copies the program before returning) and
        // keeps no pointer into our memory. No other memory of ours is touched.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::c_ulong::from(flags),
                &prog as *const libc::sock_fprog,
            )
        };
        match rc {
            0 => Ok(()),
            // With TSYNC, the id of a thread that could not be synchronised.
            tid if tid > 0 => Err(io::Error::other(format!(
                "thread {tid} could not take the seccomp filter"
            ))),
            _ => {
                let err = io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::ENOSYS) || flags != 0 {
                    return Err(err);
                }
                // SAFETY: as above: the kernel reads `prog` and the instructions it points at,
                // both alive for the call, and keeps no pointer to them.
                let rc = unsafe {
                    libc::prctl(
                        libc::PR_SET_SECCOMP,
                        libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                        &prog as *const libc::sock_fprog,
                    )
                };
                if rc == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Classic BPF opcodes (linux/filter.h) for a hand-written program.
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..2].copy_from_slice(&code.to_ne_bytes());
        b[2] = jt;
        b[3] = jf;
        b[4..].copy_from_slice(&k.to_ne_bytes());
        b
    }

    /// Allows everything but getppid(2), which answers EAGAIN; a foreign architecture is
    /// refused whole.
    fn deny_getppid() -> Vec<u8> {
        [
            insn(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
            insn(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
            insn(RET_K, 0, 0, RET_ERRNO | libc::EPERM as u32),
            insn(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
            insn(JEQ_K, 0, 1, libc::SYS_getppid as u32),
            insn(RET_K, 0, 0, RET_ERRNO | libc::EAGAIN as u32),
            insn(RET_K, 0, 0, RET_ALLOW),
        ]
        .concat()
    }

    #[test]
    fn bytes_round_trip_and_bad_sizes_are_refused() {
        let bytes = deny_getppid();
        let p = Program::from_bytes(&bytes).unwrap();
        assert_eq!(p.len(), 7);
        assert_eq!(p.to_bytes(), bytes);
        assert_eq!(
            p.instructions().nth(1),
            Some((JEQ_K, 1, 0, AUDIT_ARCH_X86_64))
        );
        for bad in [&[][..], &bytes[..7], &bytes[..12]] {
            let e = Program::from_bytes(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        }
        let too_long = insn(RET_K, 0, 0, RET_ALLOW).repeat(MAX_INSNS + 1);
        assert!(Program::from_bytes(&too_long).is_err());
    }

    /// Installs the program in a forked child (a filter cannot be removed again) and reports
    /// what getppid(2) answered there.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn an_installed_program_filters_the_process() {
        let p = Program::from_bytes(&deny_getppid()).unwrap();
        // Without no_new_privs and without CAP_SYS_ADMIN the kernel refuses the filter; the
        // tests may run as root, so only the child sets the bit, right before installing.
        // SAFETY: the child runs only async-signal-safe calls (prctl, syscall, _exit) and
        // touches no lock or allocation: the program was built before the fork.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                // SAFETY: plain syscalls on no memory of ours but `p`; `_exit` skips the
                // parent's atexit handlers.
                unsafe {
                    libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                    let code = match p.install(0) {
                        Err(_) => 1,
                        Ok(()) if libc::syscall(libc::SYS_getppid) != -1 => 2,
                        Ok(()) if *libc::__errno_location() != libc::EAGAIN => 3,
                        Ok(()) if libc::getpid() <= 0 => 4,
                        Ok(()) => 0,
                    };
                    libc::_exit(code)
                }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
        // The parent itself is not filtered.
        assert!(nix::unistd::getppid().as_raw() > 0);
    }
}
