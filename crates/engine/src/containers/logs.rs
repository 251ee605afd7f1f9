//! `GET /containers/{id}/logs`: reads the json-file log the shim writes (rotated files first,
//! oldest to newest) and, with `follow`, keeps reading until the container stops. Also the
//! history that `attach` with `logs` replays ([`LogSnapshot`]).
//!
//! Docker's semantics (moby `daemon/logger/loggerutils/logfile.go`): `tail` counts the lines
//! of both streams from the end, across rotated files; then `since` drops records until the
//! first one at or after it, and the first record after `until` ends the reading (and the
//! following). Records of a stream not asked for are dropped last. The reader moves data in
//! [`LogBatch`]es — one buffer for many records — from large block reads, and `tail` reads
//! backwards from the end, so its cost does not depend on the size of the log.

mod files;
mod follow;
mod record;
mod watch;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

use self::files::read_lines;
use self::follow::Stop;
use super::wait::WaitCondition;
use crate::Containers;
use crate::error::{Error, Result};

/// A batch is sent once it holds this many bytes of records.
const BATCH_BYTES: usize = 64 * 1024;
/// Batches in flight between the reader and the client.
const BATCHES_QUEUED: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    /// Unix nanoseconds; 0 = no bound.
    pub since: i64,
    pub until: i64,
    /// Last N lines only.
    pub tail: Option<usize>,
}

/// One log record, owned (the history `attach` replays).
#[derive(Debug, Clone)]
pub struct LogLine {
    /// 1 = stdout, 2 = stderr.
    pub stream: u8,
    /// RFC 3339 with nanoseconds, as written by the shim.
    pub time: String,
    pub data: Vec<u8>,
}

/// Log records in order, their bytes in one buffer.
#[derive(Debug, Default)]
pub struct LogBatch {
    buf: Vec<u8>,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    stream: u8,
    /// `buf[start..data_end]` is the text, `buf[data_end..end]` the time.
    start: usize,
    data_end: usize,
    end: usize,
}

/// One record of a [`LogBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// 1 = stdout, 2 = stderr.
    pub stream: u8,
    /// RFC 3339 with nanoseconds, as written by the shim.
    pub time: &'a str,
    pub data: &'a [u8],
}

impl LogBatch {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of text and times together.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Appends a record (the reader parses into the buffer directly; this is for the rest).
    pub fn push(&mut self, r: LogRecord<'_>) {
        let start = self.buf.len();
        self.buf.extend_from_slice(r.data);
        let data_end = self.buf.len();
        self.buf.extend_from_slice(r.time.as_bytes());
        self.entries.push(Entry {
            stream: r.stream,
            start,
            data_end,
            end: self.buf.len(),
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = LogRecord<'_>> {
        self.entries.iter().map(|e| LogRecord {
            stream: e.stream,
            time: std::str::from_utf8(&self.buf[e.data_end..e.end]).unwrap_or_default(),
            data: &self.buf[e.start..e.data_end],
        })
    }
}

impl Containers {
    /// Returns whether the container has a TTY (the server then sends raw bytes, not frames) and
    /// the records, in batches.
    pub fn container_logs(
        &self,
        name: &str,
        opts: LogOptions,
    ) -> Result<(bool, mpsc::Receiver<LogBatch>)> {
        let c = self.ctx.resolve_container(name)?;
        if !opts.stdout && !opts.stderr {
            return Err(Error::invalid(
                "Bad parameters: you must choose at least one stream",
            ));
        }
        let (tx, rx) = mpsc::channel(BATCHES_QUEUED);
        let path = self.ctx.log_path(&c.id);
        let follow = if opts.follow {
            // Resolves at once when the container is not running: the log is read to its end.
            let exited = self.wait_container(&c.id, WaitCondition::NotRunning)?;
            let stop = Stop::default();
            let (done, reader_done) = oneshot::channel::<()>();
            let (stopper, client) = (stop.clone(), tx.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = exited => stopper.stop(),
                    () = client.closed() => stopper.stop(),
                    _ = reader_done => {}
                }
            });
            Some((stop, done))
        } else {
            None
        };
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || {
            let stop = follow.as_ref().map(|(s, _)| s);
            if let Err(e) = stream_logs(&path, &opts, &tx, stop) {
                tracing::warn!(container = %id, "reading the log: {e}");
            }
            // Dropping `follow` ends the stop task, and with it the last sender.
            drop(follow);
        });
        Ok((c.config.tty, rx))
    }
}

/// The reading side shared by the history and the follower: parses lines, applies the
/// filters, and sends full batches.
pub(super) struct Reader<'a> {
    opts: &'a LogOptions,
    /// Dropped records until the first at or after it; 0 once one was seen.
    since: i64,
    tx: &'a mpsc::Sender<LogBatch>,
    batch: LogBatch,
}

