//! A blob download as a blocking `Read`, for the single-pass layer store. A broken connection or
//! an early end is resumed with a `Range` request from the last byte received (or, from a registry
//! that ignores ranges, by skipping what was already read), a few times with backoff.

use std::io::{self, Read};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::runtime::Handle;

use super::RepoClient;
use crate::digest::Digest;

const RESUMES: u32 = 5;

/// Reads a blob of known size from a registry. Must be used on a blocking thread
/// (`spawn_blocking`): it drives the async body through `handle`.
pub struct BlobReader {
    handle: Handle,
    repo: RepoClient,
    digest: Digest,
    size: u64,
    offset: u64,
    body: Option<Incoming>,
    /// Bytes to throw away from the current body (a registry that answered a range with 200).
    skip: u64,
    chunk: Bytes,
    resumes: u32,
    progress: Box<dyn FnMut(u64) + Send>,
}

impl BlobReader {
    /// `progress` is called with the total bytes received so far.
    pub fn new(
        handle: Handle,
        repo: RepoClient,
        digest: Digest,
        size: u64,
        progress: Box<dyn FnMut(u64) + Send>,
    ) -> BlobReader {
        BlobReader {
            handle,
            repo,
            digest,
            size,
            offset: 0,
            body: None,
            skip: 0,
            chunk: Bytes::new(),
            resumes: 0,
            progress,
        }
    }

    fn open(&mut self) -> io::Result<()> {
        let (repo, digest, offset) = (self.repo.clone(), self.digest.clone(), self.offset);
        let resp = self
            .handle
            .block_on(async move { repo.get_blob(&digest, offset).await })
            .map_err(io::Error::other)?;
        self.skip = if resp.status() == StatusCode::PARTIAL_CONTENT {
            0
        } else {
            offset
        };
        self.body = Some(resp.into_body());
        Ok(())
    }

    /// Drops the broken body and opens a new one from the current offset, or gives up.
    fn resume(&mut self, why: String) -> io::Result<()> {
        self.body = None;
        self.resumes += 1;
        if self.resumes > RESUMES {
            return Err(io::Error::other(format!(
                "download of {} failed after {RESUMES} resumes: {why}",
                self.digest
            )));
        }
        tracing::info!(digest = %self.digest, offset = self.offset, %why, "resuming blob download");
        let wait = Duration::from_millis(300 << self.resumes.min(4));
        let mut last = None;
        // A restarting registry refuses connections for a while; keep trying within the budget.
        for _ in 0..3 {
            self.handle.block_on(tokio::time::sleep(wait));
            match self.open() {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other(why)))
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.chunk.is_empty() {
                let n = buf.len().min(self.chunk.len());
                buf[..n].copy_from_slice(&self.chunk[..n]);
                self.chunk.advance(n);
                self.offset += n as u64;
                (self.progress)(self.offset);
                return Ok(n);
            }
            if self.offset >= self.size {
                return Ok(0);
            }
            if self.body.is_none() {
                if self.offset == 0 && self.resumes == 0 {
                    self.open()?;
                } else {
                    self.resume("connection lost".into())?;
                }
            }
            let body = self.body.as_mut().expect("opened");
            match self.handle.block_on(body.frame()) {
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        if self.skip > 0 {
                            let n = (self.skip as usize).min(data.len());
                            data.advance(n);
                            self.skip -= n as u64;
                        }
                        let left = (self.size - self.offset) as usize;
                        data.truncate(left);
                        self.chunk = data;
                    }
                }
                Some(Err(e)) => self.resume(e.to_string())?,
                None => self.resume(format!(
                    "blob ended after {} of {} bytes",
                    self.offset, self.size
                ))?,
            }
        }
    }
}
