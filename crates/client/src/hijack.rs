//! Hijacked connections: `attach` and `exec start` turn their HTTP connection into a raw,
//! two-way byte stream.
//!
//! Docker asks for the switch with `Connection: Upgrade` / `Upgrade: tcp` and a daemon answers
//! `101 Switching Protocols`; daemons from before the upgrade handshake answer `200` and then
//! simply stop speaking HTTP. Both are handled the same way here, which is why the exchange is
//! written by hand on the socket instead of through hyper: hyper can only take over a connection
//! after a `101`. What comes back owns the socket, so closing the write half (`shutdown`) sends
//! the container its end-of-input while its output keeps flowing.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Uri};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::client::{Client, USER_AGENT_VALUE};
use crate::conn::Conn;
use crate::error::{Error, Result, api_error};

/// The `Content-Type` of a stream whose frames carry 8-byte stdout/stderr headers.
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";
/// The `Content-Type` of a stream of raw terminal bytes (a TTY container).
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";

/// A response head larger than this is not a Docker daemon talking.
const MAX_HEAD: usize = 64 * 1024;

/// A hijacked connection: the response head, then the raw stream in both directions.
///
/// Reads first return whatever arrived together with the response head, then read the socket.
/// `shutdown` closes only the write half.
pub struct Hijacked {
    status: StatusCode,
    headers: HeaderMap,
    buffered: Bytes,
    conn: Conn,
}

impl Hijacked {
    /// `101` for an upgraded connection, `200` from a daemon that predates the handshake.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// True when the daemon said the output is multiplexed (non-TTY); `None` when it did not
    /// say (older daemons), in which case the container's `Config.Tty` decides.
    pub fn multiplexed(&self) -> Option<bool> {
        content_type_kind(&self.headers)
    }
}

/// Reads the stream kind from a `Content-Type` header, if it names one.
pub fn content_type_kind(headers: &HeaderMap) -> Option<bool> {
    let ct = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    if ct.starts_with(MULTIPLEXED_STREAM) {
        Some(true)
    } else if ct.starts_with(RAW_STREAM) {
        Some(false)
    } else {
        None
    }
}

impl Client {
    /// `POST`s to `path_and_query` asking to upgrade the connection (attach, exec start) and
    /// returns the raw stream once the daemon agreed with `101` or `200`. Any other status is
    /// an [`Error::Api`] carrying Docker's message, exactly as for ordinary requests.
    pub async fn hijack(&self, path_and_query: &str, body: Option<&Value>) -> Result<Hijacked> {
        let uri = format!("/v{}{}", self.api_version(), path_and_query);
        Uri::try_from(uri.as_str()).map_err(http::Error::from)?;
        let body = match body {
            Some(v) => serde_json::to_vec(v)?,
            None => Vec::new(),
        };
        let mut head = format!(
            "POST {uri} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT_VALUE}\r\n\
             Connection: Upgrade\r\nUpgrade: tcp\r\n",
            self.host().header_value()
        );
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        tracing::debug!(method = "POST", %uri, "hijack request");

        let mut conn = self.connect().await?;
        let mut request = head.into_bytes();
        request.extend_from_slice(&body);
        conn.write_all(&request).await?;
        conn.flush().await?;

        let (status, headers, rest) = read_head(&mut conn).await?;
        tracing::debug!(%status, "hijack response");
        if status == StatusCode::SWITCHING_PROTOCOLS || status == StatusCode::OK {
            return Ok(Hijacked {
                status,
                headers,
                buffered: rest.freeze(),
                conn,
            });
        }
        let body = read_error_body(&mut conn, &headers, rest).await?;
        Err(api_error(status, &body))
    }
}

/// Reads up to the blank line that ends the response head; returns the bytes read past it.
async fn read_head(conn: &mut Conn) -> Result<(StatusCode, HeaderMap, BytesMut)> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = buf.split_to(end + 4);
            let (status, headers) = parse_head(&head[..end])?;
            return Ok((status, headers, buf));
        }
        if buf.len() > MAX_HEAD {
            return Err(protocol("response head too large"));
        }
        if conn.read_buf(&mut buf).await? == 0 {
            return Err(protocol("connection closed before the response head"));
        }
    }
}

fn protocol(what: &str) -> Error {
    Error::Protocol(what.to_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses `HTTP/1.x NNN reason` and the header lines.
pub(crate) fn parse_head(head: &[u8]) -> Result<(StatusCode, HeaderMap)> {
    let text = std::str::from_utf8(head).map_err(|_| protocol("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(protocol("not an HTTP/1 response"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| protocol("invalid status line"))?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(protocol("invalid header line"));
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| protocol("invalid header name"))?;
        let value =
            HeaderValue::from_str(value.trim()).map_err(|_| protocol("invalid header value"))?;
        headers.append(name, value);
    }
    Ok((status, headers))
}

/// Reads the body of a refused hijack: `Content-Length` bytes, a chunked body, or everything
/// up to the close.
async fn read_error_body(conn: &mut Conn, headers: &HeaderMap, rest: BytesMut) -> Result<Vec<u8>> {
    let mut body = rest.to_vec();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(len) = header("content-length").and_then(|v| v.trim().parse::<usize>().ok()) {
        while body.len() < len {
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(len);
        return Ok(body);
    }
    conn.read_to_end(&mut body).await?;
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return Ok(dechunk(&body));
    }
    Ok(body)
}

/// Decodes a complete chunked body (best effort: a malformed one yields what was decoded).
pub(crate) fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(data, b"\r\n") {
        let size_text = std::str::from_utf8(&data[..eol]).unwrap_or("0");
        let size_text = size_text.split(';').next().unwrap_or("0").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            out.extend_from_slice(&data[..size.min(data.len())]);
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
    out
}

impl AsyncRead for Hijacked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.buffered.is_empty() {
            let n = self.buffered.len().min(buf.remaining());
            buf.put_slice(&self.buffered[..n]);
            self.buffered.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.conn).poll_read(cx, buf)
    }
}

impl AsyncWrite for Hijacked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.conn).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.conn).poll_flush(cx)
    }

    /// Half-closes: the daemon sees end-of-input, output keeps arriving.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.conn).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let (status, headers) = parse_head(
            b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp",
        )
        .unwrap();
        assert_eq!(status, StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(content_type_kind(&headers), Some(false));
        let (status, headers) = parse_head(b"HTTP/1.0 200 OK").unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type_kind(&headers), None);
        assert!(parse_head(b"SSH-2.0-OpenSSH").is_err());
        assert!(parse_head(b"HTTP/1.1 abc x").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nno colon").is_err());
    }

    #[test]
    fn dechunks() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"),
            b"hello world"
        );
        assert_eq!(dechunk(b"5\r\nhel"), b"hel");
        assert_eq!(dechunk(b"zz\r\n"), b"");
    }
}
