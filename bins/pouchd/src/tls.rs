//! The API's TLS server config, from docker's `--tlscacert`, `--tlscert` and `--tlskey`. Built
//! before the engine opens, so a missing or unreadable file stops pouchd at once with its path.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use crate::config::TlsFiles;

/// A TLS server config that, with `verify`, accepts only clients presenting a certificate
/// signed by the CA (and by no other: the system's roots are not trusted, as dockerd's
/// exclusive root pool).
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>> {
    build(files).context("invalid TLS configuration")
}

fn build(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&files.cert, "server certificate (--tlscert)")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        anyhow::anyhow!(
            "could not read the server key (--tlskey) {}: {}",
            files.key.display(),
            pem_error(e)
        )
    })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if files.verify {
        let mut roots = rustls::RootCertStore::empty();
        for c in read_certs(&files.ca, "CA certificate (--tlscacert)")? {
            roots
                .add(c)
                .with_context(|| format!("CA certificate {}", files.ca.display()))?;
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .context("client certificate verifier")?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut cfg = builder.with_single_cert(certs, key).with_context(|| {
        format!(
            "certificate {} and key {} do not make a key pair",
            files.cert.display(),
            files.key.display()
        )
    })?;
    // The server speaks HTTP/1.1 only (attach and exec upgrade their connection).
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!(
                "could not read the {what} {}: {}",
                path.display(),
                pem_error(e)
            )
        })?;
    if certs.is_empty() {
        bail!("the {what} {} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// A PEM error with the I/O cause spelled out (a missing file says so).
fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of that kind in it".into(),
        other => format!("{other:?}"),
    }
}
