//! `GET /containers/{id}/logs`: reads the json-file log the shim writes (rotated files first,
//! oldest to newest) and, with `follow`, keeps reading until the container stops. Also the
//! history that `attach` with `logs` replays ([`LogSnapshot`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use crate::Containers;
use crate::error::{Error, Result};

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

/// One log record.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// 1 = stdout, 2 = stderr.
    pub stream: u8,
    /// RFC 3339 with nanoseconds, as written by the shim.
    pub time: String,
    pub data: Vec<u8>,
}

#[derive(Deserialize)]
struct Record {
    log: String,
    stream: String,
    time: String,
}

impl Containers {
    /// Returns whether the container has a TTY (the server then sends raw bytes, not frames) and
    /// the lines.
    pub fn container_logs(
        &self,
        name: &str,
        opts: LogOptions,
    ) -> Result<(bool, mpsc::Receiver<LogLine>)> {
        let c = self.ctx.resolve_container(name)?;
        if !opts.stdout && !opts.stderr {
            return Err(Error::invalid(
                "Bad parameters: you must choose at least one stream",
            ));
        }
        let (tx, rx) = mpsc::channel(256);
        let path = self.ctx.log_path(&c.id);
        let engine = self.clone();
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || {
            let _ = stream_logs(&engine, &id, &path, &opts, &tx);
        });
        Ok((c.config.tty, rx))
    }
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
        let files = files(path)
            .iter()
            .filter_map(|p| File::open(p).ok())
            .filter_map(|f| {
                let len = f.metadata().ok()?.len();
                Some((f, len))
            })
            .collect();
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
            for (f, len) in self.files {
                let sent = for_each_line(f.take(len), |line| {
                    parse(line, &opts).is_none_or(|l| tx.blocking_send(l).is_ok())
                });
                if !matches!(sent, Ok((_, false))) {
                    return;
                }
            }
        });
        rx
    }
}

fn files(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = (1..100)
        .map(|i| PathBuf::from(format!("{}.{i}", path.display())))
        .take_while(|p| p.exists())
        .collect();
    rotated.reverse();
    rotated.push(path.to_path_buf());
    rotated
}

/// Calls `each` with every complete line of `r` (without its '\n') until it returns false; a
/// last line without its '\n' is one the shim is still writing, and is left for later. Returns
/// the bytes consumed and whether `each` stopped the reading.
fn for_each_line(r: impl Read, mut each: impl FnMut(&str) -> bool) -> Result<(u64, bool)> {
    let mut r = BufReader::new(r);
    let mut buf = String::new();
    let mut consumed = 0u64;
    loop {
        buf.clear();
        let n = r.read_line(&mut buf)?;
        if n == 0 || !buf.ends_with('\n') {
            return Ok((consumed, false));
        }
        consumed += n as u64;
        if !each(buf.trim_end_matches('\n')) {
            return Ok((consumed, true));
        }
    }
}

fn parse(line: &str, opts: &LogOptions) -> Option<LogLine> {
    let r: Record = serde_json::from_str(line).ok()?;
    let stream = match r.stream.as_str() {
        "stdout" if opts.stdout => 1,
        "stderr" if opts.stderr => 2,
        _ => return None,
    };
    if opts.since > 0 || opts.until > 0 {
        let t =
            time::OffsetDateTime::parse(&r.time, &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp_nanos() as i64)
                .unwrap_or(0);
        if (opts.since > 0 && t < opts.since) || (opts.until > 0 && t > opts.until) {
            return None;
        }
    }
    Some(LogLine {
        stream,
        time: r.time,
        data: r.log.into_bytes(),
    })
}

fn stream_logs(
    engine: &Containers,
    id: &str,
    path: &Path,
    opts: &LogOptions,
    tx: &mpsc::Sender<LogLine>,
) -> Result<()> {
    let mut lines: Vec<LogLine> = Vec::new();
    let send = |l: LogLine, lines: &mut Vec<LogLine>| -> bool {
        if opts.tail.is_some() {
            lines.push(l);
            true
        } else {
            tx.blocking_send(l).is_ok()
        }
    };
    let all = files(path);
    let last = all.len() - 1;
    let mut offset = 0u64;
    for (i, f) in all.iter().enumerate() {
        let Ok(file) = File::open(f) else {
            continue;
        };
        let (n, stopped) = for_each_line(file, |line| {
            parse(line, opts).is_none_or(|l| send(l, &mut lines))
        })?;
        if stopped {
            return Ok(());
        }
        if i == last {
            offset = n;
        }
    }
    if let Some(n) = opts.tail {
        let skip = lines.len().saturating_sub(n);
        for l in lines.drain(..).skip(skip) {
            if tx.blocking_send(l).is_err() {
                return Ok(());
            }
        }
    }
    if !opts.follow {
        return Ok(());
    }
    // Follow: poll the live file until the container is no longer running and nothing is left.
    loop {
        let running = engine
            .ctx
            .store
            .container(id)?
            .is_some_and(|c| c.state.status.is_running());
        let mut progressed = false;
        if let Ok(mut file) = File::open(path) {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if len < offset {
                offset = 0; // rotated
            }
            file.seek(SeekFrom::Start(offset))?;
            let (n, stopped) = for_each_line(file, |line| {
                parse(line, opts).is_none_or(|l| tx.blocking_send(l).is_ok())
            })?;
            if stopped {
                return Ok(());
            }
            offset += n;
            progressed = n > 0;
        }
        if !running && !progressed {
            return Ok(());
        }
        if tx.is_closed() {
            return Ok(());
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