impl<'a> Reader<'a> {
    fn new(opts: &'a LogOptions, tx: &'a mpsc::Sender<LogBatch>) -> Reader<'a> {
        Reader {
            opts,
            since: opts.since,
            tx,
            batch: LogBatch::default(),
        }
    }

    /// Takes one line of the file; false when reading must stop (past `until`, or the client
    /// left).
    pub(super) fn line(&mut self, line: &[u8]) -> bool {
        let buf = &mut self.batch.buf;
        let start = buf.len();
        let Some(head) = record::parse(line, buf) else {
            return true;
        };
        if self.since > 0 || self.opts.until > 0 {
            let t = record::unix_nanos(&head.time).unwrap_or(0);
            if self.since > 0 {
                if t < self.since {
                    buf.truncate(start);
                    return true;
                }
                self.since = 0;
            }
            if self.opts.until > 0 && t > self.opts.until {
                buf.truncate(start);
                return false;
            }
        }
        let wanted = if head.stream == 1 {
            self.opts.stdout
        } else {
            self.opts.stderr
        };
        if !wanted {
            buf.truncate(start);
            return true;
        }
        let data_end = buf.len();
        buf.extend_from_slice(head.time.as_bytes());
        let end = buf.len();
        self.batch.entries.push(Entry {
            stream: head.stream,
            start,
            data_end,
            end,
        });
        end < BATCH_BYTES || self.send()
    }

    /// Sends what is batched; false when the client has left.
    pub(super) fn send(&mut self) -> bool {
        if self.batch.is_empty() {
            return !self.tx.is_closed();
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch.buf.reserve(BATCH_BYTES + BATCH_BYTES / 4);
        self.tx.blocking_send(batch).is_ok()
    }
}

fn stream_logs(
    path: &Path,
    opts: &LogOptions,
    tx: &mpsc::Sender<LogBatch>,
    stop: Option<&Stop>,
) -> Result<()> {
    let (mut sections, has_live) = files::open_all(path)?;
    let mut r = Reader::new(opts, tx);
    let mut buf = Vec::new();
    let mut live_off = 0;
    if opts.tail != Some(0) {
        if let Some(n) = opts.tail {
            files::tail(&mut sections, n)?;
        }
        let last = sections.len().wrapping_sub(1);
        for (i, s) in sections.iter().enumerate() {
            let (off, stopped) =
                read_lines(&s.file, s.start, Some(s.end), &mut buf, |l| r.line(l))?;
            if stopped {
                r.send();
                return Ok(());
            }
            if has_live && i == last {
                live_off = off;
            }
        }
    } else if let Some(s) = sections.last().filter(|_| has_live) {
        live_off = files::line_end(&s.file, s.end)?;
    }
    if !r.send() {
        return Ok(());
    }
    let Some(stop) = stop else {
        return Ok(());
    };
    let live = if has_live {
        sections.pop().map(|s| s.file)
    } else {
        None
    };
    follow::follow(&mut r, path, live, live_off, &mut buf, stop)
}

/// The log as it was at one moment, for `attach` with `logs`: open handles on its files, oldest
/// first, each to be read only up to the length it had then. Holding the files open means a
/// rotation (a rename) cannot pull one away between taking the snapshot and reading it.
pub(crate) struct LogSnapshot {
    path: PathBuf,
    files: Vec<(File, u64)>,
}

impl LogSnapshot {
    pub(crate) fn take(path: &Path) -> LogSnapshot {
        let files = files::open_all(path)
            .map(|(sections, _)| sections.into_iter().map(|s| (s.file, s.end)).collect())
            .unwrap_or_default();
        LogSnapshot {
            path: path.to_path_buf(),
            files,
        }
    }

    /// Moves the end of the snapshot to now: what was appended since counts, and so does a live
    /// file that a rotation (or a first start) has put in place since.
    pub(crate) fn extend_to_now(&mut self) {
        for (f, len) in &mut self.files {
            if let Ok(m) = f.metadata() {
                *len = m.len();
            }
        }
        let last = self.files.last().and_then(|(f, _)| f.metadata().ok());
        let same = |m: &std::fs::Metadata| {
            last.as_ref()
                .is_some_and(|l| l.dev() == m.dev() && l.ino() == m.ino())
        };
        if let Ok(f) = File::open(&self.path)
            && let Ok(m) = f.metadata()
            && !same(&m)
        {
            self.files.push((f, m.len()));
        }
    }

