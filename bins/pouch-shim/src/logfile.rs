//! The container's log in docker's json-file format, byte-compatible with what dockerd writes so
//! that `docker logs`-style readers (and tools that tail these files) work unchanged:
//! one JSON object per line, `{"log":"…","stream":"stdout","time":"<RFC3339Nano UTC>"}`.
//!
//! Like docker's copier, output is cut at '\n' (kept in `log`); a line that reaches 16 KiB
//! without a newline is written as a partial entry without one, and so is whatever is left when
//! the stream closes. Like docker's rotation, the file is rotated when it has reached `max-size`
//! before a write: `<log>` → `<log>.1` → … → `<log>.<max-file − 1>`; with one file it is
//! truncated instead.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::stdio::Stream;

/// docker's `defaultBufSize`: the longest entry written without a newline.
const MAX_LINE: usize = 16 * 1024;

pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_files: u32,
    /// Unterminated output per stream (index = stream number − 1).
    partial: [Vec<u8>; 2],
    /// Set after a write error was reported, so a full disk logs one line, not millions.
    reported_error: bool,
    buf: Vec<u8>,
}

impl JsonLog {
    pub fn open(path: &Path, max_size: Option<u64>, max_files: u32) -> io::Result<JsonLog> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = open_log(path)?;
        let size = file.metadata()?.len();
        Ok(JsonLog {
            path: path.to_owned(),
            file,
            size,
            max_size: max_size.filter(|&s| s > 0),
            max_files: max_files.max(1),
            partial: [Vec::new(), Vec::new()],
            reported_error: false,
            buf: Vec::new(),
        })
    }

    /// Logs a chunk of container output.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        let now = SystemTime::now();
        let idx = stream as usize - 1;
        let mut pending = std::mem::take(&mut self.partial[idx]);
        pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl + 1;
            self.entry(stream, &pending[start..end], now);
            start = end;
        }
        while pending.len() - start >= MAX_LINE {
            self.entry(stream, &pending[start..start + MAX_LINE], now);
            start += MAX_LINE;
        }
        pending.drain(..start);
        self.partial[idx] = pending;
    }

    /// Writes out what is left of a stream that has closed.
    pub fn finish(&mut self, stream: Stream) {
        let rest = std::mem::take(&mut self.partial[stream as usize - 1]);
        if !rest.is_empty() {
            self.entry(stream, &rest, SystemTime::now());
        }
    }

    fn entry(&mut self, stream: Stream, line: &[u8], at: SystemTime) {
        self.buf.clear();
        self.buf.extend_from_slice(b"{\"log\":");
        escape_json(line, &mut self.buf);
        self.buf.extend_from_slice(b",\"stream\":\"");
        self.buf.extend_from_slice(stream.name().as_bytes());
        self.buf.extend_from_slice(b"\",\"time\":\"");
        self.buf.extend_from_slice(rfc3339_nano(at).as_bytes());
        self.buf.extend_from_slice(b"\"}\n");
        let result = self
            .rotate_if_full()
            .and_then(|()| self.file.write_all(&self.buf));
        match result {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                self.reported_error = false;
            }
            Err(e) if !self.reported_error => {
                self.reported_error = true;
                tracing::error!(path = %self.path.display(), "cannot write container log: {e}");
            }
            Err(_) => {}
        }
    }

    fn rotate_if_full(&mut self) -> io::Result<()> {
        match self.max_size {
            Some(max) if self.size >= max => {}
            _ => return Ok(()),
        }
        if self.max_files < 2 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        for n in (2..self.max_files).rev() {
            match fs::rename(numbered(n - 1), numbered(n)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        fs::rename(&self.path, numbered(1))?;
        self.file = open_log(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// JSON string escaping exactly as docker's json-file logger does it: `\n`, `\r`, `\"`, `\\`
/// short forms; other control characters and `<`, `>`, `&` as `\u00XX`; U+2028/U+2029
/// escaped; invalid UTF-8 bytes replaced by `\ufffd`.
fn escape_json(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        // Go decodes rune by rune and replaces each undecodable byte with U+FFFD.
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(v) => (v, 0),
            Err(e) => {
                let v = std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default();
                (v, e.error_len().unwrap_or(rest.len() - e.valid_up_to()))
            }
        };
        for c in valid.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\u{2028}' | '\u{2029}' => {
                    out.extend_from_slice(b"\\u202");
                    out.push(HEX[(c as usize) & 0xf]);
                }
                c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(c as usize) >> 4]);
                    out.push(HEX[(c as usize) & 0xf]);
                }
                c => {
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
            }
        }
        for _ in 0..bad {
            out.extend_from_slice(b"\\ufffd");
        }
        rest = &rest[valid.len() + bad..];
    }
    out.push(b'"');
}

