//! `POST /containers/{id}/attach` with `logs` and `stream` (history, live output, both or
//! neither).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use pouch_e2e::Daemon;

/// A hijacking attach with `query`: the stream after the `101` headers.
fn hijack(d: &Daemon, id: &str, query: &str) -> UnixStream {
    d.hijack(&format!("/containers/{id}/attach?{query}"))
}

/// Reads until the daemon closes the stream; fails if it is still open after the read timeout.
fn read_to_close(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("the attach did not end ({e}); got so far: {out:?}"));
    out
}

/// Splits docker's multiplexed stream into `(stream, payload)` frames.
fn frames(mut b: &[u8]) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        assert!(b.len() >= 8, "truncated frame header: {b:?}");
        let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        assert!(b.len() >= 8 + len, "truncated frame: {b:?}");
        out.push((b[0], String::from_utf8_lossy(&b[8..8 + len]).into_owned()));
        b = &b[8 + len..];
    }
    out
}

/// The payloads of one stream, in order.
fn of(frames: &[(u8, String)], stream: u8) -> Vec<&str> {
    frames
        .iter()
        .filter(|(s, _)| *s == stream)
        .map(|(_, p)| p.as_str())
        .collect()
}

/// Reads one whole frame.
fn read_frame(s: &mut UnixStream) -> (u8, String) {
    let mut head = [0u8; 8];
    s.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (head[0], String::from_utf8_lossy(&payload).into_owned())
}