    /// The lines of the streams `opts` selects, in the order they were logged.
    pub(crate) fn replay(self, opts: LogOptions) -> mpsc::Receiver<LogLine> {
        let (tx, rx) = mpsc::channel(256);
        tokio::task::spawn_blocking(move || {
            let mut buf = Vec::new();
            for (f, len) in self.files {
                let sent = read_lines(&f, 0, Some(len), &mut buf, |line| {
                    let mut data = Vec::new();
                    let Some(head) = record::parse(line, &mut data) else {
                        return true;
                    };
                    let wanted = if head.stream == 1 {
                        opts.stdout
                    } else {
                        opts.stderr
                    };
                    !wanted
                        || tx
                            .blocking_send(LogLine {
                                stream: head.stream,
                                time: head.time.into_owned(),
                                data,
                            })
                            .is_ok()
                });
                if !matches!(sent, Ok((_, false))) {
                    return;
                }
            }
        });
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entry(i: usize, stream: &str, sec: u32) -> String {
        format!(
            "{{\"log\":\"line {i}\\n\",\"stream\":\"{stream}\",\"time\":\"2024-01-01T00:00:{sec:02}.5Z\"}}\n"
        )
    }

    /// A log of `n` lines rotated into files of `per_file` lines (the newest partly written),
    /// stderr every 10th line, one second apart.
    fn write_log(dir: &Path, n: usize, per_file: usize) -> PathBuf {
        let p = dir.join("c-json.log");
        let chunks: Vec<Vec<usize>> = (0..n)
            .collect::<Vec<_>>()
            .chunks(per_file)
            .map(<[usize]>::to_vec)
            .collect();
        for (k, lines) in chunks.iter().rev().enumerate() {
            let name = if k == 0 {
                p.clone()
            } else {
                files::numbered(&p, k as u32)
            };
            let mut f = std::fs::File::create(name).unwrap();
            for &i in lines {
                let stream = if i % 10 == 9 { "stderr" } else { "stdout" };
                f.write_all(entry(i, stream, (i % 60) as u32).as_bytes())
                    .unwrap();
            }
            if k == 0 {
                f.write_all(b"{\"log\":\"still being wri").unwrap();
            }
        }
        p
    }

    fn read(path: &Path, opts: LogOptions) -> Vec<(u8, String)> {
        let (tx, mut rx) = mpsc::channel(1024);
        let t = std::thread::spawn({
            let path = path.to_path_buf();
            move || stream_logs(&path, &opts, &tx, None).unwrap()
        });
        let mut got = Vec::new();
        while let Some(b) = rx.blocking_recv() {
            for r in b.iter() {
                got.push((r.stream, String::from_utf8(r.data.to_vec()).unwrap()));
            }
        }
        t.join().unwrap();
        got
    }

    fn all() -> LogOptions {
        LogOptions {
            stdout: true,
            stderr: true,
            ..LogOptions::default()
        }
    }

    #[test]
    fn reads_rotated_files_in_order_without_the_unfinished_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_log(dir.path(), 50, 7);
        let got = read(&p, all());
        assert_eq!(got.len(), 50);
        for (i, (stream, text)) in got.iter().enumerate() {
            assert_eq!(text, &format!("line {i}\n"));
            assert_eq!(*stream, if i % 10 == 9 { 2 } else { 1 });
        }
        let only_err = read(
            &p,
            LogOptions {
                stdout: false,
                ..all()
            },
        );
        assert_eq!(only_err.len(), 5);
    }

    #[test]
    fn tail_spans_rotated_files_and_counts_both_streams() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_log(dir.path(), 50, 7);
        let texts = |v: Vec<(u8, String)>| v.into_iter().map(|(_, t)| t).collect::<Vec<_>>();
        let got = texts(read(
            &p,
            LogOptions {
                tail: Some(10),
                ..all()
            },
        ));
        assert_eq!(
            got,
            (40..50).map(|i| format!("line {i}\n")).collect::<Vec<_>>()
        );
        // Line 49 is stderr: the tail counts it, stdout-only shows 9 lines.
        let got = read(
            &p,
            LogOptions {
                tail: Some(10),
                stderr: false,
                ..all()
            },
        );
        assert_eq!(got.len(), 9);
        assert_eq!(
            read(
                &p,
                LogOptions {
                    tail: Some(0),
                    ..all()
                }
            )
            .len(),
            0
        );
        assert_eq!(
            read(
                &p,
                LogOptions {
                    tail: Some(500),
                    ..all()
                }
            )
            .len(),
            50
        );
    }

    #[test]
    fn since_and_until_like_docker() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_log(dir.path(), 50, 7);
        let at = |sec: i64| (1_704_067_200 + sec) * 1_000_000_000;
        // since 00:00:10: from line 10 on; until 00:00:20.5 (inclusive): up to line 20.
        let got = read(
            &p,
            LogOptions {
                since: at(10),
                until: at(20) + 500_000_000,
                ..all()
            },
        );
        let texts: Vec<_> = got.into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            texts,
            (10..=20).map(|i| format!("line {i}\n")).collect::<Vec<_>>()
        );
        // tail first, then since.
        let got = read(
            &p,
            LogOptions {
                tail: Some(5),
                since: at(47),
                ..all()
            },
        );
        assert_eq!(got.len(), 3);
    }
}