/// Go's `time.RFC3339Nano` in UTC: nanoseconds with trailing zeros trimmed (and no fraction at
/// all for a whole second), e.g. `2026-11-23T14:00:00.1234Z`.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    let mut s = format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn esc(s: &[u8]) -> String {
        let mut v = Vec::new();
        escape_json(s, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_like_docker() {
        assert_eq!(esc(b"hi\n"), r#""hi\n""#);
        assert_eq!(esc(b"a\tb\r\"\\"), r#""a\u0009b\r\"\\""#);
        assert_eq!(esc(b"<a&b>"), r#""\u003ca\u0026b\u003e""#);
        assert_eq!(esc("é\u{2028}".as_bytes()), "\"é\\u2028\"");
        assert_eq!(esc(b"a\xffb"), r#""a\ufffdb""#);
    }

    #[test]
    fn formats_time_like_go_rfc3339nano() {
        let t = UNIX_EPOCH + Duration::new(1_795_442_400, 123_456_789);
        assert_eq!(rfc3339_nano(t), "2026-11-23T14:00:00.123456789Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 120_000_000);
        assert_eq!(rfc3339_nano(t), "2000-02-29T00:00:00.12Z");
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    fn lines(p: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn splits_lines_and_long_partials() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&p, None, 1).unwrap();
        log.write(Stream::Stdout, b"one\ntw");
        log.write(Stream::Stderr, b"err\n");
        log.write(Stream::Stdout, b"o\n");
        log.write(Stream::Stdout, &vec![b'x'; MAX_LINE + 5]);
        log.finish(Stream::Stdout);
        let l = lines(&p);
        let logs: Vec<(&str, &str)> = l
            .iter()
            .map(|v| (v["log"].as_str().unwrap(), v["stream"].as_str().unwrap()))
            .collect();
        assert_eq!(logs[0], ("one\n", "stdout"));
        assert_eq!(logs[1], ("err\n", "stderr"));
        assert_eq!(logs[2], ("two\n", "stdout"));
        assert_eq!(logs[3].0.len(), MAX_LINE);
        assert_eq!(logs[4].0, "xxxxx");
        assert_eq!(l.len(), 5);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn rotates_by_size_keeping_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&p, Some(100), 3).unwrap();
        for i in 0..10 {
            log.write(Stream::Stdout, format!("line number {i}\n").as_bytes());
        }
        let name = |n: u32| dir.path().join(format!("c-json.log.{n}"));
        assert!(name(1).exists() && name(2).exists() && !name(3).exists());
        let live = lines(&p);
        assert_eq!(live.last().unwrap()["log"], "line number 9\n");
        assert!(fs::metadata(&p).unwrap().len() < 200);

        let p1 = dir.path().join("one.log");
        let mut log = JsonLog::open(&p1, Some(100), 1).unwrap();
        for i in 0..10 {
            log.write(Stream::Stdout, format!("line number {i}\n").as_bytes());
        }
        assert!(!dir.path().join("one.log.1").exists());
        assert!(lines(&p1).len() < 3);
    }
}
