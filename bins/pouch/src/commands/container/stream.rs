//! Copying between the local terminal and a hijacked attach/exec connection (docker's
//! `hijackedIOStreamer`).
//!
//! Output is copied until the daemon closes the stream: raw for a TTY, demultiplexed onto
//! stdout and stderr otherwise. Input (when asked for) is read from stdin and sent until end of
//! input, then the write half is closed so the container sees EOF — and the write half is
//! closed at once when there is no input, as docker does. With a TTY, the detach keys
//! (ctrl-p ctrl-q unless told otherwise) are caught here and end the attachment.

use std::io::Read;

use anyhow::{Context, Result};
use bytes::Bytes;
use pouch_client::{Demuxer, Hijacked, StreamKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::tty::RawMode;

/// docker's default detach sequence: ctrl-p, ctrl-q.
const DEFAULT_DETACH_KEYS: &[u8] = &[16, 17];

/// What to copy.
#[derive(Debug, Clone, Default)]
pub struct Streams {
    /// Forward local stdin to the container.
    pub stdin: bool,
    /// The container has a TTY: raw output, and raw mode on the local terminal.
    pub tty: bool,
    /// `--detach-keys`, if given.
    pub detach_keys: Option<String>,
}

/// How an attachment ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The daemon closed the output: the process ended (or closed its output).
    Finished,
    /// The user typed the detach keys.
    Detached,
}

/// Copies until the output ends or the user detaches; the terminal is back to normal when
/// this returns, whatever happened.
pub async fn stream(conn: Hijacked, streams: &Streams) -> Result<Outcome> {
    let multiplexed = conn.multiplexed().unwrap_or(!streams.tty);
    let raw = if streams.stdin && streams.tty {
        RawMode::enable().context("unable to set the terminal to raw mode")?
    } else {
        None
    };
    let escape =
        (streams.stdin && streams.tty).then(|| detach_keys(streams.detach_keys.as_deref()));
    let (reader, writer) = tokio::io::split(conn);
    let output = copy_output(reader, multiplexed);
    let input = send_input(writer, streams.stdin, escape);
    tokio::pin!(output, input);
    let result = tokio::select! {
        r = &mut output => r.map(|()| Outcome::Finished),
        detached = &mut input => {
            if detached {
                Ok(Outcome::Detached)
            } else {
                output.await.map(|()| Outcome::Finished)
            }
        }
    };
    drop(raw);
    result
}

/// Parses `--detach-keys` like docker's `term.ToBytes` (`ctrl-p,ctrl-q`, `a`, `ctrl-@`…),
/// warning and falling back to the default when it makes no sense.
pub fn detach_keys(spec: Option<&str>) -> Vec<u8> {
    let Some(spec) = spec.filter(|s| !s.is_empty()) else {
        return DEFAULT_DETACH_KEYS.to_vec();
    };
    match parse_keys(spec) {
        Ok(keys) => keys,
        Err(e) => {
            eprintln!("WARNING: invalid detach escape keys, using default: {e}");
            DEFAULT_DETACH_KEYS.to_vec()
        }
    }
}

fn parse_keys(spec: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        if key.len() == 1 {
            out.push(key.as_bytes()[0]);
            continue;
        }
        let code = match key.strip_prefix("ctrl-").map(str::as_bytes) {
            Some([c @ b'a'..=b'z']) => c - b'a' + 1,
            Some([b'@']) => 0,
            Some([b'[']) => 27,
            Some([b'\\']) => 28,
            Some([b']']) => 29,
            Some([b'^']) => 30,
            Some([b'_']) => 31,
            _ if key == "DEL" => 127,
            _ => anyhow::bail!("Unknown character: '{key}'"),
        };
        out.push(code);
    }
    Ok(out)
}

/// Holds back keys that may be the start of the detach sequence; gives them up when the
/// sequence breaks off, reports detach when it completes.
#[derive(Debug)]
pub struct EscapeFilter {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeFilter {
    pub fn new(keys: Vec<u8>) -> Self {
        EscapeFilter { keys, matched: 0 }
    }

