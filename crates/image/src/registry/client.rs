//! The distribution API for one repository on one endpoint: ping, auth, manifests, blobs,
//! uploads. Requests that can be repeated are retried with backoff on connection errors and 5xx;
//! redirects are followed (dropping credentials when they leave the registry's host).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;

use super::auth::{Challenge, Credentials, TokenResponse};
use super::endpoint::{Endpoint, endpoints_for};
use super::http::{
    backoff, challenge_of, check, empty, encode, error_message, full, host_of, hv, io_message,
    read_small, request, resolve,
};
use super::transport::{Body, Transport};
use super::{Error, RegistryConfig, Result};
use crate::digest::Digest;

/// Attempts for a request that may be repeated (connection errors, 5xx).
const ATTEMPTS: u32 = 4;
const MAX_REDIRECTS: usize = 5;

/// Shared settings for every registry conversation of a daemon.
#[derive(Clone)]
pub struct Client {
    cfg: Arc<RegistryConfig>,
    transport: Arc<Transport>,
}

impl Client {
    pub fn new(cfg: RegistryConfig) -> Client {
        let transport = Arc::new(Transport::new(cfg.certs_dir.clone(), cfg.proxy.clone()));
        Client {
            cfg: Arc::new(cfg),
            transport,
        }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.cfg
    }

    /// Endpoints for a domain, mirrors first when pulling.
    pub fn endpoints(&self, domain: &str, pull: bool) -> Result<Vec<Endpoint>> {
        endpoints_for(domain, &self.cfg, pull)
    }

    /// Connects to `endpoint` for repository `path`: pings `/v2/` (HTTPS first, then plain HTTP
    /// for insecure endpoints) and authenticates if the registry asks to.
    pub async fn repo(
        &self,
        endpoint: &Endpoint,
        path: &str,
        creds: Credentials,
        push: bool,
    ) -> Result<RepoClient> {
        // (scheme, verify the certificate). Insecure registries, as in docker, may also be
        // spoken to over TLS without verification, then over plain HTTP.
        let mut attempts = vec![(endpoint.scheme.clone(), true)];
        if endpoint.scheme == "https" && endpoint.insecure {
            attempts.push(("https".to_string(), false));
            attempts.push(("http".to_string(), true));
        }
        let mut last = None;
        for (scheme, verify) in attempts {
            let base = format!("{scheme}://{}", endpoint.host);
            let repo = RepoClient {
                transport: self.transport.clone(),
                base: base.clone(),
                path: path.to_string(),
                creds: creds.clone(),
                push,
                verify,
                auth: Arc::new(Mutex::new(None)),
            };
            match repo.ping().await {
                Ok(()) => {
                    if !verify {
                        tracing::warn!(
                            registry = %endpoint.host,
                            "insecure registry: its TLS certificate is not verified"
                        );
                    }
                    return Ok(repo);
                }
                // Keep the first (HTTPS) failure: it says why TLS failed, which is what the
                // user has to fix when the plain HTTP fallback fails too.
                Err(e @ Error::Unavailable(_)) => {
                    last.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last
            .unwrap_or_else(|| Error::Unavailable(format!("no endpoint for {}", endpoint.host))))
    }
}

impl Client {
    /// Checks credentials the way `docker login` does: `/v2/` must answer 200 with them.
    pub async fn login(&self, endpoint: &Endpoint, creds: Credentials) -> Result<()> {
        if creds == Credentials::Anonymous {
            return Err(Error::Unauthorized("no credentials given".into()));
        }
        let repo = self.repo(endpoint, "", creds, false).await?;
        let url = format!("{}/v2/", repo.base);
        let resp = repo
            .send(Method::GET, &url, &HeaderMap::new(), &|| Ok(empty()), true)
            .await?;
        check(resp, "registry API").await.map(|_| ())
    }
}

/// A connected repository. Cheap to clone; clones share the auth token.
#[derive(Clone)]
pub struct RepoClient {
    transport: Arc<Transport>,
    /// `scheme://host[:port]`.
    base: String,
    path: String,
    creds: Credentials,
    push: bool,
    /// Verify the server's TLS certificate (off only for insecure registries whose
    /// certificate failed verification).
    verify: bool,
    auth: Arc<Mutex<Option<String>>>,
}

pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

impl RepoClient {
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.path)
    }

