//! Linux signals by name and number, as docker spells them: `KILL`, `SIGKILL`, `sigkill`, `9`,
//! `SIGRTMIN+3`, `RTMAX-2`. The daemon and the CLI both read signals through this one table, so a
//! spelling one accepts the other accepts too; each keeps its own error message.

/// Signal names without `SIG`, aliases included, as moby's `signal.SignalMap` knows them on Linux.
pub const SIGNALS: &[(&str, i32)] = &[
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

/// The first real-time signal as containers see it (glibc reserves 32 and 33 for itself).
pub const SIGRTMIN: i32 = 34;
/// The last real-time signal, and the highest signal number.
pub const SIGRTMAX: i32 = 64;

/// The number of a signal given as a decimal number (1 to 64) or as a name in any case, with or
/// without `SIG`: a [`SIGNALS`] name, `RTMIN`, `RTMIN+n`, `RTMAX` or `RTMAX-n` (34 to 64).
/// `None` for anything else; `raw` is taken as it is, blanks included.
pub fn parse(raw: &str) -> Option<i32> {
    if let Ok(n) = raw.parse::<i32>() {
        return (1..=SIGRTMAX).contains(&n).then_some(n);
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(s, _)| *s == name) {
        return Some(*n);
    }
    if let Some(rest) = name.strip_prefix("RTMIN") {
        realtime(SIGRTMIN, rest, '+', 1)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        realtime(SIGRTMAX, rest, '-', -1)
    } else {
        None
    }
}

/// `base` alone (empty `rest`), or `base` moved by `<sign><offset>`, within the real-time range.
fn realtime(base: i32, rest: &str, sign: char, direction: i64) -> Option<i32> {
    let n = if rest.is_empty() {
        i64::from(base)
    } else {
        let offset: i64 = rest.strip_prefix(sign)?.parse().ok()?;
        i64::from(base) + direction * offset
    };
    i32::try_from(n)
        .ok()
        .filter(|n| (SIGRTMIN..=SIGRTMAX).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_docker_accepts() {
        for (raw, want) in [
            ("9", 9),
            ("sigkill", 9),
            ("SIGKILL", 9),
            ("KILL", 9),
            ("term", 15),
            ("Hup", 1),
            ("CLD", 17),
            ("SIGCHLD", 17),
            ("iot", 6),
            ("1", 1),
            ("64", 64),
            ("RTMIN", 34),
            ("SIGRTMIN+3", 37),
            ("rtmin+30", 64),
            ("RTMAX-2", 62),
            ("RTMAX", 64),
            ("sigrtmax-30", 34),
        ] {
            assert_eq!(parse(raw), Some(want), "{raw}");
        }
    }

    #[test]
    fn rejects_what_is_no_signal() {
        for raw in [
            "",
            " KILL",
            "0",
            "65",
            "-1",
            "SIGFOO",
            "SIG",
            "KIL",
            "SIGSIGKILL",
            "RTMIN+31",
            "RTMAX-31",
            "RTMIN5",
            "RTMIN-1",
            "RTMAX+1",
            "RTMIN+",
            "1.5",
            "99999999999",
        ] {
            assert_eq!(parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn every_name_is_unique_and_in_range() {
        for (i, (name, n)) in SIGNALS.iter().enumerate() {
            assert!((1..SIGRTMIN).contains(n), "{name}");
            assert!(!name.starts_with("SIG"), "{name}");
            assert!(SIGNALS[..i].iter().all(|(m, _)| m != name), "{name} twice");
        }
    }
}
