//! TLS to a daemon on TCP, with the docker CLI's options: `--tlsverify` checks the daemon's
//! certificate against `--tlscacert` (and only that CA); `--tls` alone encrypts without checking
//! it; `--tlscert`/`--tlskey` are the client's certificate, which a daemon run with
//! `--tlsverify` requires.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, Result};
use crate::host::Host;

/// The docker CLI's TLS options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Check the daemon's certificate against `ca`.
    pub verify: bool,
    /// The CA that signed the daemon's certificate (needed with `verify`).
    pub ca: Option<PathBuf>,
    /// The client's certificate and key, presented when the daemon asks for one.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// A client's TLS setup for one daemon.
#[derive(Clone)]
pub(crate) struct Tls {
    pub connector: tokio_rustls::TlsConnector,
    pub server_name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Tls {
    pub(crate) fn new(host: &Host, opts: &TlsOptions) -> Result<Tls> {
        let Host::Tcp { authority } = host else {
            return Err(config("TLS needs a tcp:// host"));
        };
        let name = authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|_| config(format!("{name:?} is not a host name or IP address")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| config(e.to_string()))?;
        let builder = if opts.verify {
            let ca = opts
                .ca
                .as_deref()
                .ok_or_else(|| config("--tlsverify needs the daemon's CA (--tlscacert)"))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca, "CA certificate")? {
                roots
                    .add(c)
                    .map_err(|e| config(format!("CA certificate {}: {e}", ca.display())))?;
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        };
        let cfg = match (&opts.cert, &opts.key) {
            (Some(cert), Some(key)) => {
                let certs = read_certs(cert, "client certificate")?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    config(format!(
                        "could not read the client key {}: {e}",
                        key.display()
                    ))
                })?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| config(format!("client certificate and key: {e}")))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(config("--tlscert and --tlskey go together")),
        };
        let mut cfg = cfg;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
            server_name,
        })
    }
}

fn config(msg: impl Into<String>) -> Error {
    Error::TlsConfig(msg.into())
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| config(format!("could not read the {what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(config(format!(
            "the {what} {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// `--tls` without `--tlsverify`: any certificate the daemon shows is accepted (the docker
/// CLI's InsecureSkipVerify), while its signatures are still checked.
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Client;

    #[test]
    fn tls_defaults_to_dockers_tls_port_and_leaves_unix_sockets_alone() {
        let c = Client::new_tls("tcp://127.0.0.1", &TlsOptions::default()).unwrap();
        assert_eq!(c.host().to_string(), "tcp://127.0.0.1:2376");
        assert!(c.tls().is_some());
        let c = Client::new_tls("tcp://[::1]:99", &TlsOptions::default()).unwrap();
        assert_eq!(
            c.tls().unwrap().server_name,
            ServerName::try_from("::1").unwrap()
        );
        let c = Client::new_tls("unix:///run/p.sock", &TlsOptions::default()).unwrap();
        assert!(c.tls().is_none());
    }

    #[test]
    fn unusable_options_are_named() {
        let verify = TlsOptions {
            verify: true,
            ..Default::default()
        };
        let e = Client::new_tls("tcp://h:1", &verify)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--tlscacert"), "{e}");
        let missing = TlsOptions {
            ca: Some("/nonexistent/ca.pem".into()),
            ..verify
        };
        let e = Client::new_tls("tcp://h:1", &missing)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid TLS configuration") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
        let half = TlsOptions {
            cert: Some("/x/cert.pem".into()),
            ..Default::default()
        };
        let e = Client::new_tls("tcp://h:1", &half).unwrap_err().to_string();
        assert!(e.contains("go together"), "{e}");
    }
}
