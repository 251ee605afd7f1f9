//! The log's files on disk: opening the set (rotated files oldest first, then the live one),
//! reading them forward in large blocks, and finding where the last N lines start by reading
//! backwards from the end.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Forward reads take this much at a time (a single line longer than this grows the buffer).
pub(super) const BLOCK: usize = 256 * 1024;
/// Backward scans for `--tail` read this much at a time.
const BACK_BLOCK: usize = 64 * 1024;

/// One file of the log and the range of it still to read.
pub(super) struct Section {
    pub file: File,
    pub start: u64,
    pub end: u64,
}

/// `<log>.<n>`: the n-th newest rotated file.
pub(super) fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{n}"));
    PathBuf::from(p)
}

pub(super) fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// The rotated files that exist, newest (`.1`) first, each with its number. A rotation renames
/// from the oldest down, so at most one number in the sequence is briefly free: the scan stops
/// at the second missing number in a row.
pub(super) fn rotated(path: &Path) -> Vec<(u32, File)> {
    let mut out = Vec::new();
    let mut missing = 0;
    for n in 1.. {
        match File::open(numbered(path, n)) {
            Ok(f) => {
                missing = 0;
                out.push((n, f));
            }
            Err(_) => {
                missing += 1;
                if missing == 2 {
                    break;
                }
            }
        }
    }
    out
}

/// Opens the whole log as it is now, oldest file first, each to be read up to its present
/// length. The live file is opened first: a rotation that happens meanwhile then shows up as
/// the same file under `.1` (skipped), never as a gap. The live file, when there is one, is
/// the last section.
pub(super) fn open_all(path: &Path) -> io::Result<(Vec<Section>, bool)> {
    let live = match File::open(path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let live_meta = live.as_ref().map(File::metadata).transpose()?;
    let mut sections = Vec::new();
    for (_, f) in rotated(path).into_iter().rev() {
        let m = f.metadata()?;
        if live_meta.as_ref().is_some_and(|l| same_file(l, &m)) {
            continue;
        }
        sections.push(Section {
            file: f,
            start: 0,
            end: m.len(),
        });
    }
    let has_live = live.is_some();
    if let (Some(file), Some(m)) = (live, live_meta) {
        sections.push(Section {
            file,
            start: 0,
            end: m.len(),
        });
    }
    Ok((sections, has_live))
}

/// Limits `sections` to their last `n` complete lines, counting backwards from the newest file
/// (docker's tail across rotated files: lines of both streams count). Only the blocks holding
/// those lines are read, so the cost does not grow with the size of the log.
pub(super) fn tail(sections: &mut [Section], n: usize) -> io::Result<()> {
    let mut need = n;
    let mut buf = vec![0u8; BACK_BLOCK];
    for s in sections.iter_mut().rev() {
        if need == 0 {
            s.start = s.end;
            continue;
        }
        let (start, end, found) = scan_back(&s.file, s.end, need, &mut buf)?;
        (s.start, s.end) = (start, end);
        need -= found;
    }
    Ok(())
}

/// The offset just after the last '\n' before `end`: where a reader that wants only complete
/// lines stops (and a follower starts).
pub(super) fn line_end(file: &File, end: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; BACK_BLOCK];
    Ok(scan_back(file, end, 1, &mut buf)?.1)
}

/// Scans `file[..end]` backwards for the start of its last `need` complete lines. Returns the
/// start, the end of the last complete line, and how many lines were found (fewer than `need`
/// when the file starts first).
fn scan_back(file: &File, end: u64, need: usize, buf: &mut [u8]) -> io::Result<(u64, u64, usize)> {
    let mut pos = end;
    let mut last_end = None;
    let mut found = 0;
    while pos > 0 {
        let len = (buf.len() as u64).min(pos) as usize;
        pos -= len as u64;
        file.read_exact_at(&mut buf[..len], pos)?;
        for i in memchr::memrchr_iter(b'\n', &buf[..len]) {
            let at = pos + i as u64 + 1;
            if last_end.is_none() {
                last_end = Some(at);
                continue;
            }
            found += 1;
            if found == need {
                return Ok((at, last_end.unwrap_or(at), found));
            }
        }
    }
    match last_end {
        Some(e) => Ok((0, e, found + 1)),
        None => Ok((0, 0, 0)),
    }
}

