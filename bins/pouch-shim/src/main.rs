//! pouch-shim: the supervisor of one container. pouchd runs it at `start`; it detaches, creates
//! the container through the OCI runtime, serves pouchd on `<state_dir>/shim.sock`, owns the
//! container's stdio (json-file log, attach), reaps it, records its exit and leaves. The
//! protocol and flags are defined in `pouch_runtime::shim`.
//!
//! Deliberately small: single-threaded, blocking std I/O around one poll(2) loop, no async
//! runtime — it runs once per container, for as long as the container lives.

mod backend;
mod cgroup;
mod cleanup;
mod conn;
mod console;
mod create;
mod diagnose;
mod exec;
mod exit;
mod logfile;
mod ops;
mod setup;
mod stdio;
mod supervisor;

use std::path::PathBuf;
use std::process::ExitCode;

use pouch_runtime::shim::args::CLEANUP;
use pouch_runtime::shim::{CreateErrorKind, ShimLaunch};
use pouch_sys::proc::{Forked, daemonize};

use crate::supervisor::Shim;

fn main() -> ExitCode {
    let mut args = std::env::args_os().peekable();
    let argv0 = args.next().map(PathBuf::from).unwrap_or_default();
    let cleanup = args.next_if(|a| a == CLEANUP).is_some();
    let launch = match ShimLaunch::from_args(argv0, args) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("pouch-shim: {e}");
            return ExitCode::from(2);
        }
    };
    if cleanup {
        return match cleanup::run(&launch) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pouch-shim: cleanup: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match daemonize() {
        Ok(Forked::Original) => return ExitCode::SUCCESS,
        Ok(Forked::Daemon) => {}
        Err(e) => {
            eprintln!("pouch-shim: cannot detach: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = setup::process(&launch) {
        create::report_failure(CreateErrorKind::Other, format!("shim setup: {e:#}"));
        return ExitCode::FAILURE;
    }
    let _span = tracing::info_span!("shim", id = %short(&launch.id)).entered();
    let signals = match supervisor::signal_fd() {
        Ok(s) => s,
        Err(e) => {
            create::report_failure(CreateErrorKind::Other, format!("signalfd: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let Some(created) = create::create(launch, signals) else {
        return ExitCode::FAILURE;
    };
    let pid = created.pid;
    let shim = Shim::new(created);
    create::report_created(pid);
    tracing::info!(pid, "container created");
    match shim.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The short form of a container id, for log lines.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