fn create(d: &Daemon, name: &str, body: &str) {
    let r = d.http(
        "POST",
        &format!("/containers/create?name={name}"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

fn start(d: &Daemon, name: &str) {
    let r = d.http("POST", &format!("/containers/{name}/start"), b"");
    assert_eq!(r.status, 204, "{}", r.text());
}

/// Waits until the container's log holds `needle`.
fn wait_logged(d: &Daemon, name: &str, needle: &str) {
    d.wait_for(20, &format!("{name} to log {needle:?}"), || {
        d.http(
            "GET",
            &format!("/containers/{name}/logs?stdout=1&stderr=1"),
            b"",
        )
        .text()
        .contains(needle)
    });
}

#[test]
fn attach_with_logs_and_no_stream_replays_the_log_and_ends() {
    let d = Daemon::start();
    d.load_busybox();
    create(
        &d,
        "talk",
        r#"{"Image":"busybox","Cmd":["sh","-c","echo out1; echo err1 >&2; echo out2; exec sleep 1000"]}"#,
    );
    start(&d, "talk");
    wait_logged(&d, "talk", "out2");
    wait_logged(&d, "talk", "err1");

    // Hijacked, both streams: the history, framed per stream, then the end (the container is
    // still running).
    let mut s = hijack(&d, "talk", "logs=1&stdout=1&stderr=1");
    let f = frames(&read_to_close(&mut s));
    assert_eq!(of(&f, 1), ["out1\n", "out2\n"], "{f:?}");
    assert_eq!(of(&f, 2), ["err1\n"], "{f:?}");

    // Only the streams asked for.
    let mut s = hijack(&d, "talk", "logs=1&stdout=1");
    let f = frames(&read_to_close(&mut s));
    assert_eq!(f, [(1, "out1\n".into()), (1, "out2\n".into())]);

    // Without a hijack the history is the response body.
    let r = d.http("POST", "/containers/talk/attach?logs=1&stderr=1", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(frames(&r.body), [(2, "err1\n".into())]);

    // An exited container: its whole log, and the attach does not wait for a next start.
    create(
        &d,
        "done",
        r#"{"Image":"busybox","Cmd":["sh","-c","echo bye-out; echo bye-err >&2"]}"#,
    );
    start(&d, "done");
    let w = d.http("POST", "/containers/done/wait", b"");
    assert_eq!(w.json()["StatusCode"], 0);
    let mut s = hijack(&d, "done", "logs=1&stdout=1&stderr=1");
    let f = frames(&read_to_close(&mut s));
    assert_eq!(of(&f, 1), ["bye-out\n"], "{f:?}");
    assert_eq!(of(&f, 2), ["bye-err\n"], "{f:?}");

    // A tty container's history is raw, like its live output.
    create(
        &d,
        "tty",
        r#"{"Image":"busybox","Tty":true,"Cmd":["sh","-c","echo tty1; exec sleep 1000"]}"#,
    );
    start(&d, "tty");
    wait_logged(&d, "tty", "tty1");
    let mut s = hijack(&d, "tty", "logs=1&stdout=1&stderr=1");
    assert_eq!(read_to_close(&mut s), b"tty1\r\n");
}

#[test]
fn attach_with_logs_and_stream_replays_the_log_then_follows() {
    let d = Daemon::start();
    d.load_busybox();
    create(
        &d,
        "ask",
        r#"{"Image":"busybox","OpenStdin":true,"Cmd":["sh","-c","echo before; read l; echo after-$l"]}"#,
    );
    start(&d, "ask");
    wait_logged(&d, "ask", "before");
    let mut s = hijack(&d, "ask", "logs=1&stream=1&stdin=1&stdout=1&stderr=1");
    // The history comes first, before the container has printed anything new.
    assert_eq!(read_frame(&mut s), (1, "before\n".to_string()));
    // Then the live stream, stdin included; it ends when the container does.
    s.write_all(b"x\n").unwrap();
    let f = frames(&read_to_close(&mut s));
    assert_eq!(f, [(1, "after-x\n".to_string())]);

    // A created container: the history of its last run now, the next run's output live.
    let w = d.http("POST", "/containers/ask/wait", b"");
    assert_eq!(w.json()["StatusCode"], 0);
    let mut s = hijack(&d, "ask", "logs=1&stream=1&stdin=1&stdout=1");
    assert_eq!(read_frame(&mut s), (1, "before\n".to_string()));
    assert_eq!(read_frame(&mut s), (1, "after-x\n".to_string()));
    start(&d, "ask");
    assert_eq!(read_frame(&mut s), (1, "before\n".to_string()));
    s.write_all(b"y\n").unwrap();
    let f = frames(&read_to_close(&mut s));
    assert_eq!(f, [(1, "after-y\n".to_string())]);
}

/// A container that writes while the attach begins: every line arrives, in order. (A line the
/// container writes during the attach handshake itself may arrive twice, once from the log and
/// once live; nothing may be missing.)
#[test]
fn attach_with_logs_and_stream_loses_nothing_at_the_boundary() {
    let d = Daemon::start();
    d.load_busybox();
    create(
        &d,
        "count",
        r#"{"Image":"busybox","Cmd":["sh","-c","i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo $i; usleep 5000; done; echo end; exec sleep 1000"]}"#,
    );
    start(&d, "count");
    wait_logged(&d, "count", "20\n");
    let mut s = hijack(&d, "count", "logs=1&stream=1&stdout=1");
    let mut text = String::new();
    while !text.ends_with("end\n") {
        let (stream, payload) = read_frame(&mut s);
        assert_eq!(stream, 1);
        text.push_str(&payload);
    }
    let numbers: Vec<u32> = text
        .lines()
        .take_while(|l| *l != "end")
        .map(|l| l.parse().unwrap_or_else(|_| panic!("{l:?} in {text}")))
        .collect();
    // 1, 2, …, k, then j, j+1, …, 300 with j ≤ k + 1: at most one step back (the overlap).
    let mut steps_back = 0;
    for w in numbers.windows(2) {
        if w[1] != w[0] + 1 {
            assert!(
                w[1] <= w[0],
                "lines {} to {} are missing",
                w[0] + 1,
                w[1] - 1
            );
            steps_back += 1;
        }
    }
    assert!(steps_back <= 1, "{numbers:?}");
    assert_eq!(numbers.first(), Some(&1), "{numbers:?}");
    assert_eq!(numbers.last(), Some(&300), "{numbers:?}");
}

#[test]
fn attach_without_logs_or_stream_returns_at_once() {
    let d = Daemon::start();
    d.load_busybox();
    create(
        &d,
        "quiet",
        r#"{"Image":"busybox","Cmd":["sh","-c","echo hello; exec sleep 1000"]}"#,
    );
    start(&d, "quiet");
    wait_logged(&d, "quiet", "hello");
    let mut s = hijack(&d, "quiet", "stdout=1&stderr=1");
    assert_eq!(read_to_close(&mut s), b"");
    let r = d.http("POST", "/containers/quiet/attach?stdout=1&stderr=1", b"");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b""[..]),
        "{}",
        r.text()
    );
    // Still 404 for a container that does not exist.
    let r = d.http("POST", "/containers/nosuch/attach?stdout=1", b"");
    assert_eq!(r.status, 404, "{}", r.text());
}
