//! Tests of the client's HTTP handling against a tiny in-process hyper server on a unix socket.
//! The server only echoes and returns canned answers; it stands in for nothing of pouchd.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::UnixListener;

use crate::{Body, Client, Error};

/// Answers by path; `/echo` returns method, URI, content type and body length as JSON.
async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let reply = |status: StatusCode, ct: &str, body: Vec<u8>| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut()
            .insert("content-type", ct.parse().expect("valid header"));
        r.headers_mut()
            .insert("api-version", "1.44".parse().expect("valid header"));
        Ok(r)
    };
    match path.as_str() {
        "/_ping" => reply(StatusCode::OK, "text/plain", b"OK".to_vec()),
        "/v1.47/missing" => reply(
            StatusCode::NOT_FOUND,
            "application/json",
            br#"{"message":"No such image: nope:latest"}"#.to_vec(),
        ),
        "/v1.47/created" => reply(StatusCode::CREATED, "text/plain", Vec::new()),
        "/v1.47/nocontent" => reply(StatusCode::NO_CONTENT, "text/plain", Vec::new()),
        "/v1.47/messages" => reply(
            StatusCode::OK,
            "application/json",
            b"{\"stream\":\"Loaded image: a\\n\"}\n{\"errorDetail\":{\"message\":\"disk full\"}}\n"
                .to_vec(),
        ),
        _ => {
            let method = req.method().to_string();
            let uri = req.uri().to_string();
            let ct = req
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or_default().to_owned());
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            let body = body.unwrap_or_default();
            let echo = json!({
                "method": method,
                "uri": uri,
                "contentType": ct,
                "len": body.len(),
                "body": String::from_utf8_lossy(&body),
            });
            reply(
                StatusCode::OK,
                "application/json",
                echo.to_string().into_bytes(),
            )
        }
    }
}

/// Serves `handle` on a fresh socket until the test's runtime ends.
fn serve(dir: &Path) -> PathBuf {
    let sock = dir.join("d.sock");
    let listener = UnixListener::bind(&sock).expect("bind test socket");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    });
    sock
}

fn client(sock: &Path) -> Client {
    Client::new(&format!("unix://{}", sock.display())).expect("valid host")
}

#[tokio::test]
async fn versioned_json_requests() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(&serve(dir.path()));
    let v = c.get_json("/images/json?all=1").await.unwrap();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["uri"], "/v1.47/images/json?all=1");

    let v = c
        .post_json("/containers/create", Some(&json!({"Image": "x"})))
        .await
        .unwrap();
    assert_eq!(v["contentType"], "application/json");
    assert_eq!(v["body"], r#"{"Image":"x"}"#);

    let v = c.post_json("/images/a/tag?repo=b", None).await.unwrap();
    assert_eq!(v["len"], 0);
    assert_eq!(v["contentType"], Value::Null);

    assert_eq!(
        c.delete_json("/images/x").await.unwrap()["method"],
        "DELETE"
    );
    assert_eq!(c.post_json("/created", None).await.unwrap(), Value::Null);
    assert_eq!(c.post_json("/nocontent", None).await.unwrap(), Value::Null);
    assert!(c.head("/images/x/json").await.is_ok());
}

#[tokio::test]
async fn negotiation_takes_the_lower_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = client(&serve(dir.path()));
    assert_eq!(c.api_version(), pouch_api::API_VERSION);
    assert_eq!(c.negotiate().await.unwrap(), "1.44");
    let v = c.get_json("/info").await.unwrap();
    assert_eq!(v["uri"], "/v1.44/info");

    // A server newer than us does not raise our version.
    let mut c = client(&dir.path().join("d.sock")).with_api_version("1.40");
    assert_eq!(c.negotiate().await.unwrap(), "1.40");
}

#[tokio::test]
async fn api_errors_carry_status_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(&serve(dir.path()));
    let err = c.get_json("/missing").await.unwrap_err();
    assert!(err.is_not_found());
    match err {
        Error::Api { status, message } => {
            assert_eq!(status, 404);
            assert_eq!(message, "No such image: nope:latest");
        }
        other => panic!("unexpected {other:?}"),
    }
    // HEAD has no body: the status reason stands in.
    let err = c.head("/missing").await.unwrap_err();
    assert_eq!(err.to_string(), "error response from daemon: 404 Not Found");
}

#[tokio::test]
async fn missing_socket_is_a_clear_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("absent.sock");
    let err = client(&sock).get_json("/info").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Connect { .. }));
    assert!(
        text.starts_with(&format!(
            "cannot connect to pouchd at unix://{}: is the daemon running? (",
            sock.display()
        )),
        "{text}"
    );
    assert!(text.contains("os error 2"), "{text}");
}

