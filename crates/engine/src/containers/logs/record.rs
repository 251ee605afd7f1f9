//! One line of the json-file log → its stream, time and unescaped text, without serde on the
//! hot path: the shim writes one fixed shape (`{"log":"…","stream":"…","time":"…"}`), parsed
//! here by hand; any other shape (docker's `attrs`, reordered keys) goes through serde_json.

use std::borrow::Cow;

use serde::Deserialize;

/// The stream and time of a parsed line; its text was appended to the caller's buffer.
pub(super) struct Head<'a> {
    /// 1 = stdout, 2 = stderr.
    pub stream: u8,
    pub time: Cow<'a, str>,
}

/// Parses `line` (without its '\n'), appending the logged text to `data`. `None` (and `data`
/// as it was) for a line that is not a log entry of stdout or stderr.
pub(super) fn parse<'a>(line: &'a [u8], data: &mut Vec<u8>) -> Option<Head<'a>> {
    let mark = data.len();
    if let Some(h) = fast(line, data) {
        return Some(h);
    }
    data.truncate(mark);
    slow(line, data)
}

fn fast<'a>(line: &'a [u8], data: &mut Vec<u8>) -> Option<Head<'a>> {
    let rest = line.strip_prefix(b"{\"log\":\"")?;
    let rest = &rest[unescape(rest, data)?..];
    let (stream, rest) = if let Some(r) = rest.strip_prefix(b",\"stream\":\"stdout\",\"time\":\"") {
        (1, r)
    } else {
        (2, rest.strip_prefix(b",\"stream\":\"stderr\",\"time\":\"")?)
    };
    let time = rest.strip_suffix(b"\"}")?;
    if memchr::memchr2(b'"', b'\\', time).is_some() {
        return None;
    }
    Some(Head {
        stream,
        time: Cow::Borrowed(std::str::from_utf8(time).ok()?),
    })
}

#[derive(Deserialize)]
struct Record {
    log: String,
    stream: String,
    time: String,
}

fn slow<'a>(line: &[u8], data: &mut Vec<u8>) -> Option<Head<'a>> {
    let r: Record = serde_json::from_slice(line).ok()?;
    let stream = match r.stream.as_str() {
        "stdout" => 1,
        "stderr" => 2,
        _ => return None,
    };
    data.extend_from_slice(r.log.as_bytes());
    Some(Head {
        stream,
        time: Cow::Owned(r.time),
    })
}

/// Decodes a JSON string body (after its opening quote) into `out`; returns the length taken,
/// closing quote included. Invalid surrogates become U+FFFD, as Go's decoder makes them.
fn unescape(s: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let mut i = 0;
    loop {
        let j = i + memchr::memchr2(b'"', b'\\', &s[i..])?;
        out.extend_from_slice(&s[i..j]);
        if s[j] == b'"' {
            return Some(j + 1);
        }
        let (c, len) = match *s.get(j + 1)? {
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'/' => ('/', 2),
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            b'u' => {
                let hi = hex4(s.get(j + 2..j + 6)?)?;
                let lo = s
                    .get(j + 6..j + 12)
                    .filter(|e| e.starts_with(b"\\u"))
                    .and_then(|e| hex4(&e[2..]));
                match (hi, lo) {
                    (0xd800..=0xdbff, Some(lo @ 0xdc00..=0xdfff)) => {
                        let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                        (char::from_u32(c)?, 12)
                    }
                    (0xd800..=0xdfff, _) => ('\u{fffd}', 6),
                    _ => (char::from_u32(hi)?, 6),
                }
            }
            _ => return None,
        };
        let mut tmp = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        i = j + len;
    }
}

fn hex4(h: &[u8]) -> Option<u32> {
    h.iter()
        .try_fold(0u32, |acc, &b| Some(acc << 4 | char::from(b).to_digit(16)?))
}

/// An RFC 3339 time as Unix nanoseconds: by hand for the shim's `…Z` form, through the time
/// crate for anything else.
pub(super) fn unix_nanos(t: &str) -> Option<i64> {
    fast_nanos(t.as_bytes()).or_else(|| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp_nanos() as i64)
    })
}

