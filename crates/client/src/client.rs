//! The HTTP client proper: connection, version prefix, status checking.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderValue, USER_AGENT};
use http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::body::{Body, ByteStream, byte_stream, collect};
use crate::error::{Result, api_error};
use crate::host::{DEFAULT_TLS_PORT, Host};
use crate::messages::json_messages;
use crate::tls::{Tls, TlsOptions};

pub(crate) const USER_AGENT_VALUE: &str = concat!("pouch-client/", env!("CARGO_PKG_VERSION"));

/// A client for one pouchd.
///
/// Each request opens its own connection: the CLI makes one or two requests per run, and a
/// connection that is never shared cannot be poisoned by a hijacked (attach/exec) stream. The
/// client is cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    version: String,
    /// TLS for a tcp:// host (never used on a unix socket, as in docker).
    tls: Option<Tls>,
}

/// What `GET /_ping` reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ping {
    /// `Api-Version` header: the newest API version the daemon speaks.
    pub api_version: Option<String>,
    /// `OSType` header (`linux`).
    pub os_type: Option<String>,
}

/// A streamed response: its headers (a load answers JSON messages or a raw body depending on
/// the server) and the body chunks.
pub struct StreamResponse {
    pub headers: HeaderMap,
    pub body: ByteStream,
}

impl StreamResponse {
    fn from_response(resp: Response<Incoming>) -> StreamResponse {
        let (parts, body) = resp.into_parts();
        StreamResponse {
            headers: parts.headers,
            body: byte_stream(body),
        }
    }

    /// True when the body is a JSON message stream rather than opaque bytes.
    pub fn is_json(&self) -> bool {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"))
    }

    /// Decodes the body as JSON messages (see [`json_messages`]).
    pub fn json_messages(self) -> impl futures_util::Stream<Item = Result<Value>> + Send {
        json_messages(self.body)
    }
}

/// A response whose status and headers have arrived but whose JSON body is still to come:
/// `POST /containers/{id}/wait` answers at once, so the caller knows the wait is registered
/// before it starts the container, and writes the body when the container exits.
pub struct Deferred {
    body: Incoming,
}

