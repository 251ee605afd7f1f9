//! Small TCP servers that sit in front of a registry: failures and redirects, a CONNECT proxy,
//! a bearer-token gate. Each runs until its value is dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// A loop accepting connections on 127.0.0.1 until dropped, each handled on its own thread.
struct Acceptor {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Acceptor {
    fn start(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> Acceptor {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let handle = Arc::new(handle);
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let h = handle.clone();
                        std::thread::spawn(move || h(s));
                    }
                    // Nothing pending: look again shortly (this is the accept loop's pace, not
                    // a test waiting for something to happen).
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Acceptor {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads an HTTP request or CONNECT head (up to the blank line), byte by byte so nothing after
/// it is consumed.
/// A TLS ClientHello (first byte 0x16) is refused by closing, as a plain HTTP server would.
fn read_head(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).ok()? == 0 || head.len() > 65536 || (head.is_empty() && b[0] == 0x16) {
            return None;
        }
        head.push(b[0]);
    }
    Some(head)
}

/// Copies both ways until both sides close.
fn pipe(a: TcpStream, b: TcpStream) {
    let (mut a2, mut b2) = (a.try_clone().expect("clone"), b.try_clone().expect("clone"));
    let t = std::thread::spawn(move || {
        let mut a = a;
        let mut b = b;
        let _ = std::io::copy(&mut a, &mut b);
        let _ = b.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut b2, &mut a2);
    let _ = a2.shutdown(Shutdown::Write);
    let _ = t.join();
}

/// A front for a registry that answers `503` to the first `fail_blobs` blob downloads and
/// redirects each manifest request once (`307` to the same URL with `redirected=1`), forwarding
/// everything else.
pub struct FlakyFront {
    acceptor: Acceptor,
    pub failures: Arc<AtomicUsize>,
    pub redirects: Arc<AtomicUsize>,
    /// Blob downloads forwarded to the registry, by digest.
    pub blob_gets: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl FlakyFront {
    pub fn start(target_port: u16, fail_blobs: usize) -> FlakyFront {
        let failures = Arc::new(AtomicUsize::new(0));
        let redirects = Arc::new(AtomicUsize::new(0));
        let blob_gets = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
        let (f, r, g) = (failures.clone(), redirects.clone(), blob_gets.clone());
        let acceptor = Acceptor::start(move |mut s| {
            let Some(head) = read_head(&mut s) else {
                return;
            };
            let text = String::from_utf8_lossy(&head).into_owned();
            let mut words = text.split_whitespace();
            let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            if method == "GET"
                && path.contains("/blobs/sha256:")
                && f.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < fail_blobs).then_some(n + 1)
                })
                .is_ok()
            {
                let _ = s.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return;
            }
            if method == "GET" && path.contains("/manifests/") && !path.contains("redirected=1") {
                r.fetch_add(1, Ordering::SeqCst);
                let sep = if path.contains('?') { '&' } else { '?' };
                let answer = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: {path}{sep}redirected=1\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = s.write_all(answer.as_bytes());
                return;
            }
            if method == "GET"
                && let Some((_, digest)) = path.split_once("/blobs/")
            {
                *g.lock().unwrap().entry(digest.to_string()).or_default() += 1;
            }
            let Ok(mut up) = TcpStream::connect(("127.0.0.1", target_port)) else {
                return;
            };
            if up.write_all(&head).is_ok() {
                pipe(s, up);
            }
        });
        FlakyFront {
            acceptor,
            failures,
            redirects,
            blob_gets,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.acceptor.port)
    }
}

/// An HTTP CONNECT proxy that only tunnels to 127.0.0.1 and counts its tunnels.
pub struct ConnectProxy {
    acceptor: Acceptor,
    pub tunnels: Arc<AtomicUsize>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        let tunnels = Arc::new(AtomicUsize::new(0));
        let t = tunnels.clone();
        let acceptor = Acceptor::start(move |mut s| {
            let Some(head) = read_head(&mut s) else {
                return;
            };
            let text = String::from_utf8_lossy(&head).into_owned();
            let mut words = text.split_whitespace();
            let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let local = target.starts_with("127.0.0.1:");
            let up = (method == "CONNECT" && local)
                .then(|| TcpStream::connect(target).ok())
                .flatten();
            let Some(up) = up else {
                let _ = s.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
                return;
            };
            t.fetch_add(1, Ordering::SeqCst);
            if s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .is_ok()
            {
                pipe(s, up);
            }
        });
        ConnectProxy { acceptor, tunnels }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.acceptor.port)
    }
}

