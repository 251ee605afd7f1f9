//! Byte streams shared by attach, exec and logs: Docker's 8-byte frame header and the relay
//! between a hijacked client connection and a shim stream.

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

pub const RAW: &str = "application/vnd.docker.raw-stream";
pub const MUX: &str = "application/vnd.docker.multiplexed-stream";

/// `101 UPGRADED` with `Upgrade: tcp`, as docker answers a hijack.
pub fn switching(ctype: &'static str) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    let mut resp = axum::response::Response::new(axum::body::Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    resp
}

/// A response body fed by `write`, which runs with a writer whose bytes become the body as they are
/// written (`save`, `export`, `cp`). A failure after the first byte aborts the body, so the client
/// sees a truncated transfer rather than a well-formed but partial archive.
pub fn writer_body<F, Fut>(what: &'static str, write: F) -> axum::body::Body
where
    F: FnOnce(Box<dyn std::io::Write + Send>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = pouch_engine::Result<()>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
    let writer = ChannelWriter { tx: tx.clone() };
    tokio::spawn(async move {
        let out = Box::new(std::io::BufWriter::with_capacity(256 * 1024, writer));
        if let Err(e) = write(out).await {
            tracing::error!(error = %e, what, "streamed response failed mid-way");
            let _ = tx.send(Err(std::io::Error::other(e.message))).await;
        }
    });
    axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Hands bytes written on a blocking thread to the response body.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(Ok(bytes::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One multiplexed frame: `[stream, 0, 0, 0, len (u32 BE)]` + payload.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Copies client→shim (stdin) and shim→client (output). The client closing its write side
/// closes the container's stdin; the shim ending its stream ends the whole exchange.
pub async fn relay_upgraded(up: Upgraded, shim: UnixStream, stdin: bool) {
    let client = TokioIo::new(up);
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = shim.into_split();
    let to_shim = async move {
        if stdin {
            let _ = tokio::io::copy(&mut cr, &mut sw).await;
        } else {
            // Drain and ignore whatever the client sends.
            let mut buf = [0u8; 4096];
            while matches!(cr.read(&mut buf).await, Ok(n) if n > 0) {}
        }
        let _ = sw.shutdown().await;
        std::future::pending::<()>().await;
    };
    let to_client = async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    tokio::select! {
        _ = to_shim => {}
        _ = to_client => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header() {
        assert_eq!(frame(2, b"hi"), vec![2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }
}