    async fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self
            .transport
            .send(
                request(Method::GET, &url, &HeaderMap::new(), empty())?,
                self.verify,
            )
            .await
            .map_err(|e| Error::Unavailable(format!("Get {url:?}: {}", io_message(&e))))?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => {
                if let Some(c) = challenge_of(&resp) {
                    self.authenticate(&c).await?;
                }
                Ok(())
            }
            s if s.is_server_error() => Err(Error::Unavailable(format!(
                "Get {url:?}: registry answered {s}"
            ))),
            // A plain-HTTP request to a TLS-only server (Go answers 400): not this scheme.
            StatusCode::BAD_REQUEST if self.base.starts_with("http://") => Err(Error::Unavailable(
                format!("Get {url:?}: the server speaks only HTTPS"),
            )),
            // Some registries do not serve /v2/ but do serve the API below it.
            _ => Ok(()),
        }
    }

    fn scope(&self) -> String {
        let actions = if self.push { "pull,push" } else { "pull" };
        format!("repository:{}:{actions}", self.path)
    }

    /// Answers a challenge: Basic uses the credentials as they are, Bearer fetches a token.
    async fn authenticate(&self, c: &Challenge) -> Result<()> {
        let header = match c.scheme.as_str() {
            "basic" => match self.creds.basic_header() {
                Some(h) => h,
                None => return Ok(()),
            },
            "bearer" => {
                if let Credentials::Token(t) = &self.creds {
                    format!("Bearer {t}")
                } else {
                    format!("Bearer {}", self.fetch_token(c).await?)
                }
            }
            _ => return Ok(()),
        };
        *self.auth.lock().expect("auth") = Some(header);
        Ok(())
    }

    async fn fetch_token(&self, c: &Challenge) -> Result<String> {
        let realm = c
            .params
            .get("realm")
            .ok_or_else(|| Error::Protocol("bearer challenge without realm".into()))?;
        let mut url = realm.clone();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        if let Some(s) = c.params.get("service") {
            url.push_str(&format!("{sep}service={}", encode(s)));
            sep = '&';
        }
        if !self.path.is_empty() {
            url.push_str(&format!("{sep}scope={}", encode(&self.scope())));
        }
        let mut headers = HeaderMap::new();
        if let Some(b) = self.creds.basic_header() {
            headers.insert(header::AUTHORIZATION, hv(&b)?);
        }
        let resp = self
            .transport
            .send(request(Method::GET, &url, &headers, empty())?, self.verify)
            .await
            .map_err(|e| Error::Unavailable(format!("Get {url:?}: {}", io_message(&e))))?;
        let status = resp.status();
        let body = read_small(resp).await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Unauthorized(
                error_message(&body).unwrap_or_else(|| "incorrect username or password".into()),
            ));
        }
        if !status.is_success() {
            return Err(Error::Unavailable(format!(
                "token server {realm} answered {status}"
            )));
        }
        serde_json::from_slice::<TokenResponse>(&body)
            .ok()
            .and_then(TokenResponse::into_token)
            .ok_or_else(|| Error::Protocol(format!("token server {realm} sent no token")))
    }

    /// Sends a request, retrying when that is safe, answering one auth challenge, following
    /// redirects. `body` makes the body afresh for each attempt. Error statuses are returned as
    /// responses; see [`check`].
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &HeaderMap,
        body: &(dyn Fn() -> Result<Body> + Sync),
        retry: bool,
    ) -> Result<Response<Incoming>> {
        let mut url = url.to_string();
        let mut method = method;
        let mut reauthed = false;
        let mut redirects = 0;
        let mut attempt = 0;
        let mut same_host = true;
        loop {
            let mut h = headers.clone();
            if same_host && let Some(a) = self.auth.lock().expect("auth").clone() {
                h.insert(header::AUTHORIZATION, hv(&a)?);
            }
            let req = request(method.clone(), &url, &h, body()?)?;
            let resp = match self.transport.send(req, self.verify).await {
                Ok(r) => r,
                Err(e) => {
                    attempt += 1;
                    if retry && attempt < ATTEMPTS {
                        tracing::debug!(%url, error = %e, attempt, "registry request failed; retrying");
                        backoff(attempt).await;
                        continue;
                    }
                    return Err(Error::Unavailable(format!(
                        "{method} {url:?}: {}",
                        io_message(&e)
                    )));
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !reauthed && same_host {
                if let Some(c) = challenge_of(&resp) {
                    reauthed = true;
                    let had = self.auth.lock().expect("auth").clone();
                    self.authenticate(&c).await?;
                    if *self.auth.lock().expect("auth") != had {
                        continue;
                    }
                }
                return Ok(resp);
            }
            if status.is_redirection()
                && let Some(loc) = resp.headers().get(header::LOCATION)
            {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(Error::Protocol(format!(
                        "{method} {url:?}: too many redirects"
                    )));
                }
                let next = resolve(&url, loc.to_str().unwrap_or_default());
                same_host = same_host && host_of(&next) == host_of(&self.base);
                url = next;
                if status == StatusCode::SEE_OTHER {
                    method = Method::GET;
                }
                continue;
            }
            if retry
                && matches!(status.as_u16(), 500 | 502 | 503 | 504 | 429)
                && attempt + 1 < ATTEMPTS
            {
                attempt += 1;
                tracing::debug!(%url, %status, attempt, "registry error; retrying");
                backoff(attempt).await;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Fetches a manifest or index by tag or digest. Returns its media type, bytes and digest;
    /// a digest reference is verified.
    pub async fn get_manifest(&self, reference: &str) -> Result<(String, Bytes, Digest)> {
        let url = self.url(&format!("manifests/{reference}"));
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        let resp = self
            .send(Method::GET, &url, &h, &|| Ok(empty()), true)
            .await?;
        let resp = check(
            resp,
            &format!("manifest for {}:{reference} not found", self.path),
        )
        .await?;
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let bytes = read_small(resp).await?;
        let digest = Digest::sha256_of(&bytes);
        if let Ok(want) = Digest::parse(reference)
            && want != digest
        {
            return Err(Error::Image(crate::Error::DigestMismatch {
                what: format!("manifest {reference}"),
                expected: want.to_string(),
                actual: digest.to_string(),
            }));
        }
        // The body's own mediaType wins over a generic Content-Type.
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .filter(|m| !m.is_empty())
            .unwrap_or(ct);
        Ok((media_type, bytes, digest))
    }

    /// Starts downloading a blob at `offset` (a `Range` request when non-zero). The answer is
    /// `200` (whole blob) or `206` (from `offset`).
    pub async fn get_blob(&self, digest: &Digest, offset: u64) -> Result<Response<Incoming>> {
        let url = self.url(&format!("blobs/{digest}"));
        let mut h = HeaderMap::new();
        if offset > 0 {
            h.insert(header::RANGE, hv(&format!("bytes={offset}-"))?);
        }
        let resp = self
            .send(Method::GET, &url, &h, &|| Ok(empty()), true)
            .await?;
        check(resp, &format!("blob {digest} not found")).await
    }

    /// A small blob (a config), verified.
    pub async fn get_blob_bytes(&self, digest: &Digest) -> Result<Bytes> {
        let resp = self.get_blob(digest, 0).await?;
        let bytes = read_small(resp).await?;
        let actual = Digest::sha256_of(&bytes);
        if &actual != digest {
            return Err(Error::Image(crate::Error::DigestMismatch {
                what: format!("blob {digest}"),
                expected: digest.to_string(),
                actual: actual.to_string(),
            }));
        }
        Ok(bytes)
    }

    pub async fn has_blob(&self, digest: &Digest) -> Result<bool> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self
            .send(Method::HEAD, &url, &HeaderMap::new(), &|| Ok(empty()), true)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        check(resp, "blob").await.map(|_| true)
    }

    /// Every tag of the repository (`GET /v2/<name>/tags/list`, following `Link` pages).
    pub async fn list_tags(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.url("tags/list?n=1000");
        let mut out = Vec::new();
        for _ in 0..100 {
            let resp = self
                .send(Method::GET, &url, &HeaderMap::new(), &|| Ok(empty()), true)
                .await?;
            let resp = check(resp, &format!("repository {} not found", self.path)).await?;
            let next = resp
                .headers()
                .get(header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split(';').next())
                .map(|l| {
                    l.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                });
            let body = read_small(resp).await?;
            let page: Tags = serde_json::from_slice(&body)
                .map_err(|e| Error::Protocol(format!("bad tag list: {e}")))?;
            out.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) if !n.is_empty() => url = resolve(&url, &n),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Cross-repository mount: asks the registry to link `digest` from repository `from` (same
    /// registry) instead of uploading it. False when the registry would rather have an upload
    /// (it lacks the blob there, or the credentials do not reach `from`).
    pub async fn mount_blob(&self, digest: &Digest, from: &str) -> Result<bool> {
        let url = self.url(&format!(
            "blobs/uploads/?mount={}&from={}",
            encode(digest.as_str()),
            encode(from)
        ));
        let resp = self
            .send(
                Method::POST,
                &url,
                &HeaderMap::new(),
                &|| Ok(empty()),
                false,
            )
            .await?;
        Ok(resp.status() == StatusCode::CREATED)
    }

    /// Monolithic upload: `POST` a session, then `PUT` the whole blob with its digest.
    pub async fn upload_blob(
        &self,
        digest: &Digest,
        size: u64,
        body: &(dyn Fn() -> Result<Body> + Sync),
    ) -> Result<()> {
        let url = self.url("blobs/uploads/");
        let resp = self
            .send(Method::POST, &url, &HeaderMap::new(), &|| Ok(empty()), true)
            .await?;
        let resp = check(resp, "upload").await?;
        let loc = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Protocol("upload session without Location".into()))?
            .to_string();
        let mut put = resolve(&url, &loc);
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str(&format!("digest={}", encode(digest.as_str())));
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        h.insert(header::CONTENT_LENGTH, hv(&size.to_string())?);
        let resp = self.send(Method::PUT, &put, &h, body, false).await?;
        check(resp, "upload").await?;
        Ok(())
    }

    /// Uploads the file at `path` as blob `digest`, calling `progress` with the bytes sent so far.
    pub async fn upload_file(
        &self,
        digest: &Digest,
        path: &std::path::Path,
        progress: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<()> {
        use futures_util::StreamExt;
        let size = std::fs::metadata(path)
            .map_err(|e| Error::Image(crate::Error::io(format!("stat {}", path.display()), e)))?
            .len();
        let body = || -> Result<Body> {
            let file = std::fs::File::open(path).map_err(|e| {
                Error::Image(crate::Error::io(format!("open {}", path.display()), e))
            })?;
            let progress = progress.clone();
            let mut sent = 0u64;
            let stream = tokio_util::io::ReaderStream::with_capacity(
                tokio::fs::File::from_std(file),
                256 * 1024,
            )
            .map(move |chunk| {
                chunk.map(|b| {
                    sent += b.len() as u64;
                    progress(sent);
                    hyper::body::Frame::data(b)
                })
            });
            Ok(BodyExt::boxed(http_body_util::StreamBody::new(stream)))
        };
        self.upload_blob(digest, size, &body).await
    }

    /// Puts a manifest under a tag or digest; returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<()> {
        let bytes = Bytes::from(bytes);
        let url = self.url(&format!("manifests/{reference}"));
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, hv(media_type)?);
        let resp = self
            .send(Method::PUT, &url, &h, &|| Ok(full(bytes.clone())), true)
            .await?;
        check(resp, "manifest").await?;
        Ok(())
    }
}
