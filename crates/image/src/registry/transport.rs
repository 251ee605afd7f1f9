//! One HTTP/1.1 exchange over a fresh connection: TCP (optionally through a CONNECT proxy), TLS
//! with the host's roots plus its certs.d CAs, then hyper.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) type Body = BoxBody<Bytes, io::Error>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Connection settings shared by every request of a client.
pub(crate) struct Transport {
    certs_dir: PathBuf,
    proxy: Option<String>,
    tls: Mutex<HashMap<String, Arc<rustls::ClientConfig>>>,
}

impl Transport {
    pub(crate) fn new(certs_dir: PathBuf, proxy: Option<String>) -> Transport {
        Transport {
            certs_dir,
            proxy,
            tls: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `req` (whose URI is absolute) and returns the response head; the body streams.
    /// `verify: false` accepts any server certificate (insecure registries only).
    pub(crate) async fn send(
        &self,
        mut req: Request<Body>,
        verify: bool,
    ) -> io::Result<Response<Incoming>> {
        let uri = req.uri().clone();
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(io::Error::other(format!("unsupported URL {uri}"))),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| io::Error::other(format!("URL without host: {uri}")))?
            .as_str()
            .to_string();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let target = format!("{}:{port}", host.trim_matches(['[', ']']));
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, self.connect(&target))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connect {target}")))??;
        let stream: Box<dyn Stream> = if https {
            let cfg = self.tls_config(&authority, verify)?;
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| io::Error::other(format!("bad TLS server name {host}: {e}")))?;
            // A server that never answers the handshake (a plain HTTP server that waits for a
            // request line) must not hang the pull: the HTTP fallback needs this to fail.
            let tls = tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio_rustls::TlsConnector::from(cfg).connect(name, tcp),
            )
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        *req.uri_mut() = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(io::Error::other)?;
        req.headers_mut().insert(
            http::header::HOST,
            authority.parse().map_err(io::Error::other)?,
        );
        req.headers_mut().insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(concat!("pouch/", env!("CARGO_PKG_VERSION"))),
        );
        sender.send_request(req).await.map_err(io::Error::other)
    }

    async fn connect(&self, target: &str) -> io::Result<Box<dyn Stream>> {
        let Some(proxy) = &self.proxy else {
            let s = TcpStream::connect(target).await?;
            s.set_nodelay(true)?;
            return Ok(Box::new(s));
        };
        let addr = proxy
            .strip_prefix("http://")
            .unwrap_or(proxy)
            .trim_end_matches('/');
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
            .await?;
        // Read the proxy's answer head byte by byte: nothing after it may be consumed.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > 8192 {
                return Err(io::Error::other("proxy answer too long"));
            }
            head.push(s.read_u8().await?);
        }
        let status = String::from_utf8_lossy(&head);
        let ok = status
            .split_whitespace()
            .nth(1)
            .is_some_and(|code| code == "200");
        if !ok {
            let line = status.lines().next().unwrap_or_default().to_string();
            return Err(io::Error::other(format!(
                "proxy {proxy} refused CONNECT {target}: {line}"
            )));
        }
        Ok(Box::new(s))
    }

    /// System roots plus `<certs_dir>/<host[:port]>/*.crt`, and the client certificate
    /// `<name>.cert` + `<name>.key` found there (docker's certs.d layout); cached per host.
    fn tls_config(&self, authority: &str, verify: bool) -> io::Result<Arc<rustls::ClientConfig>> {
        let key = format!("{authority}|{verify}");
        if let Some(c) = self.tls.lock().expect("tls cache").get(&key) {
            return Ok(c.clone());
        }
        let dir = self.certs_dir.join(authority);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?;
        let builder = if verify {
            let mut roots = rustls::RootCertStore::empty();
            for c in system_roots() {
                let _ = roots.add(c.clone());
            }
            for ca in extra_cas(&dir)? {
                roots
                    .add(ca)
                    .map_err(|e| io::Error::other(format!("CA in {}: {e}", dir.display())))?;
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        };
        let cfg = match client_cert(&dir)? {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                io::Error::other(format!("client certificate in {}: {e}", dir.display()))
            })?,
            None => builder.with_no_client_auth(),
        };
        let cfg = Arc::new(cfg);
        self.tls.lock().expect("tls cache").insert(key, cfg.clone());
        Ok(cfg)
    }
}

/// The first `<name>.cert` in `dir` that has a `<name>.key` beside it. A lone `.cert` or `.key`
/// is an error, as in docker: it is almost certainly a mistake.
fn client_cert(
    dir: &Path,
) -> io::Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut names: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cert" || x == "key"))
        .collect();
    names.sort();
    for p in &names {
        let other = if p.extension().is_some_and(|x| x == "cert") {
            p.with_extension("key")
        } else {
            p.with_extension("cert")
        };
        if !names.contains(&other) {
            return Err(io::Error::other(format!(
                "{} has no matching {}",
                p.display(),
                other.display()
            )));
        }
    }
    let Some(cert) = names
        .iter()
        .find(|p| p.extension().is_some_and(|x| x == "cert"))
    else {
        return Ok(None);
    };
    let bad =
        |e: rustls::pki_types::pem::Error| io::Error::other(format!("{}: {e}", cert.display()));
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(bad)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    let key_path = cert.with_extension("key");
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| io::Error::other(format!("{}: {e}", key_path.display())))?;
    Ok(Some((chain, key)))
}

fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// Every certificate in the `*.crt` files of `dir` (docker's certs.d layout); none if it is absent.
fn extra_cas(dir: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries {
        let path = e?.path();
        if path.extension().is_some_and(|x| x == "crt") {
            for c in CertificateDer::pem_file_iter(&path)
                .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?
            {
                out.push(c.map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?);
            }
        }
    }
    Ok(out)
}

/// Accepts any certificate but still checks the handshake signatures, for insecure registries
/// (docker's `InsecureSkipVerify`).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