fn fast_nanos(t: &[u8]) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        t.get(r)?.iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let sep = |i: usize, c: u8| t.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut nanos = 0i64;
    let mut i = 19;
    if sep(19, b'.') {
        let digits = t[20..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = num(20..20 + digits)? * 10i64.pow(9 - digits as u32);
        i = 20 + digits;
    }
    if &t[i..] != b"Z" {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    Some(secs * 1_000_000_000 + nanos)
}

/// (year, month, day) → days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(line: &str) -> Option<(u8, String, Vec<u8>)> {
        let mut fast_data = Vec::new();
        let f = fast(line.as_bytes(), &mut fast_data).map(|h| (h.stream, h.time.into_owned()));
        let mut slow_data = Vec::new();
        let s = slow(line.as_bytes(), &mut slow_data).map(|h| (h.stream, h.time.into_owned()));
        if let Some(f) = &f {
            assert_eq!(Some(f), s.as_ref(), "{line}");
            assert_eq!(fast_data, slow_data, "{line}");
        }
        let mut data = Vec::new();
        parse(line.as_bytes(), &mut data).map(|h| (h.stream, h.time.into_owned(), data))
    }

    #[test]
    fn parses_the_shims_lines_like_serde() {
        let t = "2026-11-23T14:00:00.123456789Z";
        for (log, want) in [
            (r#"hello\n"#, "hello\n"),
            (
                r#"tab\there \"q\" back\\slash \/ \u003chtml\u003e \u0026"#,
                "tab\there \"q\" back\\slash / <html> &",
            ),
            (
                r#"\u00e9t\u00e9 \u2028 \ud83c\udf89 日本"#,
                "été \u{2028} 🎉 日本",
            ),
            (r#"\b\f\r"#, "\u{8}\u{c}\r"),
            ("", ""),
        ] {
            for (stream, n) in [("stdout", 1), ("stderr", 2)] {
                let line = format!(r#"{{"log":"{log}","stream":"{stream}","time":"{t}"}}"#);
                let (s, time, data) = both(&line).unwrap();
                assert_eq!((s, time.as_str(), data.as_slice()), (n, t, want.as_bytes()));
            }
        }
    }

    #[test]
    fn other_shapes_go_through_serde_and_bad_lines_are_skipped() {
        let line =
            r#"{"log":"x\n","stream":"stdout","attrs":{"a":"b"},"time":"2024-01-01T00:00:00Z"}"#;
        let (s, time, data) = both(line).unwrap();
        assert_eq!(
            (s, time.as_str(), data.as_slice()),
            (1, "2024-01-01T00:00:00Z", &b"x\n"[..])
        );
        let line = r#"{"time":"2024-01-01T00:00:00Z","stream":"stderr","log":"y"}"#;
        assert_eq!(both(line).unwrap().0, 2);
        for bad in [
            "",
            "{",
            r#"{"log":"x","stream":"other","time":"t"}"#,
            r#"{"log":"x\q","stream":"stdout","time":"t"}"#,
            r#"{"log":"unterminated"#,
        ] {
            assert!(both(bad).is_none(), "{bad}");
        }
        // A lone surrogate is U+FFFD, as Go decodes it.
        let mut d = Vec::new();
        fast(
            br#"{"log":"a\ud800b","stream":"stdout","time":"t"}"#,
            &mut d,
        )
        .unwrap();
        assert_eq!(d, "a\u{fffd}b".as_bytes());
    }

    #[test]
    fn times_parse_by_hand_like_the_time_crate() {
        let rfc = |t: &str| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .unwrap()
                .unix_timestamp_nanos() as i64
        };
        for t in [
            "2026-11-23T14:00:00.123456789Z",
            "2000-02-29T00:00:00.12Z",
            "1970-01-01T00:00:00Z",
            "2024-12-31T23:59:59.5Z",
            "1969-12-31T23:59:59.999999999Z",
        ] {
            assert_eq!(fast_nanos(t.as_bytes()), Some(rfc(t)), "{t}");
        }
        assert_eq!(fast_nanos(b"2024-01-01T00:00:00+01:00"), None);
        assert_eq!(
            unix_nanos("2024-01-01T01:00:00+01:00"),
            Some(rfc("2024-01-01T00:00:00Z"))
        );
        assert_eq!(unix_nanos("yesterday"), None);
    }
}