/// Reads `file` forward from `start` — up to `end`, or to its end now — in [`BLOCK`]s, and calls
/// `each` with every complete line (without its '\n') until it returns false. A last line
/// without its '\n' is one still being written, and is left for the next call. Returns the
/// offset after the last line taken, and whether `each` stopped the reading.
pub(super) fn read_lines(
    file: &File,
    start: u64,
    end: Option<u64>,
    buf: &mut Vec<u8>,
    mut each: impl FnMut(&[u8]) -> bool,
) -> io::Result<(u64, bool)> {
    if buf.len() < BLOCK {
        buf.resize(BLOCK, 0);
    }
    let (mut pos, mut filled) = (start, 0usize);
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let mut want = buf.len() - filled;
        if let Some(e) = end {
            want = want.min(e.saturating_sub(pos + filled as u64) as usize);
        }
        if want == 0 {
            return Ok((pos, false));
        }
        let n = match file.read_at(&mut buf[filled..filled + want], pos + filled as u64) {
            Ok(0) => return Ok((pos, false)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let scan_from = filled;
        filled += n;
        let mut at = 0;
        let mut from = scan_from;
        while let Some(nl) = memchr::memchr(b'\n', &buf[from..filled]) {
            let line_end = from + nl;
            if !each(&buf[at..line_end]) {
                return Ok((pos + line_end as u64 + 1, true));
            }
            at = line_end + 1;
            from = at;
        }
        buf.copy_within(at..filled, 0);
        pos += at as u64;
        filled -= at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(content: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::File::create(&p)
            .unwrap()
            .write_all(content)
            .unwrap();
        (dir, File::open(&p).unwrap())
    }

    fn lines_of(f: &File, start: u64, end: Option<u64>, buf: &mut Vec<u8>) -> (Vec<String>, u64) {
        let mut got = Vec::new();
        let (off, _) = read_lines(f, start, end, buf, |l| {
            got.push(String::from_utf8(l.to_vec()).unwrap());
            true
        })
        .unwrap();
        (got, off)
    }

    #[test]
    fn reads_complete_lines_across_blocks_and_keeps_the_unfinished_one() {
        let mut content = Vec::new();
        for i in 0..20_000 {
            content.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        let long = "y".repeat(BLOCK * 2 + 3);
        content.extend_from_slice(long.as_bytes());
        content.extend_from_slice(b"\nunfinished");
        let (_d, f) = file_with(&content);
        let mut buf = Vec::new();
        let (got, off) = lines_of(&f, 0, None, &mut buf);
        assert_eq!(got.len(), 20_001);
        assert_eq!(got[19_999], "line 19999");
        assert_eq!(got[20_000], long);
        assert_eq!(off as usize, content.len() - "unfinished".len());
        // Bounded by `end`, and resumable from the returned offset.
        let (got, off) = lines_of(&f, 0, Some(14), &mut buf);
        assert_eq!(
            (got, off),
            (vec!["line 0".to_owned(), "line 1".to_owned()], 14)
        );
        let (got, _) = lines_of(&f, off, Some(21), &mut buf);
        assert_eq!(got, ["line 2"]);
    }

    #[test]
    fn tail_counts_back_across_files_reading_only_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut sections = Vec::new();
        for (name, lines) in [("old", 0..5000), ("mid", 5000..5003), ("new", 5003..5010)] {
            let p = dir.path().join(name);
            let mut f = std::fs::File::create(&p).unwrap();
            for i in lines {
                writeln!(f, "line {i}").unwrap();
            }
            if name == "new" {
                f.write_all(b"partial").unwrap();
            }
            let file = File::open(&p).unwrap();
            let end = file.metadata().unwrap().len();
            sections.push(Section {
                file,
                start: 0,
                end,
            });
        }
        let read_all = |sections: &[Section]| {
            let mut buf = Vec::new();
            let mut got = Vec::new();
            for s in sections {
                got.extend(lines_of(&s.file, s.start, Some(s.end), &mut buf).0);
            }
            got
        };
        let tailed = |n: usize| {
            let mut t: Vec<Section> = sections
                .iter()
                .map(|s| Section {
                    file: s.file.try_clone().unwrap(),
                    start: 0,
                    end: s.end,
                })
                .collect();
            tail(&mut t, n).unwrap();
            t
        };
        let t = tailed(3);
        assert_eq!(read_all(&t), ["line 5007", "line 5008", "line 5009"]);
        assert_eq!(t[0].start, t[0].end);
        let got = read_all(&tailed(12));
        assert_eq!(got.len(), 12);
        assert_eq!(
            (got[0].as_str(), got[11].as_str()),
            ("line 4998", "line 5009")
        );
        let mut t = sections;
        tail(&mut t, 1_000_000).unwrap();
        assert_eq!(read_all(&t).len(), 5010);
        assert_eq!(line_end(&t[2].file, t[2].end).unwrap(), t[2].end);
    }
}
