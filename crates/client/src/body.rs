//! Request and response bodies.
//!
//! Uploads (`docker load`, `docker import`) can be many gigabytes, so a request body is a
//! stream that is pulled as hyper writes, never a buffer; downloads are handed back the same way.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::io::AsyncRead;
use tokio_util::io::ReaderStream;

use crate::error::{Error, Result};

/// Chunk size for file and stdin uploads: large enough that syscalls do not dominate, small
/// enough to keep the client's memory flat.
const UPLOAD_CHUNK: usize = 64 * 1024;

/// A request body: empty, in memory, or streamed from a reader or a stream of chunks.
pub struct Body(UnsyncBoxBody<Bytes, io::Error>);

impl Body {
    pub fn empty() -> Self {
        Body(Empty::new().map_err(|never| match never {}).boxed_unsync())
    }

    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        Body(
            Full::new(bytes.into())
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
    }

    /// Streams a reader (a file, stdin) chunk by chunk; sent with chunked transfer encoding.
    pub fn reader<R: AsyncRead + Send + 'static>(reader: R) -> Self {
        Self::stream(ReaderStream::with_capacity(reader, UPLOAD_CHUNK))
    }

    /// Streams chunks produced elsewhere (for example a tar being built on the fly).
    pub fn stream<S>(stream: S) -> Self
    where
        S: Stream<Item = io::Result<Bytes>> + Send + 'static,
    {
        Body(StreamBody::new(stream.map_ok(Frame::data)).boxed_unsync())
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl From<tokio::fs::File> for Body {
    fn from(file: tokio::fs::File) -> Self {
        Self::reader(file)
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self::bytes(bytes)
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::bytes(bytes)
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// A response body as a stream of chunks, in the order the daemon sent them.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

pub(crate) fn byte_stream(body: Incoming) -> ByteStream {
    body.into_data_stream()
        .map(|r| r.map_err(Error::from))
        .boxed()
}

/// Reads a whole (small) response body into memory.
pub(crate) async fn collect(body: Incoming) -> Result<Bytes> {
    Ok(body.collect().await?.to_bytes())
}
