//! The container's log in docker's json-file format, byte-compatible with what dockerd writes so
//! that `docker logs`-style readers (and tools that tail these files) work unchanged:
//! one JSON object per line, `{"log":"…","stream":"stdout","time":"<RFC3339Nano UTC>"}`.
//!
//! Like docker's copier, output is cut at '\n' (kept in `log`); a line that reaches 16 KiB
//! without a newline is written as a partial entry without one, and so is whatever is left when
//! the stream closes. Like docker's rotation, the file is rotated when it has reached `max-size`
//! before an entry: `<log>` → `<log>.1` → … → `<log>.<max-file − 1>`; with one file it is
//! replaced by a new, empty one (a new inode, as docker does, so readers holding the old one
//! finish it and find the new one).
//!
//! Entries are encoded into one buffer and written with one `write` per chunk of output read
//! (or per [`FLUSH_AT`] bytes), never per line: the file's content is the same as with one write
//! per entry, only the number of syscalls differs. A rotation writes out what is buffered first.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::stdio::Stream;

/// docker's `defaultBufSize`: the longest entry written without a newline.
const MAX_LINE: usize = 16 * 1024;
/// Encoded entries are written out once this much is buffered (and at the end of every chunk),
/// which bounds the shim's buffer however much one chunk expands when escaped.
const FLUSH_AT: usize = 64 * 1024;

pub struct JsonLog {
    path: PathBuf,
    file: File,
    /// Bytes in the current file, not counting `buf`.
    size: u64,
    max_size: Option<u64>,
    max_files: u32,
    /// Unterminated output per stream (index = stream number − 1).
    partial: [Vec<u8>; 2],
    /// Set after a write error was reported, so a full disk logs one line, not millions.
    reported_error: bool,
    /// Encoded entries not yet written.
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

