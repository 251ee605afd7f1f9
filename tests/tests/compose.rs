//! docker-compose (Debian's 1.29.2) against pouchd: a two-service application — a web server
//! that reads from a second service over the project's network, a named volume, a published
//! port — brought up, inspected, restarted, scaled and torn down without leftovers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use pouch_e2e::{Daemon, free_port, out};

const COMPOSE: &str = r#"version: "3.7"
services:
  data:
    image: busybox
    command: ["sh", "-c", "mkdir -p /srv && echo hello-from-data > /srv/index.html && exec httpd -f -p 8000 -h /srv"]
  web:
    image: busybox
    depends_on: [data]
    ports:
      - "127.0.0.1:PORT:80"
    volumes:
      - webroot:/www
    command: ["sh", "-c", "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\nwget -qO- http://data:8000/\\n' > /www/cgi-bin/q && chmod +x /www/cgi-bin/q && exec httpd -f -p 80 -h /www"]
volumes:
  webroot: {}
"#;

fn have_compose() -> bool {
    let ok = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok();
    if !ok {
        eprintln!("skipping: docker-compose is not installed (Debian package docker-compose)");
    }
    ok
}

/// The body of `GET path` on 127.0.0.1:port, or None while nothing answers properly.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    if !buf.starts_with("HTTP/1.") || !buf.contains(" 200 ") {
        return None;
    }
    // A CGI script's own headers end with a bare blank line.
    buf.split_once("\r\n\r\n")
        .or_else(|| buf.split_once("\n\n"))
        .map(|(_, b)| b.to_string())
}

fn compose(d: &Daemon, dir: &Path, args: &[&str]) -> Output {
    Command::new("docker-compose")
        .current_dir(dir)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .args(["-p", "capp"])
        .args(args)
        .output()
        .unwrap()
}

fn compose_ok(d: &Daemon, dir: &Path, args: &[&str]) -> String {
    let o = compose(d, dir, args);
    let (so, se, code) = out(&o);
    assert_eq!(code, Some(0), "docker-compose {args:?}:\n{so}\n{se}");
    so + &se
}

#[test]
fn compose_two_services_network_volume_port() {
    if !have_compose() {
        return;
    }
    let d = Daemon::start();
    d.load_busybox();
    let dir = d.dir.path().join("app");
    std::fs::create_dir(&dir).unwrap();
    let port = free_port();
    std::fs::write(
        dir.join("docker-compose.yml"),
        COMPOSE.replace("PORT", &port.to_string()),
    )
    .unwrap();

    compose_ok(&d, &dir, &["up", "-d"]);
    d.wait_for(30, "web answers with data's page", || {
        get(port, "/cgi-bin/q").as_deref() == Some("hello-from-data\n")
    });
    let ps = compose_ok(&d, &dir, &["ps"]);
    assert!(
        ps.contains("capp_data_1") && ps.contains("capp_web_1"),
        "{ps}"
    );
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    assert_eq!(ps.matches(" Up ").count(), 2, "{ps}");

    // exec reaches the other service by name; logs come back.
    let o = compose_ok(
        &d,
        &dir,
        &["exec", "-T", "web", "wget", "-qO-", "http://data:8000/"],
    );
    assert!(o.contains("hello-from-data"), "{o}");
    compose_ok(&d, &dir, &["logs", "--no-color", "web"]);

    // The named volume is the project's.
    let v = d.pouch_ok(&["volume", "ls", "-q"]);
    assert_eq!(v, "capp_webroot\n");
    assert_eq!(
        d.pouch_ok(&["exec", "capp_web_1", "ls", "/www/cgi-bin"]),
        "q\n"
    );

    compose_ok(&d, &dir, &["restart"]);
    d.wait_for(30, "web answers after restart", || {
        get(port, "/cgi-bin/q").as_deref() == Some("hello-from-data\n")
    });

    // Scaling the backend: both replicas answer to the service name.
    compose_ok(&d, &dir, &["up", "-d", "--scale", "data=2"]);
    let ids = compose_ok(&d, &dir, &["ps", "-q", "data"]);
    assert_eq!(
        ids.lines().filter(|l| !l.trim().is_empty()).count(),
        2,
        "{ids}"
    );
    d.wait_for(30, "web still answers with two backends", || {
        get(port, "/cgi-bin/q").as_deref() == Some("hello-from-data\n")
    });

    compose_ok(&d, &dir, &["down", "-v"]);
    assert_eq!(d.pouch_ok(&["ps", "-aq"]), "");
    assert_eq!(d.pouch_ok(&["volume", "ls", "-q"]), "");
    let nets = d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains("capp"), "{nets}");
    assert!(get(port, "/").is_none(), "the published port is gone");
}
