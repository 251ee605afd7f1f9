//! Turning the freshly detached process into a well-behaved supervisor: no inherited fds, sane
//! signal state, stdio on /dev/null and shim.log, subreaper, logging, pid file.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::str::FromStr;

use anyhow::Context;
use nix::sys::stat::{Mode, umask};
use pouch_runtime::shim::ShimLaunch;
use pouch_runtime::shim::files::write_pid_file;
use pouch_runtime::shim::proto::LOG_FILE;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Environment variable that sets the shim's log level (`error` … `trace`); the default logs
/// the shim's own events at info, libcontainer's at warn and libcgroups' at error.
const LOG_LEVEL_ENV: &str = "POUCH_SHIM_LOG";

/// Prepares the daemon process. Stdout stays the launcher's pipe until the ready line is sent.
pub fn process(l: &ShimLaunch) -> anyhow::Result<()> {
    // Whatever pouchd leaked (sockets, the database, other containers' pipes) is closed first.
    pouch_sys::proc::close_fds_from(3).context("closing inherited fds")?;
    pouch_sys::proc::reset_signals_for_supervisor().context("signal dispositions")?;
    // Don't pin pouchd's working directory (a mount point, maybe); libcontainer returns here.
    std::env::set_current_dir("/")?;
    umask(Mode::from_bits_truncate(0o022));
    let null = File::options().read(true).write(true).open("/dev/null")?;
    nix::unistd::dup2(null.as_raw_fd(), 0)?;
    fs::create_dir_all(&l.state_dir)
        .with_context(|| format!("creating {}", l.state_dir.display()))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(l.state_dir.join(LOG_FILE))
        .context("opening shim.log")?;
    // stderr → shim.log: our tracing output, libcontainer's, and any panic message.
    nix::unistd::dup2(log.as_raw_fd(), 2)?;
    nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    init_logging();
    write_pid_file(&l.state_dir, std::process::id()).context("writing shim.pid")?;
    Ok(())
}

fn init_logging() {
    let filter = match std::env::var(LOG_LEVEL_ENV)
        .ok()
        .and_then(|v| Level::from_str(&v).ok())
    {
        Some(level) => Targets::new().with_default(level),
        // libcgroups warns about every controller this host lacks, twice per container.
        None => Targets::new()
            .with_default(Level::WARN)
            .with_target("libcgroups", Level::ERROR)
            .with_target("pouch_shim", Level::INFO),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(filter)
        .try_init();
}