impl Deferred {
    /// Waits for the rest of the body and decodes it (`Null` when empty).
    pub async fn json(self) -> Result<Value> {
        let bytes = collect(self.body).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

impl Client {
    /// A client for `host` (`unix:///path` or `tcp://host:port`) that speaks this crate's API
    /// version until [`Client::negotiate`] lowers it. Nothing is connected yet.
    pub fn new(host: &str) -> Result<Client> {
        Ok(Client {
            host: Host::parse(host)?,
            version: pouch_api::API_VERSION.to_owned(),
            tls: None,
        })
    }

    /// A client that speaks TLS to a tcp:// `host` (port 2376 when it names none, as docker's);
    /// a unix socket is used as is. Certificate files are read now, so a missing one is an
    /// error here rather than at the first request.
    pub fn new_tls(host: &str, opts: &TlsOptions) -> Result<Client> {
        let host = Host::parse_with_port(host, DEFAULT_TLS_PORT)?;
        let tls = match host {
            Host::Tcp { .. } => Some(Tls::new(&host, opts)?),
            Host::Unix(_) => None,
        };
        Ok(Client {
            host,
            version: pouch_api::API_VERSION.to_owned(),
            tls,
        })
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub(crate) fn tls(&self) -> Option<&Tls> {
        self.tls.as_ref()
    }

    /// The API version used in request paths (`/v{version}/...`).
    pub fn api_version(&self) -> &str {
        &self.version
    }

    /// Pins the API version, skipping negotiation (for tests of older-version behaviour).
    pub fn with_api_version(mut self, version: impl Into<String>) -> Client {
        self.version = version.into();
        self
    }

    /// `GET /_ping` (unversioned, so it works against any daemon version).
    pub async fn ping(&self) -> Result<Ping> {
        let resp = self
            .send(Method::GET, "/_ping".to_owned(), None, Body::empty())
            .await?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Ping {
            api_version: header("api-version"),
            os_type: header("ostype"),
        })
    }

    /// Pings the daemon and keeps the lower of our version and the daemon's, as the docker CLI
    /// does, so that a newer client still works against an older daemon. Returns the version
    /// now in use.
    pub async fn negotiate(&mut self) -> Result<&str> {
        let ping = self.ping().await?;
        if let Some(server) = ping.api_version {
            let ours = pouch_api::parse_api_version(&self.version);
            let theirs = pouch_api::parse_api_version(&server);
            if matches!((ours, theirs), (Some(o), Some(t)) if t < o) {
                self.version = server;
            }
        }
        Ok(&self.version)
    }

    /// `GET` returning decoded JSON (`Null` for an empty body).
    pub async fn get_json(&self, path_and_query: &str) -> Result<Value> {
        self.json(Method::GET, path_and_query, None).await
    }

    /// `GET` returning the body bytes untouched, for output that must keep the daemon's key
    /// order (inspect).
    pub async fn get_bytes(&self, path_and_query: &str) -> Result<Bytes> {
        let resp = self
            .request(Method::GET, path_and_query, None, Body::empty())
            .await?;
        collect(resp.into_body()).await
    }

    /// `POST` with an optional JSON body; `201`/`204` with no body decode to `Null`.
    pub async fn post_json(&self, path_and_query: &str, body: Option<&Value>) -> Result<Value> {
        self.json(Method::POST, path_and_query, body).await
    }

    /// `POST` without a body that returns as soon as the response head is in; the body is read
    /// later through [`Deferred::json`].
    pub async fn post_deferred(&self, path_and_query: &str) -> Result<Deferred> {
        let resp = self
            .request(Method::POST, path_and_query, None, Body::empty())
            .await?;
        Ok(Deferred {
            body: resp.into_body(),
        })
    }

    /// `DELETE` returning decoded JSON (`Null` for an empty body).
    pub async fn delete_json(&self, path_and_query: &str) -> Result<Value> {
        self.json(Method::DELETE, path_and_query, None).await
    }

    /// `HEAD`, returning the response headers; a non-2xx status is an error (its message is the
    /// status reason, since HEAD responses carry no body).
    pub async fn head(&self, path_and_query: &str) -> Result<HeaderMap> {
        let resp = self
            .request(Method::HEAD, path_and_query, None, Body::empty())
            .await?;
        Ok(resp.headers().clone())
    }

    /// `GET` whose body is streamed back chunk by chunk (`/images/get` can be gigabytes).
    pub async fn get_stream(&self, path_and_query: &str) -> Result<ByteStream> {
        let resp = self
            .request(Method::GET, path_and_query, None, Body::empty())
            .await?;
        Ok(byte_stream(resp.into_body()))
    }

    /// `GET` whose body is streamed back, with the response headers (`logs` reads the stream
    /// kind from `Content-Type`).
    pub async fn get_response(&self, path_and_query: &str) -> Result<StreamResponse> {
        let resp = self
            .request(Method::GET, path_and_query, None, Body::empty())
            .await?;
        Ok(StreamResponse::from_response(resp))
    }

    /// A streamed upload (`POST /images/load`, `POST /images/create?fromSrc=-`,
    /// `PUT /containers/{id}/archive`), streaming the response back.
    pub async fn upload(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: &str,
        body: impl Into<Body>,
    ) -> Result<StreamResponse> {
        let resp = self
            .request(method, path_and_query, Some(content_type), body.into())
            .await?;
        Ok(StreamResponse::from_response(resp))
    }

    /// The general form: a versioned request whose non-2xx answers become [`Error::Api`]. The
    /// body of a successful response is left unread for the caller.
    pub async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Body,
    ) -> Result<Response<Incoming>> {
        self.request_with(
            method,
            path_and_query,
            content_type,
            body,
            &HeaderMap::new(),
        )
        .await
    }

    /// [`Client::request`] with extra request headers.
    async fn request_with(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Body,
        headers: &HeaderMap,
    ) -> Result<Response<Incoming>> {
        let uri = self.versioned(path_and_query);
        let resp = self
            .send_with(method, uri, content_type, body, headers)
            .await?;
        let status = resp.status();
        // As docker's client: anything below 400 is an answer, not an error (`start` of a
        // running container and `stop` of a stopped one answer 304 Not Modified).
        if status.as_u16() < 400 {
            return Ok(resp);
        }
        let body = collect(resp.into_body()).await.unwrap_or_default();
        Err(api_error(status, &body))
    }

    async fn json(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let (content_type, body) = match body {
            Some(v) => (
                Some("application/json"),
                Body::bytes(serde_json::to_vec(v)?),
            ),
            None => (None, Body::empty()),
        };
        let resp = self.request(method, path, content_type, body).await?;
        let bytes = collect(resp.into_body()).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    fn versioned(&self, path_and_query: &str) -> String {
        debug_assert!(path_and_query.starts_with('/'), "path must be absolute");
        format!("/v{}{}", self.version, path_and_query)
    }

    /// `POST` without a body, with extra request headers (`X-Registry-Auth` for pull and push),
    /// streaming the response back.
    pub async fn post_stream_with_headers(
        &self,
        path_and_query: &str,
        headers: &HeaderMap,
    ) -> Result<StreamResponse> {
        let resp = self
            .request_with(Method::POST, path_and_query, None, Body::empty(), headers)
            .await?;
        Ok(StreamResponse::from_response(resp))
    }

    async fn send(
        &self,
        method: Method,
        uri: String,
        content_type: Option<&str>,
        body: Body,
    ) -> Result<Response<Incoming>> {
        self.send_with(method, uri, content_type, body, &HeaderMap::new())
            .await
    }

    async fn send_with(
        &self,
        method: Method,
        uri: String,
        content_type: Option<&str>,
        body: Body,
        extra: &HeaderMap,
    ) -> Result<Response<Incoming>> {
        tracing::debug!(%method, %uri, "request");
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, self.host.header_value())
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        for (k, v) in extra {
            req = req.header(k, v);
        }
        let req = req.body(body)?;
        let resp = exchange(self.connect().await?, req).await?;
        tracing::debug!(status = %resp.status(), "response");
        Ok(resp)
    }
}

/// Runs one HTTP/1.1 exchange on a fresh connection. The connection is driven by a spawned
/// task so that the response body can be streamed after this returns; upgrades are enabled so
/// that a `101` (attach, exec) can later be taken over with `hyper::upgrade::on`.
async fn exchange<S>(io: S, req: Request<Body>) -> Result<Response<Incoming>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "connection closed with error");
        }
    });
    Ok(sender.send_request(req).await?)
}
