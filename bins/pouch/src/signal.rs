//! Signal names and numbers for `kill -s`, `stop -s`, `--stop-signal`.
//!
//! The daemon parses signals too, but checking here turns a typo into an immediate, clear
//! error instead of a daemon round trip, and lets every command send one spelling: `SIGTERM`
//! for names (with or without `SIG`, any case) and the decimal number for numbers.

use anyhow::{Result, bail};

/// Linux signals by name, as moby's `signal.SignalMap` knows them.
const SIGNALS: &[(&str, u32)] = &[
    ("ABRT", 6),
    ("ALRM", 14),
    ("BUS", 7),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("FPE", 8),
    ("HUP", 1),
    ("ILL", 4),
    ("INT", 2),
    ("IO", 29),
    ("IOT", 6),
    ("KILL", 9),
    ("PIPE", 13),
    ("POLL", 29),
    ("PROF", 27),
    ("PWR", 30),
    ("QUIT", 3),
    ("SEGV", 11),
    ("STKFLT", 16),
    ("STOP", 19),
    ("SYS", 31),
    ("TERM", 15),
    ("TRAP", 5),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("USR1", 10),
    ("USR2", 12),
    ("VTALRM", 26),
    ("WINCH", 28),
    ("XCPU", 24),
    ("XFSZ", 25),
];

const RTMIN: u32 = 34;
const RTMAX: u32 = 64;

/// The number of a signal given as a name (`TERM`, `sigterm`, `SIGRTMIN+3`) or a number.
pub fn signal_number(raw: &str) -> Result<u32> {
    let invalid = || anyhow::anyhow!("invalid signal: {raw}");
    if let Ok(n) = raw.parse::<u32>() {
        if (1..=RTMAX).contains(&n) {
            return Ok(n);
        }
        return Err(invalid());
    }
    let upper = raw.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(s, _)| *s == name) {
        return Ok(*n);
    }
    let realtime = |base: u32, rest: &str, sign: i64| -> Option<u32> {
        let offset: i64 = if rest.is_empty() {
            0
        } else {
            rest.parse().ok()?
        };
        let n = i64::from(base) + sign * offset;
        (i64::from(RTMIN)..=i64::from(RTMAX))
            .contains(&n)
            .then_some(n as u32)
    };
    let rt = if let Some(rest) = name.strip_prefix("RTMIN") {
        rest.strip_prefix('+').map_or_else(
            || rest.is_empty().then_some(RTMIN),
            |r| realtime(RTMIN, r, 1),
        )
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        rest.strip_prefix('-').map_or_else(
            || rest.is_empty().then_some(RTMAX),
            |r| realtime(RTMAX, r, -1),
        )
    } else {
        None
    };
    rt.ok_or_else(invalid)
}

/// Validates `raw` and returns the spelling sent to the daemon: `SIGNAME` for names (moby and
/// pouchd both accept it), the number itself for numbers.
pub fn normalize_signal(raw: &str) -> Result<String> {
    if raw.trim().is_empty() {
        bail!("invalid signal: {raw}");
    }
    signal_number(raw)?;
    if raw.parse::<u32>().is_ok() {
        return Ok(raw.to_owned());
    }
    let upper = raw.trim().to_ascii_uppercase();
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
