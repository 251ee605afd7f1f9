//! Signal names and numbers for `kill -s`, `stop -s`, `--stop-signal`.
//!
//! The daemon parses signals too, but checking here turns a typo into an immediate, clear
//! error instead of a daemon round trip, and lets every command send one spelling: `SIGTERM`
//! for names (with or without `SIG`, any case) and the decimal number for numbers. Both read
//! the one table in `pouch_api::signal`.

use anyhow::{Result, anyhow};

/// The number of a signal given as a name (`TERM`, `sigterm`, `SIGRTMIN+3`) or a number.
pub fn signal_number(raw: &str) -> Result<u32> {
    pouch_api::signal::parse(raw.trim())
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| anyhow!("invalid signal: {raw}"))
}

/// Validates `raw` and returns the spelling sent to the daemon: `SIGNAME` for names (moby and
/// pouchd both accept it), the number itself for numbers.
pub fn normalize_signal(raw: &str) -> Result<String> {
    signal_number(raw)?;
    let s = raw.trim();
    if s.parse::<u32>().is_ok() {
        return Ok(s.to_owned());
    }
    let upper = s.to_ascii_uppercase();
    Ok(if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_prefixes() {
        for (raw, want) in [
            ("KILL", 9),
            ("SIGKILL", 9),
            ("sigterm", 15),
            ("term", 15),
            ("Hup", 1),
            ("9", 9),
            ("64", 64),
            ("USR1", 10),
            ("SIGWINCH", 28),
            ("RTMIN", 34),
            ("SIGRTMIN+3", 37),
            ("RTMAX-2", 62),
            ("RTMAX", 64),
        ] {
            assert_eq!(signal_number(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn rejects_unknown() {
        for raw in [
            "", "0", "65", "-1", "SIGFOO", "SIG", "KIL", "RTMIN+40", "RTMAX-31", "1.5",
        ] {
            let err = normalize_signal(raw).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid signal: {raw}"));
        }
    }

    #[test]
    fn normalizes_for_the_daemon() {
        assert_eq!(normalize_signal("kill").unwrap(), "SIGKILL");
        assert_eq!(normalize_signal("SIGint").unwrap(), "SIGINT");
        assert_eq!(normalize_signal("15").unwrap(), "15");
        assert_eq!(normalize_signal("rtmin+1").unwrap(), "SIGRTMIN+1");
    }
}