    /// The bytes to forward for `input`, and whether the detach sequence was completed (the
    /// sequence itself is never forwarded).
    pub fn filter(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

async fn copy_output<R: AsyncRead + Unpin>(mut reader: R, multiplexed: bool) -> Result<()> {
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let mut demux = Demuxer::new();
    let mut buf = vec![0u8; 32 * 1024];
    let mut pieces = Vec::new();
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            // A daemon that resets the connection after the last frame ended the stream.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e).context("reading from the container"),
        };
        if !multiplexed {
            stdout.write_all(&buf[..n]).await?;
            stdout.flush().await?;
            continue;
        }
        demux.push(Bytes::copy_from_slice(&buf[..n]), &mut pieces)?;
        write_pieces(&mut pieces, &mut stdout, &mut stderr).await?;
    }
}

/// Writes demultiplexed pieces to stdout/stderr, flushing each stream it wrote to.
pub async fn write_pieces<O, E>(
    pieces: &mut Vec<(StreamKind, Bytes)>,
    stdout: &mut O,
    stderr: &mut E,
) -> Result<()>
where
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    let (mut out, mut err) = (false, false);
    for (kind, bytes) in pieces.drain(..) {
        match kind {
            StreamKind::Stdout => {
                stdout.write_all(&bytes).await?;
                out = true;
            }
            StreamKind::Stderr => {
                stderr.write_all(&bytes).await?;
                err = true;
            }
        }
    }
    if out {
        stdout.flush().await?;
    }
    if err {
        stderr.flush().await?;
    }
    Ok(())
}

/// Sends stdin (when asked) and then half-closes; true when the user detached.
async fn send_input<W: AsyncWrite + Unpin>(
    mut writer: W,
    stdin: bool,
    escape: Option<Vec<u8>>,
) -> bool {
    if stdin {
        let mut filter = escape.map(EscapeFilter::new);
        let mut rx = read_stdin();
        while let Some(chunk) = rx.recv().await {
            let (data, detached) = match &mut filter {
                Some(f) => f.filter(&chunk),
                None => (chunk.to_vec(), false),
            };
            if !data.is_empty() && writer.write_all(&data).await.is_err() {
                break;
            }
            if detached {
                return true;
            }
        }
    }
    let _ = writer.shutdown().await;
    false
}

/// Reads stdin on a plain thread, so a read that never returns (a quiet terminal) cannot keep
/// the runtime alive once the container is gone; the channel closes at end of input.
fn read_stdin() -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(8);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_detach_keys() {
        assert_eq!(parse_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(
            parse_keys("ctrl-@,a,ctrl-\\,DEL").unwrap(),
            vec![0, b'a', 28, 127]
        );
        assert_eq!(
            parse_keys("ctrl-P").unwrap_err().to_string(),
            "Unknown character: 'ctrl-P'"
        );
        assert_eq!(detach_keys(None), DEFAULT_DETACH_KEYS);
        assert_eq!(detach_keys(Some("nonsense")), DEFAULT_DETACH_KEYS);
        assert_eq!(detach_keys(Some("ctrl-x")), vec![24]);
    }

    #[test]
    fn escape_filter_holds_and_releases() {
        let mut f = EscapeFilter::new(vec![16, 17]);
        assert_eq!(f.filter(b"ab"), (b"ab".to_vec(), false));
        // The first key is held back…
        assert_eq!(f.filter(&[16]), (vec![], false));
        // …and released when the next key breaks the sequence.
        assert_eq!(f.filter(b"x"), (vec![16, b'x'], false));
        // A repeated first key restarts the match.
        assert_eq!(f.filter(&[16, 16]), (vec![16], false));
        assert_eq!(f.filter(&[17, b'z']), (vec![], true));
        // Whole sequence in one read, with text before it.
        let mut f = EscapeFilter::new(vec![16, 17]);
        assert_eq!(f.filter(&[b'l', b's', 16, 17]), (b"ls".to_vec(), true));
        let mut none = EscapeFilter::new(vec![]);
        assert_eq!(none.filter(&[16, 17]), (vec![16, 17], false));
    }

    #[tokio::test]
    async fn pieces_go_to_their_stream() {
        let mut pieces = vec![
            (StreamKind::Stdout, Bytes::from_static(b"out1 ")),
            (StreamKind::Stderr, Bytes::from_static(b"err")),
            (StreamKind::Stdout, Bytes::from_static(b"out2")),
        ];
        let (mut out, mut err) = (Vec::new(), Vec::new());
        write_pieces(&mut pieces, &mut out, &mut err).await.unwrap();
        assert_eq!(out, b"out1 out2");
        assert_eq!(err, b"err");
        assert!(pieces.is_empty());
    }
}