    /// Logs a chunk of container output: every entry it completes, stamped with one time, in
    /// as few writes as the buffer allows.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        let time = rfc3339_nano(SystemTime::now());
        let idx = stream as usize - 1;
        let mut rest = data;
        // First the line an earlier chunk left open, capped at MAX_LINE like docker's buffer.
        if !self.partial[idx].is_empty() {
            let room = MAX_LINE - self.partial[idx].len();
            let take = match memchr::memchr(b'\n', &rest[..rest.len().min(room)]) {
                Some(nl) => nl + 1,
                None if rest.len() >= room => room,
                None => {
                    self.partial[idx].extend_from_slice(rest);
                    return;
                }
            };
            let mut line = std::mem::take(&mut self.partial[idx]);
            line.extend_from_slice(&rest[..take]);
            self.entry(stream, &line, &time);
            line.clear();
            self.partial[idx] = line;
            rest = &rest[take..];
        }
        loop {
            let take = match memchr::memchr(b'\n', &rest[..rest.len().min(MAX_LINE)]) {
                Some(nl) => nl + 1,
                None if rest.len() >= MAX_LINE => MAX_LINE,
                None => break,
            };
            self.entry(stream, &rest[..take], &time);
            rest = &rest[take..];
        }
        self.partial[idx].extend_from_slice(rest);
        self.flush();
    }

    /// Writes out what is left of a stream that has closed.
    pub fn finish(&mut self, stream: Stream) {
        let rest = std::mem::take(&mut self.partial[stream as usize - 1]);
        if !rest.is_empty() {
            self.entry(stream, &rest, &rfc3339_nano(SystemTime::now()));
        }
        self.flush();
    }

    /// Encodes one entry into the buffer, rotating first when the file (with what is buffered)
    /// has reached max-size.
    fn entry(&mut self, stream: Stream, line: &[u8], time: &str) {
        if self
            .max_size
            .is_some_and(|max| self.size + self.buf.len() as u64 >= max)
        {
            self.flush();
            if let Err(e) = self.rotate() {
                self.report(&e);
            }
        }
        self.buf.extend_from_slice(b"{\"log\":");
        escape_json(line, &mut self.buf);
        self.buf.extend_from_slice(b",\"stream\":\"");
        self.buf.extend_from_slice(stream.name().as_bytes());
        self.buf.extend_from_slice(b"\",\"time\":\"");
        self.buf.extend_from_slice(time.as_bytes());
        self.buf.extend_from_slice(b"\"}\n");
        if self.buf.len() >= FLUSH_AT {
            self.flush();
        }
    }

    /// Writes the buffered entries to the current file (dropped, and reported once, when the
    /// write fails).
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        match self.file.write_all(&self.buf) {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                self.reported_error = false;
            }
            Err(e) => self.report(&e),
        }
        self.buf.clear();
    }

    fn report(&mut self, e: &io::Error) {
        if !self.reported_error {
            self.reported_error = true;
            tracing::error!(path = %self.path.display(), "cannot write container log: {e}");
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_files < 2 {
            match fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        } else {
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
        }
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

/// The ASCII bytes docker's JSON escapes: control characters, `"`, `\`, `<`, `>`, `&`.
const NEEDS_ESCAPE: [bool; 128] = {
    let mut t = [false; 128];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t
};

/// Whether any of the 8 bytes of `w` is one [`escape_json`] cannot copy as it is: not ASCII,
/// a control character, or one of the escaped punctuation marks (bit tricks from "Bit Twiddling
/// Hacks": `haszero`, `hasless`).
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let has = |c: u8| has_zero(w ^ (ONES * u64::from(c)));
    w & HIGH != 0
        || w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0
        || has(b'"')
        || has(b'\\')
        || has(b'<')
        || has(b'>')
        || has(b'&')
}

/// JSON string escaping exactly as docker's json-file logger does it: `\n`, `\r`, `\"`, `\\`
/// short forms; other control characters and `<`, `>`, `&` as `\u00XX`; U+2028/U+2029
/// escaped; each byte that is not part of valid UTF-8 replaced by `\ufffd` (Go decodes rune by
/// rune and replaces each undecodable byte). Runs that need no escaping are copied whole.
fn escape_json(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let (mut i, mut run) = (0, 0);
    while i < s.len() {
        // Skip plain text a word at a time.
        while let Some(w) = s.get(i..i + 8)
            && !word_needs_escape(u64::from_le_bytes([
                w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7],
            ]))
        {
            i += 8;
        }
        let Some(&b) = s.get(i) else {
            break;
        };
        if b < 0x80 {
            if !NEEDS_ESCAPE[b as usize] {
                i += 1;
                continue;
            }
            out.extend_from_slice(&s[run..i]);
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                _ => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 0xf) as usize]);
                }
            }
            i += 1;
            run = i;
            continue;
        }
        let len = match b {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 0,
        };
        let c = (len > 0 && i + len <= s.len())
            .then(|| std::str::from_utf8(&s[i..i + len]).ok())
            .flatten()
            .and_then(|c| c.chars().next());
        match c {
            Some(c @ ('\u{2028}' | '\u{2029}')) => {
                out.extend_from_slice(&s[run..i]);
                out.extend_from_slice(b"\\u202");
                out.push(HEX[(c as usize) & 0xf]);
                i += len;
                run = i;
            }
            Some(_) => i += len,
            None => {
                out.extend_from_slice(&s[run..i]);
                out.extend_from_slice(b"\\ufffd");
                i += 1;
                run = i;
            }
        }
    }
    out.extend_from_slice(&s[run..]);
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

    /// The escaping as first written, char by char: the fast version must agree with it.
    fn escape_reference(s: &[u8], out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.push(b'"');
        let mut rest = s;
        while !rest.is_empty() {
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

    #[test]
    fn fast_escaping_agrees_with_the_reference() {
        // Pseudo-random byte strings biased towards the interesting bytes.
        let alphabet: Vec<u8> = b"ab\n\r\t\"\\<>&\x00\x1f\x7f"
            .iter()
            .copied()
            .chain([
                0x80, 0xbf, 0xc2, 0xc3, 0xa9, 0xe2, 0x80, 0xa8, 0xa9, 0xed, 0xa0,
            ])
            .chain([0xf0, 0x9f, 0x98, 0x80, 0xf4, 0x90, 0xff, 0xc0, 0xe0])
            .collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            // Mostly plain letters, so that whole words are skipped too.
            let s: Vec<u8> = (0..len)
                .map(|i| {
                    let r = seed.rotate_right(i as u32 * 7);
                    if r % 4 == 0 {
                        alphabet[((r >> 8) % alphabet.len() as u64) as usize]
                    } else {
                        b'a' + (r >> 8) as u8 % 26
                    }
                })
                .collect();
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            escape_json(&s, &mut fast);
            escape_reference(&s, &mut slow);
            assert_eq!(fast, slow, "{s:?}");
        }
        for s in ["é\u{2028}x\u{2029}", "日本語 🎉", "plain ascii line\n"] {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            escape_json(s.as_bytes(), &mut fast);
            escape_reference(s.as_bytes(), &mut slow);
            assert_eq!(fast, slow, "{s:?}");
        }
    }

    #[test]
    fn the_word_check_finds_every_byte_that_needs_escaping() {
        for b in 0..=255u8 {
            let want = b >= 0x80 || NEEDS_ESCAPE[b as usize];
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = b;
                assert_eq!(
                    word_needs_escape(u64::from_le_bytes(w)),
                    want,
                    "{b:#x} at {pos}"
                );
            }
        }
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

    fn log_fields(p: &Path) -> Vec<String> {
        lines(p)
            .iter()
            .map(|v| v["log"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn long_lines_split_at_16k_whatever_the_chunks() {
        // docker's copier cuts a line at 16 KiB even when it arrives whole: the same entries
        // come out of one chunk and of many small ones.
        let mut input = vec![b'a'; MAX_LINE + 100];
        input.push(b'\n');
        input.extend_from_slice(&vec![b'b'; MAX_LINE]);
        input.extend_from_slice(b"\nc\n");
        input.extend_from_slice(&vec![b'd'; MAX_LINE - 1]);
        input.push(b'\n');
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.log");
        let mut log = JsonLog::open(&whole, None, 1).unwrap();
        log.write(Stream::Stdout, &input);
        log.finish(Stream::Stdout);
        let pieces = dir.path().join("pieces.log");
        let mut log = JsonLog::open(&pieces, None, 1).unwrap();
        for c in input.chunks(777) {
            log.write(Stream::Stdout, c);
        }
        log.finish(Stream::Stdout);
        let want = [
            "a".repeat(MAX_LINE),
            "a".repeat(100) + "\n",
            "b".repeat(MAX_LINE),
            "\n".to_owned(),
            "c\n".to_owned(),
            "d".repeat(MAX_LINE - 1) + "\n",
        ];
        assert_eq!(log_fields(&whole), want);
        assert_eq!(log_fields(&pieces), want);
    }

    #[test]
    fn batching_rotates_where_one_write_per_entry_would() {
        let dir = tempfile::tempdir().unwrap();
        let input: String = (0..40).map(|i| format!("line number {i}\n")).collect();
        let read_all = |base: &Path| {
            let mut files = Vec::new();
            for n in (1..4).rev() {
                let p = PathBuf::from(format!("{}.{n}", base.display()));
                if p.exists() {
                    files.push(log_fields(&p));
                }
            }
            files.push(log_fields(base));
            files
        };
        let one = dir.path().join("one-chunk.log");
        let mut log = JsonLog::open(&one, Some(300), 4).unwrap();
        log.write(Stream::Stdout, input.as_bytes());
        let many = dir.path().join("line-by-line.log");
        let mut log = JsonLog::open(&many, Some(300), 4).unwrap();
        for l in input.split_inclusive('\n') {
            log.write(Stream::Stdout, l.as_bytes());
        }
        let files = read_all(&one);
        assert_eq!(files, read_all(&many));
        assert_eq!(files.len(), 4);
        assert_eq!(files[3].last().unwrap(), "line number 39\n");
        // Each rotated file holds entries up to the first that reached max-size.
        for f in &files[..3] {
            assert!(f.len() >= 4, "{files:?}");
        }
    }

    #[test]
    fn one_file_is_replaced_not_truncated() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&p, Some(100), 1).unwrap();
        log.write(
            Stream::Stdout,
            b"first line of output\nsecond line of output\n",
        );
        let mut held = File::open(&p).unwrap();
        let before = held.metadata().unwrap().ino();
        log.write(Stream::Stdout, b"third\n");
        assert_ne!(fs::metadata(&p).unwrap().ino(), before);
        assert_eq!(log_fields(&p), ["third\n"]);
        // A reader holding the old file still has all of it.
        let mut old = String::new();
        std::io::Read::read_to_string(&mut held, &mut old).unwrap();
        assert_eq!(old.lines().count(), 2, "{old}");
    }
}
