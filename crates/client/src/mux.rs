//! Docker's multiplexed stream format (moby `stdcopy`).
//!
//! A non-TTY container's output interleaves stdout and stderr on one connection. Each frame is
//! an 8-byte header — the stream (`0` stdin, `1` stdout, `2` stderr, `3` a daemon error), three
//! zero bytes, and the payload length as a big-endian `u32` — followed by the payload. Reads
//! split frames anywhere, so the decoder keeps its place between chunks and hands payload on as
//! it arrives instead of buffering whole frames (a frame may be up to 4 GiB).

use bytes::{Bytes, BytesMut};

use crate::error::{Error, Result};

const HEADER_LEN: usize = 8;
/// The stream number moby uses for errors it reports in-band.
const SYSTEM_ERR: u8 = 3;

/// Where a piece of payload belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// Stream 0 (stdin echoed back) and 1 both go to stdout, as in `stdcopy.StdCopy`.
    Stdout,
    Stderr,
}

#[derive(Debug)]
enum State {
    /// Collecting a header; `header` holds the bytes seen so far.
    Header,
    /// Passing on `remaining` payload bytes of a stdout/stderr frame.
    Payload { kind: StreamKind, remaining: usize },
    /// Collecting the payload of a system-error frame, which becomes an error at its end.
    SystemErr { remaining: usize },
}

/// Incremental decoder: feed chunks in, get `(stream, payload)` pieces out.
#[derive(Debug)]
pub struct Demuxer {
    state: State,
    header: Vec<u8>,
    error: BytesMut,
}

impl Default for Demuxer {
    fn default() -> Self {
        Demuxer {
            state: State::Header,
            header: Vec::with_capacity(HEADER_LEN),
            error: BytesMut::new(),
        }
    }
}

impl Demuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `chunk`, appending the payload pieces it completes to `out` (zero-length frames
    /// produce nothing). An unknown stream number, or a daemon error frame, is an error.
    pub fn push(&mut self, mut chunk: Bytes, out: &mut Vec<(StreamKind, Bytes)>) -> Result<()> {
        while !chunk.is_empty() {
            match &mut self.state {
                State::Header => {
                    let need = HEADER_LEN - self.header.len();
                    let take = need.min(chunk.len());
                    self.header.extend_from_slice(&chunk.split_to(take));
                    if self.header.len() == HEADER_LEN {
                        self.state = self.parse_header()?;
                        self.header.clear();
                        self.finish_error_if_done()?;
                    }
                }
                State::Payload { kind, remaining } => {
                    let take = (*remaining).min(chunk.len());
                    out.push((*kind, chunk.split_to(take)));
                    *remaining -= take;
                    if *remaining == 0 {
                        self.state = State::Header;
                    }
                }
                State::SystemErr { remaining } => {
                    let take = (*remaining).min(chunk.len());
                    self.error.extend_from_slice(&chunk.split_to(take));
                    *remaining -= take;
                    self.finish_error_if_done()?;
                }
            }
        }
        Ok(())
    }

    fn parse_header(&self) -> Result<State> {
        let h = &self.header;
        let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let state = match h[0] {
            0 | 1 => State::Payload {
                kind: StreamKind::Stdout,
                remaining: len,
            },
            2 => State::Payload {
                kind: StreamKind::Stderr,
                remaining: len,
            },
            SYSTEM_ERR => State::SystemErr { remaining: len },
            other => {
                return Err(Error::Stream {
                    message: format!("Unrecognized input header: {other}"),
                });
            }
        };
        Ok(match state {
            State::Payload { remaining: 0, .. } => State::Header,
            s => s,
        })
    }

    fn finish_error_if_done(&mut self) -> Result<()> {
        if let State::SystemErr { remaining: 0 } = self.state {
            let message = String::from_utf8_lossy(&self.error).into_owned();
            self.error.clear();
            self.state = State::Header;
            return Err(Error::Stream {
                message: format!("error from daemon in stream: {message}"),
            });
        }
        Ok(())
    }

    /// True when the stream may end here: not inside a header or a payload.
    pub fn at_boundary(&self) -> bool {
        matches!(self.state, State::Header) && self.header.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// Feeds `data` cut at every `step` bytes; returns the concatenated stdout and stderr.
    fn run(data: &[u8], step: usize) -> Result<(Vec<u8>, Vec<u8>, bool)> {
        let mut d = Demuxer::new();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for piece in data.chunks(step) {
            let mut pieces = Vec::new();
            d.push(Bytes::copy_from_slice(piece), &mut pieces)?;
            for (kind, bytes) in pieces {
                assert!(!bytes.is_empty(), "empty pieces are never handed out");
                match kind {
                    StreamKind::Stdout => out.extend_from_slice(&bytes),
                    StreamKind::Stderr => err.extend_from_slice(&bytes),
                }
            }
        }
        Ok((out, err, d.at_boundary()))
    }

    #[test]
    fn splits_anywhere_and_skips_empty_frames() {
        let mut data = frame(1, b"hello ");
        data.extend(frame(2, b"oops\n"));
        data.extend(frame(1, b""));
        data.extend(frame(0, b"world\n"));
        data.extend(frame(2, b""));
        for step in [1, 2, 3, 7, 8, 9, 13, data.len()] {
            let (out, err, boundary) = run(&data, step).unwrap();
            assert_eq!(out, b"hello world\n", "step {step}");
            assert_eq!(err, b"oops\n", "step {step}");
            assert!(boundary);
        }
    }

    #[test]
    fn partial_frames_are_not_a_boundary() {
        let data = frame(1, b"abcdef");
        let (out, _, boundary) = run(&data[..10], 4).unwrap();
        assert_eq!(out, b"ab");
        assert!(!boundary);
        let (_, _, boundary) = run(&data[..3], 1).unwrap();
        assert!(!boundary);
    }

    #[test]
    fn large_frame_streams_through() {
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let data = frame(1, &payload);
        let (out, err, _) = run(&data, 65_536).unwrap();
        assert_eq!(out, payload);
        assert!(err.is_empty());
    }

    #[test]
    fn system_errors_and_unknown_streams_fail() {
        let mut data = frame(1, b"ok");
        data.extend(frame(3, b"boom"));
        let err = run(&data, 3).unwrap_err();
        assert_eq!(err.to_string(), "error from daemon in stream: boom");
        let err = run(&frame(9, b"x"), 8).unwrap_err();
        assert_eq!(err.to_string(), "Unrecognized input header: 9");
    }
}
