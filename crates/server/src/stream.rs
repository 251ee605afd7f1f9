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

/// Docker's detach-key syntax: comma-separated `ctrl-<x>` or single characters
/// (default `ctrl-p,ctrl-q`).
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let spec = if spec.is_empty() {
        "ctrl-p,ctrl-q"
    } else {
        spec
    };
    spec.split(',')
        .map(|k| {
            let k = k.trim();
            if let Some(c) = k.strip_prefix("ctrl-") {
                let c = c.as_bytes();
                match c {
                    [b'@'] => Ok(0),
                    [x] if x.is_ascii_lowercase() => Ok(x - b'a' + 1),
                    [x] if (b'['..=b'_').contains(x) => Ok(x - b'@'),
                    _ => Err(format!("invalid detach key: {k}")),
                }
            } else if k.len() == 1 {
                Ok(k.as_bytes()[0])
            } else {
                Err(format!("invalid detach key: {k}"))
            }
        })
        .collect()
}

/// Copies client→shim (stdin) and shim→client (output). The client closing its write side
/// closes the container's stdin; the shim ending its stream ends the whole exchange. When the
/// client types `detach` (attach's detach keys), the exchange ends and stdin stays open.
pub async fn relay_upgraded(up: Upgraded, shim: UnixStream, stdin: bool, detach: Option<Vec<u8>>) {
    let client = TokioIo::new(up);
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = shim.into_split();
    let detached = {
        let to_shim = copy_stdin(&mut cr, &mut sw, stdin, detach.as_deref());
        let to_client = async {
            let _ = tokio::io::copy(&mut sr, &mut cw).await;
            let _ = cw.shutdown().await;
        };
        tokio::select! {
            d = to_shim => d,
            _ = to_client => false,
        }
    };
    if detached {
        let _ = cw.shutdown().await;
        // Closing the shim connection would close the container's stdin (the shim cannot tell a
        // close from a half-close), so keep it open, discarding output, until the container ends.
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut sr, &mut tokio::io::sink()).await;
            drop(sw);
        });
    }
}

/// Forwards the client's bytes to the shim until EOF (then half-closes stdin) or until the detach
/// keys arrive (returns true, leaving stdin open).
async fn copy_stdin<R, W>(cr: &mut R, sw: &mut W, stdin: bool, keys: Option<&[u8]>) -> bool
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buf = [0u8; 8192];
    let mut matched = 0usize;
    loop {
        let n = match cr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !stdin {
            continue; // drain and ignore
        }
        let Some(keys) = keys.filter(|k| !k.is_empty()) else {
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            continue;
        };
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if b == keys[matched] {
                matched += 1;
                if matched == keys.len() {
                    let _ = sw.write_all(&out).await;
                    return true;
                }
            } else {
                out.extend_from_slice(&keys[..matched]);
                matched = usize::from(b == keys[0]);
                if matched == 0 {
                    out.push(b);
                }
            }
        }
        if sw.write_all(&out).await.is_err() {
            break;
        }
    }
    if stdin {
        let _ = sw.shutdown().await;
    }
    std::future::pending::<bool>().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("ctrl-[").unwrap(), vec![27]);
        assert!(parse_detach_keys("ctrl-ab").is_err());
        assert!(parse_detach_keys("xy").is_err());
    }

    #[test]
    fn frame_header() {
        assert_eq!(frame(2, b"hi"), vec![2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }
}
