//! Signal names as docker accepts them: `KILL`, `SIGKILL`, `9` (the table is `pouch_api::signal`).

use crate::error::{Error, Result};

/// Parses a signal; empty means `default`.
pub fn parse(s: &str, default: i32) -> Result<i32> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(default);
    }
    pouch_api::signal::parse(s).ok_or_else(|| Error::invalid(format!("Invalid signal: {s}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_errors() {
        assert_eq!(parse("KILL", 15).unwrap(), 9);
        assert_eq!(parse("sigterm", 9).unwrap(), 15);
        assert_eq!(parse("SIGUSR1", 9).unwrap(), 10);
        assert_eq!(parse("2", 9).unwrap(), 2);
        assert_eq!(parse("", 15).unwrap(), 15);
        assert!(parse("NOPE", 15).is_err());
        assert!(parse("99", 15).is_err());
    }

    #[test]
    fn accepts_every_name_the_cli_sends() {
        // The CLI checks a signal and sends `SIGNAME`: docker's aliases and real-time names too.
        assert_eq!(parse("SIGCLD", 15).unwrap(), 17);
        assert_eq!(parse("SIGRTMIN+3", 15).unwrap(), 37);
        assert_eq!(parse("SIGRTMAX-2", 15).unwrap(), 62);
        assert_eq!(parse("SIGRTMAX", 15).unwrap(), 64);
        assert_eq!(parse(" 9 ", 15).unwrap(), 9);
        let err = parse(" SIGFOO ", 15).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::InvalidArgument);
        assert_eq!(err.to_string(), "Invalid signal: SIGFOO");
    }
}