#[tokio::test]
async fn streams_uploads_and_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(&serve(dir.path()));
    let file_path = dir.path().join("upload.tar");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file_path, &payload).unwrap();

    let file = tokio::fs::File::open(&file_path).await.unwrap();
    let resp = c
        .upload(
            Method::POST,
            "/images/load?quiet=1",
            "application/x-tar",
            file,
        )
        .await
        .unwrap();
    assert!(resp.is_json());
    let echoed: Vec<u8> = resp.body.map_ok(|b| b.to_vec()).try_concat().await.unwrap();
    let echoed: Value = serde_json::from_slice(&echoed).unwrap();
    assert_eq!(echoed["len"], payload.len());
    assert_eq!(echoed["contentType"], "application/x-tar");
    assert_eq!(echoed["uri"], "/v1.47/images/load?quiet=1");

    let chunks: Vec<Bytes> = c
        .get_stream("/images/get?names=a")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(!chunks.is_empty());

    let err = match c.get_stream("/missing").await {
        Err(e) => e,
        Ok(_) => panic!("404 must fail before streaming"),
    };
    assert!(err.is_not_found());
}

#[tokio::test]
async fn message_stream_errors_surface() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(&serve(dir.path()));
    let resp = c
        .upload(
            Method::POST,
            "/messages",
            "application/x-tar",
            Body::bytes("tar"),
        )
        .await
        .unwrap();
    let mut msgs = Box::pin(resp.json_messages());
    let first = msgs.try_next().await.unwrap().unwrap();
    assert_eq!(first["stream"], "Loaded image: a\n");
    let err = msgs.try_next().await.unwrap_err();
    assert_eq!(err.to_string(), "disk full");
}

/// A raw socket server for hijack tests: reads one request head (and its body), hands it to
/// the test, answers `response`, then echoes the client's bytes until the client half-closes,
/// and ends with `bye`.
fn raw_server(dir: &Path, response: &'static [u8]) -> (PathBuf, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let sock = dir.join("raw.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind raw socket");
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut head = String::new();
        let mut content_length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read head");
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                content_length = v.trim().parse().expect("length");
            }
            head.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body).expect("read body");
        head.push_str(&String::from_utf8_lossy(&body));
        let mut writer = stream;
        writer.write_all(response).expect("write response");
        if response.starts_with(b"HTTP/1.1 101") || response.starts_with(b"HTTP/1.1 200") {
            let mut echoed = Vec::new();
            reader
                .read_to_end(&mut echoed)
                .expect("read until half-close");
            writer.write_all(&echoed).expect("echo");
            writer.write_all(b"bye").expect("bye");
        }
        head
    });
    (sock, handle)
}

#[tokio::test]
async fn hijack_upgrades_and_half_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let (sock, server) = raw_server(
        dir.path(),
        b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly:",
    );
    let c = client(&sock);
    let mut h = c
        .hijack(
            "/exec/e1/start",
            Some(&json!({"Detach": false, "Tty": false})),
        )
        .await
        .unwrap();
    assert_eq!(h.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(h.multiplexed(), Some(true));
    h.write_all(b"ping").await.unwrap();
    h.shutdown().await.unwrap();
    let mut got = Vec::new();
    h.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"early:pingbye");

    let head = server.join().unwrap();
    let lower = head.to_ascii_lowercase();
    assert!(
        head.starts_with("POST /v1.47/exec/e1/start HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(lower.contains("\r\nupgrade: tcp\r\n"), "{head}");
    assert!(
        lower.contains("\r\ncontent-type: application/json\r\n"),
        "{head}"
    );
    assert!(
        head.ends_with("\r\n\r\n{\"Detach\":false,\"Tty\":false}"),
        "{head}"
    );
}

#[tokio::test]
async fn hijack_accepts_a_plain_200() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let (sock, server) = raw_server(
        dir.path(),
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n",
    );
    let mut h = client(&sock)
        .hijack("/containers/c1/attach?stream=1&stdout=1", None)
        .await
        .unwrap();
    assert_eq!(h.status(), StatusCode::OK);
    assert_eq!(h.multiplexed(), Some(false));
    h.shutdown().await.unwrap();
    let mut got = String::new();
    h.read_to_string(&mut got).await.unwrap();
    assert_eq!(got, "bye");
    let head = server.join().unwrap();
    assert!(head.contains("Content-Length: 0\r\n"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("content-type"),
        "{head}"
    );
}

#[tokio::test]
async fn hijack_refusals_are_api_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, server) = raw_server(
        dir.path(),
        b"HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: 51\r\n\r\n{\"message\":\"container c1 is not running\"}         ",
    );
    let err = match client(&sock).hijack("/containers/c1/attach", None).await {
        Err(e) => e,
        Ok(_) => panic!("409 must fail"),
    };
    assert_eq!(err.status(), Some(409));
    assert_eq!(
        err.to_string(),
        "error response from daemon: container c1 is not running"
    );
    server.join().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (sock, server) = raw_server(
        dir.path(),
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1d\r\n{\"message\":\"No such exec: x\"}\r\n0\r\n\r\n",
    );
    let err = match client(&sock).hijack("/exec/x/start", None).await {
        Err(e) => e,
        Ok(_) => panic!("404 must fail"),
    };
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "error response from daemon: No such exec: x"
    );
    server.join().unwrap();
}

#[tokio::test]
async fn deferred_body_arrives_later() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(&serve(dir.path()));
    let pending = c
        .post_deferred("/containers/c1/wait?condition=next-exit")
        .await
        .unwrap();
    let v = pending.json().await.unwrap();
    assert_eq!(v["uri"], "/v1.47/containers/c1/wait?condition=next-exit");
    assert!(c.post_deferred("/missing").await.is_err());
}
