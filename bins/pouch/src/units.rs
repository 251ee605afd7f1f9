//! Human-readable sizes, durations and timestamps, matching docker's output byte for byte.
//!
//! docker formats these with `github.com/docker/go-units` and Go's `%g`; scripts and eyes are
//! used to the exact results ("4.26MB", "920kB", even the odd "1e+03kB"), so the same rules are
//! reproduced here rather than approximated.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Go's `%.{precision}g`: `precision` significant digits, trailing zeros removed, exponent form
/// when the exponent is below -4 or at least the precision.
fn format_g(x: f64, precision: usize) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_fraction_zeros(mantissa), exp.abs())
    } else {
        let decimals = usize::try_from(p as i32 - 1 - exp).unwrap_or(0);
        trim_fraction_zeros(&format!("{x:.decimals$}")).to_owned()
    }
}

fn trim_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn scaled(size: f64, base: f64, units: &[&'static str]) -> (f64, &'static str) {
    let mut size = size;
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    (size, units[i])
}

/// go-units `HumanSizeWithPrecision`: decimal units (1 kB = 1000 B).
pub fn human_size_precision(bytes: f64, precision: usize) -> String {
    let (size, unit) = scaled(bytes, 1000.0, &DECIMAL_UNITS);
    format!("{}{unit}", format_g(size, precision))
}

/// go-units `HumanSize` (4 significant digits), used for reclaimed space and virtual sizes.
pub fn human_size(bytes: f64) -> String {
    human_size_precision(bytes, 4)
}

/// The last line of every prune: `Total reclaimed space: 1.234kB` from `SpaceReclaimed`.
pub fn reclaimed_space(report: &serde_json::Value) -> String {
    let bytes = report
        .get("SpaceReclaimed")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    format!("Total reclaimed space: {}\n", human_size(bytes))
}

/// go-units `BytesSize`: binary units, used by `info` for total memory ("23.47GiB").
pub fn bytes_size(bytes: f64) -> String {
    let (size, unit) = scaled(bytes, 1024.0, &BINARY_UNITS);
    format!("{}{unit}", format_g(size, 4))
}

/// go-units `HumanDuration` for a number of seconds.
pub fn human_duration(seconds: i64) -> String {
    if seconds < 1 {
        return "Less than a second".to_owned();
    }
    if seconds == 1 {
        return "1 second".to_owned();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".to_owned();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go rounds to the nearest hour, halves away from zero.
    let hours = (seconds + 1800) / 3600;
    if hours == 1 {
        "About an hour".to_owned()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", seconds / 3600 / 24 / 365)
    }
}

/// Seconds since the epoch, now.
pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn utc(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Go's `time.Time.String()` in UTC ("2024-01-02 15:04:05 +0000 UTC"), docker's `CreatedAt`.
/// The CLI prints UTC rather than local time: the local offset cannot be read safely from a
/// multi-threaded process.
pub fn go_time_string(unix: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] +0000 UTC");
    utc(unix).format(&fmt).unwrap_or_default()
}

/// RFC 3339 in UTC ("2024-01-02T15:04:05Z"), docker's non-human `history` timestamps.
pub fn rfc3339(unix: i64) -> String {
    utc(unix).format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KB: f64 = 1000.0;
    const MB: f64 = 1000.0 * KB;
    const GB: f64 = 1000.0 * MB;

    #[test]
    fn go_g_formatting() {
        for (x, p, want) in [
            (0.0, 3, "0"),
            (4.26, 3, "4.26"),
            (4.2649, 3, "4.26"),
            (920.0, 3, "920"),
            (1.0, 4, "1"),
            (1.024, 4, "1.024"),
            (999.999, 3, "1e+03"),
            (999.95, 4, "1000"),
            (123456.0, 3, "1.23e+05"),
            (0.00001234, 3, "1.23e-05"),
            (0.5, 3, "0.5"),
            (12.0, 3, "12"),
        ] {
            assert_eq!(format_g(x, p), want, "{x} %.{p}g");
        }
    }

    #[test]
    fn human_sizes_like_go_units() {
        for (bytes, want) in [
            (0.0, "0B"),
            (999.0, "999B"),
            (1000.0, "1kB"),
            (1024.0, "1.024kB"),
            (1_000_000.0, "1MB"),
            (1_048_576.0, "1.049MB"),
            (2.0 * MB, "2MB"),
            (3.42 * GB, "3.42GB"),
            (5.372 * GB * KB, "5.372TB"),
            (2.22 * GB * MB, "2.22PB"),
            (1e24, "1YB"),
            (1e27, "1000YB"),
        ] {
            assert_eq!(human_size(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn human_sizes_three_digits_for_images() {
        for (bytes, want) in [
            (4_264_000.0, "4.26MB"),
            (4_265_000.0, "4.26MB"),
            (4_266_000.0, "4.27MB"),
            (920_000.0, "920kB"),
            (1_234_567_890.0, "1.23GB"),
            (77_800_000.0, "77.8MB"),
            (999_999.0, "1e+03kB"),
            (0.0, "0B"),
        ] {
            assert_eq!(human_size_precision(bytes, 3), want, "{bytes}");
        }
    }

    #[test]
    fn binary_sizes() {
        for (bytes, want) in [
            (0.0, "0B"),
            (1024.0, "1KiB"),
            (1_048_576.0, "1MiB"),
            (1.5 * 1_048_576.0, "1.5MiB"),
            (25_200_000_000.0, "23.47GiB"),
        ] {
            assert_eq!(bytes_size(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn durations_like_go_units() {
        let m = 60;
        let h = 60 * m;
        let d = 24 * h;
        for (secs, want) in [
            (-5, "Less than a second"),
            (0, "Less than a second"),
            (1, "1 second"),
            (2, "2 seconds"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (2 * m - 1, "About a minute"),
            (2 * m, "2 minutes"),
            (59 * m + 59, "59 minutes"),
            (60 * m, "About an hour"),
            (h + 29 * m, "About an hour"),
            (h + 30 * m, "2 hours"),
            (47 * h, "47 hours"),
            (48 * h, "2 days"),
            (13 * d, "13 days"),
            (14 * d, "2 weeks"),
            (59 * d, "8 weeks"),
            (60 * d, "2 months"),
            (729 * d, "24 months"),
            (730 * d, "2 years"),
            (3 * 365 * d + 10 * d, "3 years"),
        ] {
            assert_eq!(human_duration(secs), want, "{secs}s");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            go_time_string(1_700_000_000),
            "2023-11-14 22:13:20 +0000 UTC"
        );
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
