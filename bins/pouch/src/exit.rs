//! Turning errors into docker's stderr messages and exit codes.

use std::fmt;
use std::io;
use std::process::ExitCode;

/// Command-line misuse that clap did not catch (clap itself exits with 2 too).
pub const USAGE: u8 = 2;

/// An error whose message is already in its final form and that carries its own exit code,
/// for commands that report several failures at once (`rmi a b c`, `inspect a b`).
#[derive(Debug)]
pub struct StatusError {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StatusError {}

/// The line docker prints for an error: daemon errors get docker's "Error response from
/// daemon:" prefix, everything else is printed as is.
pub fn describe(err: &anyhow::Error) -> String {
    if let Some(s) = err.downcast_ref::<StatusError>() {
        return s.message.clone();
    }
    if let Some(pouch_client::Error::Api { message, .. }) =
        err.downcast_ref::<pouch_client::Error>()
    {
        return daemon_error(message);
    }
    format!("{err:#}")
}

pub fn daemon_error(message: &str) -> String {
    format!("Error response from daemon: {message}")
}

/// The message for a failure of one item in a multi-item command: daemon errors are prefixed,
/// anything else (the daemon went away) is fatal and returned as `Err`.
pub fn item_error(err: pouch_client::Error) -> anyhow::Result<String> {
    match err {
        pouch_client::Error::Api { message, .. } => Ok(daemon_error(&message)),
        other => Err(other.into()),
    }
}

/// Ends a multi-item command: success when nothing failed, else exit 1 with one line per
/// failure (each already printed-ready).
pub fn collected(errors: Vec<String>) -> anyhow::Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    Err(StatusError {
        code: 1,
        message: errors.join("\n"),
    }
    .into())
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Prints `err` to stderr and picks the exit code: 1 for failures, as docker does. A closed
/// stdout (`pouch images | head -1`) is not a failure worth a message.
pub fn report(err: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    let code = err.downcast_ref::<StatusError>().map_or(1, |s| s.code);
    let message = describe(err);
    if !message.is_empty() {
        eprintln!("{message}");
    }
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_daemon_and_other_errors() {
        let api = anyhow::Error::from(pouch_client::Error::Api {
            status: 404,
            message: "No such image: x:latest".into(),
        });
        assert_eq!(
            describe(&api),
            "Error response from daemon: No such image: x:latest"
        );
        let status = anyhow::Error::from(StatusError {
            code: 1,
            message: "Error: No such image: x".into(),
        });
        assert_eq!(describe(&status), "Error: No such image: x");
        let plain = anyhow::anyhow!("cowardly refusing to save to a terminal");
        assert_eq!(describe(&plain), "cowardly refusing to save to a terminal");
        let pipe =
            anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&pipe));
    }
}
