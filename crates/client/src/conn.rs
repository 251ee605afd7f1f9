//! One connection to the daemon: a unix socket, plain TCP, or TCP with TLS (docker's `--tls`,
//! `--tlsverify`). Ordinary requests and hijacked ones (attach, exec) open it the same way.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::host::Host;

pub(crate) enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Client {
    /// Connects to the daemon; over TCP with TLS configured, the handshake is done (and the
    /// daemon's certificate checked, with `--tlsverify`) before this returns.
    pub(crate) async fn connect(&self) -> Result<Conn> {
        let connect_err = |cause| Error::Connect {
            host: self.host().to_string(),
            cause,
        };
        match self.host() {
            Host::Unix(path) => Ok(Conn::Unix(
                UnixStream::connect(path).await.map_err(connect_err)?,
            )),
            Host::Tcp { authority } => {
                let tcp = TcpStream::connect(authority.as_str())
                    .await
                    .map_err(connect_err)?;
                // Small requests should not wait for Nagle; uploads are large writes anyway.
                let _ = tcp.set_nodelay(true);
                let Some(tls) = self.tls() else {
                    return Ok(Conn::Tcp(tcp));
                };
                let stream = tls
                    .connector
                    .connect(tls.server_name.clone(), tcp)
                    .await
                    .map_err(|cause| Error::Tls {
                        host: self.host().to_string(),
                        cause,
                    })?;
                Ok(Conn::Tls(Box::new(stream)))
            }
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    /// Closes the write half only: over TLS, a close_notify and then the TCP write side, as
    /// docker's `CloseWrite`; the daemon sees end-of-input while its output keeps arriving.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
