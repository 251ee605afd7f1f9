//! Turning errors into docker's stderr messages and exit codes.

use std::fmt;
use std::io;
use std::process::ExitCode;

/// Command-line misuse (unknown flag, bad value): docker's CLI exits with 125 for these.
pub const USAGE: u8 = 125;

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

/// docker's `runStartContainerErr`: 127 when the command (or a path it needs) does not exist,
/// 126 when it cannot be run, 125 for every other failure of the daemon.
pub fn start_error_code(message: &str) -> u8 {
    let message = message
        .strip_prefix("Error response from daemon: ")
        .unwrap_or(message);
    if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    }
}

/// How `run`/`create` report a failure before the container runs: `pouch: <error>` and a
/// pointer to the help, exiting with `code`.
pub fn usage_failure(command: &str, err: &anyhow::Error, code: u8) -> anyhow::Error {
    StatusError {
        code,
        message: format!(
            "pouch: {}\n\nRun 'pouch {command} --help' for more information",
            describe(err)
        ),
    }
    .into()
}

/// Exits with a container's exit status (the low 8 bits, as the OS would keep them) and no
/// message.
pub fn container_exit(status: i64) -> anyhow::Result<()> {
    if status == 0 {
        return Ok(());
    }
    Err(StatusError {
        code: status.rem_euclid(256) as u8,
        message: String::new(),
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
        assert_eq!(
            describe(&usage_failure("run", &anyhow::anyhow!("bad"), 125)),
            "pouch: bad\n\nRun 'pouch run --help' for more information"
        );
        let pipe =
            anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert!(is_broken_pipe(&pipe));
    }

    #[test]
    fn start_errors_map_to_docker_codes() {
        for (message, code) in [
            (
                "Error response from daemon: failed to create task: exec: \"nope\": executable file not found in $PATH",
                127,
            ),
            ("exec /bin/x: no such file or directory", 127),
            ("exec /etc: permission denied", 126),
            ("exec: \"/etc\": is a directory", 126),
            ("Error response from daemon: No such container: x", 125),
            ("cgroup: cannot set memory limit", 125),
        ] {
            assert_eq!(start_error_code(message), code, "{message}");
        }
    }

    #[test]
    fn container_exit_codes() {
        assert!(container_exit(0).is_ok());
        for (status, code) in [(1, 1u8), (137, 137), (255, 255), (256, 0), (-1, 255)] {
            let err = container_exit(status).unwrap_err();
            let s = err.downcast_ref::<StatusError>().unwrap();
            assert_eq!((s.code, s.message.as_str()), (code, ""), "{status}");
        }
    }
}