/// A registry front that demands bearer tokens, as Docker Hub does: `/v2/…` without a token it
/// issued answers `401` with a `Bearer` challenge whose realm is its own `/token`, which hands out
/// tokens for Basic credentials `user:password` (and records the scopes asked for). Requests
/// with a valid token are forwarded to the registry.
pub struct TokenFront {
    acceptor: Acceptor,
    pub scopes: Arc<std::sync::Mutex<Vec<String>>>,
}

impl TokenFront {
    pub fn start(target_port: u16, user: &str, password: &str) -> TokenFront {
        use base64_lite::encode;
        let scopes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let issued = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let want_basic = format!("Basic {}", encode(format!("{user}:{password}").as_bytes()));
        let port_cell = Arc::new(std::sync::OnceLock::<u16>::new());
        let (sc, iss, pc) = (scopes.clone(), issued.clone(), port_cell.clone());
        let acceptor = Acceptor::start(move |mut s| {
            let Some(head) = read_head(&mut s) else {
                return;
            };
            let text = String::from_utf8_lossy(&head).into_owned();
            let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
            let auth = text
                .lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                        .map(|(_, v)| v.trim().to_string())
                })
                .unwrap_or_default();
            if let Some(query) = path.strip_prefix("/token") {
                if auth != want_basic {
                    let body = r#"{"details":"incorrect username or password"}"#;
                    let _ = s.write_all(
                        format!(
                            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    );
                    return;
                }
                let scope = query
                    .trim_start_matches('?')
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("scope="))
                    .map(percent_decode)
                    .unwrap_or_default();
                sc.lock().unwrap().push(scope);
                let token = format!("tok-{}", iss.lock().unwrap().len() + 1);
                iss.lock().unwrap().push(token.clone());
                let body = format!(r#"{{"token":"{token}","expires_in":300}}"#);
                let _ = s.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
                return;
            }
            let ok = auth
                .strip_prefix("Bearer ")
                .is_some_and(|t| iss.lock().unwrap().iter().any(|i| i == t));
            if !ok {
                let port = pc.get().copied().unwrap_or(0);
                let repo = path
                    .strip_prefix("/v2/")
                    .and_then(|p| p.split_once("/manifests/").or(p.split_once("/blobs/")))
                    .map(|(r, _)| r.to_string())
                    .unwrap_or_default();
                let scope = if repo.is_empty() {
                    String::new()
                } else {
                    format!(",scope=\"repository:{repo}:pull\"")
                };
                let body =
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
                let _ = s.write_all(
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer \
                         realm=\"http://127.0.0.1:{port}/token\",service=\"pouch-test\"{scope}\r\n\
                         Content-Type: application/json\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
                return;
            }
            let Ok(mut up) = TcpStream::connect(("127.0.0.1", target_port)) else {
                return;
            };
            if up.write_all(&head).is_ok() {
                pipe(s, up);
            }
        });
        let _ = port_cell.set(acceptor.port);
        TokenFront { acceptor, scopes }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.acceptor.port)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 (with padding), enough for a Basic header.
mod base64_lite {
    pub fn encode(input: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let n = chunk.len();
            let v = (chunk[0] as u32) << 16
                | (chunk.get(1).copied().unwrap_or(0) as u32) << 8
                | chunk.get(2).copied().unwrap_or(0) as u32;
            for i in 0..4 {
                if i <= n {
                    out.push(T[((v >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
