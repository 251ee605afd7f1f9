//! The remote API behind mutual TLS, with docker's flags and config keys: the stock docker CLI
//! (flags, `DOCKER_CERT_PATH` + `DOCKER_TLS_VERIFY`, `docker context`), the Docker SDK for Python
//! and the pouch CLI connect with a client certificate; a client without one, or with one from
//! another CA, is refused at the handshake and reaches nothing; a tcp:// listener without TLS is
//! refused at startup unless `--tls=false` says so.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use pouch_e2e::registry::{free_port, make_certs};
use pouch_e2e::{Daemon, bin, have_docker, out, with_stdin};

/// A throwaway CA with a server certificate for 127.0.0.1 and a client certificate
/// (`ca.crt`, `srv.crt`/`srv.key`, `client.cert`/`client.key`); None, after saying why, where the
/// openssl CLI cannot make them.
fn certs() -> Option<tempfile::TempDir> {
    let dir = tempfile::tempdir().unwrap();
    if make_certs(dir.path()).is_none() {
        eprintln!("SKIP: the openssl CLI could not make test certificates");
        return None;
    }
    Some(dir)
}

/// A container that echoes its stdin: attach in both directions, half-closed at the end.
const RUN_CAT: [&str; 7] = ["run", "-i", "--rm", "--network", "none", "busybox", "cat"];

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// A daemon serving its API on a loopback TCP port too, with `tls_flags`; returns it and
/// `tcp://127.0.0.1:PORT`.
fn tcp_daemon(tls_flags: &[&str]) -> (Daemon, String) {
    let host = format!("tcp://127.0.0.1:{}", free_port());
    let mut args = vec!["-H", host.as_str()];
    args.extend_from_slice(tls_flags);
    let d = Daemon::start_with(&args).unwrap_or_else(|e| panic!("{e}"));
    (d, host)
}

/// `--tlsverify` with the CA and the server's certificate from `certs`.
fn verify_flags(certs: &Path) -> Vec<String> {
    vec![
        "--tlsverify".into(),
        "--tlscacert".into(),
        path(certs, "ca.crt"),
        "--tlscert".into(),
        path(certs, "srv.crt"),
        "--tlskey".into(),
        path(certs, "srv.key"),
    ]
}

/// The client flags docker and pouch share: `--tlsverify` against the CA in `ca`, with the
/// client certificate in `client` (None: no certificate).
fn client_flags(ca: &Path, client: Option<&Path>) -> Vec<String> {
    let mut v = vec![
        "--tlsverify".into(),
        "--tlscacert".into(),
        path(ca, "ca.crt"),
    ];
    if let Some(c) = client {
        v.extend([
            "--tlscert".into(),
            path(c, "client.cert"),
            "--tlskey".into(),
            path(c, "client.key"),
        ]);
    }
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The stock docker CLI with a private config dir and none of the caller's DOCKER_* settings.
fn docker(d: &Daemon) -> Command {
    let cfg = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_CONFIG", &cfg);
    for k in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
    ] {
        cmd.env_remove(k);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// `docker --tlsverify` against `host` with the client certificate from `client` (a dir with
/// `client.cert`/`client.key`, or None for no certificate), trusting `ca`.
fn docker_tls(d: &Daemon, host: &str, ca: &Path, client: Option<&Path>, args: &[&str]) -> Output {
    docker(d)
        .args(client_flags(ca, client))
        .args(["-H", host])
        .args(args)
        .output()
        .expect("run docker")
}

fn ok(o: Output, what: &str) -> String {
    let (so, se, code) = out(&o);
    assert_eq!(code, Some(0), "{what}\nstdout: {so}\nstderr: {se}");
    so
}

/// The containers the daemon has, asked over its unix socket.
fn container_count(d: &Daemon) -> usize {
    d.http("GET", "/containers/json?all=1", b"")
        .json()
        .as_array()
        .map_or(0, Vec::len)
}

/// docker's cert dir layout (`ca.pem`, `cert.pem`, `key.pem`) made from `certs`, for
/// `DOCKER_CERT_PATH`; `server` picks the server's pair instead of the client's.
fn docker_cert_dir(certs: &Path, server: bool) -> PathBuf {
    let dir = certs.join(if server { "daemon-pem" } else { "client-pem" });
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = if server {
        ("srv.crt", "srv.key")
    } else {
        ("client.cert", "client.key")
    };
    for (from, to) in [("ca.crt", "ca.pem"), (cert, "cert.pem"), (key, "key.pem")] {
        std::fs::copy(certs.join(from), dir.join(to)).unwrap();
    }
    dir
}

#[test]
fn docker_cli_with_a_client_certificate_runs_containers_over_mutual_tls() {
    let Some(c) = certs() else { return };
    if !have_docker() {
        return;
    }
    let (d, host) = tcp_daemon(&strs(&verify_flags(c.path())));
    d.load_busybox();
    let v = ok(
        docker_tls(&d, &host, c.path(), Some(c.path()), &["version"]),
        "docker version",
    );
    assert!(v.contains("Server: pouch"), "{v}");
    // A container's output comes back over the TLS connection, and so does stdin: attach
    // hijacks the connection and half-closes it (close_notify) when the input ends.
    let run = ok(
        docker_tls(
            &d,
            &host,
            c.path(),
            Some(c.path()),
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "echo",
                "over-tls",
            ],
        ),
        "docker run",
    );
    assert_eq!(run.trim(), "over-tls");
    let mut cmd = docker(&d);
    cmd.args(client_flags(c.path(), Some(c.path())))
        .args(["-H", &host])
        .args(RUN_CAT);
    let echoed = ok(with_stdin(cmd, b"typed over tls\n"), "docker run -i");
    assert_eq!(echoed, "typed over tls\n");

    // The environment form: DOCKER_CERT_PATH holds ca.pem, cert.pem and key.pem.
    let pem = docker_cert_dir(c.path(), false);
    let o = docker(&d)
        .env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &pem)
        .args(["info", "--format", "{{.ID}}"])
        .output()
        .unwrap();
    let id = ok(o, "docker info with DOCKER_CERT_PATH");
    assert_eq!(id.trim(), d.http("GET", "/info", b"").json()["ID"]);

    // A docker context that names the endpoint and its certificates.
    let endpoint = format!(
        "host={host},ca={},cert={},key={}",
        path(&pem, "ca.pem"),
        path(&pem, "cert.pem"),
        path(&pem, "key.pem")
    );
    ok(
        docker(&d)
            .args(["context", "create", "pouch-tls", "--docker", &endpoint])
            .output()
            .unwrap(),
        "docker context create",
    );
    let ps = ok(
        docker(&d)
            .args([
                "--context",
                "pouch-tls",
                "images",
                "--format",
                "{{.Repository}}",
            ])
            .output()
            .unwrap(),
        "docker --context images",
    );
    assert!(ps.lines().any(|l| l == "busybox"), "{ps}");
}

#[test]
fn a_client_without_a_certificate_is_refused_at_the_handshake() {
    let Some(c) = certs() else { return };
    let (d, host) = tcp_daemon(&strs(&verify_flags(c.path())));
    d.load_busybox();
    if have_docker() {
        let o = docker_tls(
            &d,
            &host,
            c.path(),
            None,
            &["run", "--network", "none", "busybox", "true"],
        );
        let (so, se, code) = out(&o);
        assert_ne!(code, Some(0), "{so}");
        assert!(se.contains("certificate required"), "{se}");
    }
    // The pouch CLI is refused the same way.
    let o = Command::new(bin("pouch"))
        .args(client_flags(c.path(), None))
        .args([
            "-H",
            &host,
            "create",
            "--network",
            "none",
            "busybox",
            "true",
        ])
        .env_remove("DOCKER_CERT_PATH")
        .env("DOCKER_CONFIG", d.dir.path().join("empty-cert-dir"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (so, se, code) = out(&o);
    assert_ne!(code, Some(0), "{so}");
    assert!(se.contains("CertificateRequired"), "{se}");
    // Plain HTTP on the TLS port gets no HTTP answer.
    let port = host.rsplit(':').next().unwrap();
    let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    s.write_all(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).starts_with("HTTP/"),
        "{answer:?}"
    );
    // None of them reached the API.
    assert_eq!(container_count(&d), 0);
    assert!(d.log().contains("refused a TLS connection"), "{}", d.log());
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let Some(c) = certs() else { return };
    let Some(other) = certs() else { return };
    let (d, host) = tcp_daemon(&strs(&verify_flags(c.path())));
    if have_docker() {
        // The client trusts the daemon's CA but shows a certificate the daemon's CA never signed.
        let o = docker_tls(&d, &host, c.path(), Some(other.path()), &["ps"]);
        let (so, se, code) = out(&o);
        assert_ne!(code, Some(0), "{so}");
        // Both test CAs are named alike, so the daemon finds a CA of that name whose signature
        // does not match (a decrypt error alert) rather than none (unknown CA).
        assert!(se.contains("remote error: tls:"), "{se}");
    }
    let o = Command::new(bin("pouch"))
        .args(client_flags(c.path(), Some(other.path())))
        .args(["-H", &host, "ps"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (so, _, code) = out(&o);
    assert_ne!(code, Some(0), "{so}");
    // And a client that trusts another CA refuses the daemon's certificate.
    let o = Command::new(bin("pouch"))
        .args(client_flags(other.path(), Some(c.path())))
        .args(["-H", &host, "ps"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (so, se, code) = out(&o);
    assert_ne!(code, Some(0), "{so}");
    assert!(se.contains("TLS handshake with pouchd"), "{se}");
    assert!(d.log().contains("refused a TLS connection"), "{}", d.log());
}

#[test]
fn docker_sdk_for_python_connects_with_a_client_certificate() {
    let Some(c) = certs() else { return };
    let have_sdk = Command::new("python3")
        .args(["-c", "import docker"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_sdk {
        eprintln!("SKIP: the Docker SDK for Python is not installed (pip install docker)");
        return;
    }
    let (d, host) = tcp_daemon(&strs(&verify_flags(c.path())));
    d.load_busybox();
    let script = r#"
import sys, docker
url, ca, cert, key = sys.argv[1:5]
tls = docker.tls.TLSConfig(client_cert=(cert, key), ca_cert=ca, verify=True)
c = docker.DockerClient(base_url=url, tls=tls)
print("version", c.version()["Version"])
print("ran", c.containers.run("busybox", "echo from-python", remove=True,
                              network_mode="none").decode().strip())
try:
    docker.DockerClient(base_url=url, tls=docker.tls.TLSConfig(ca_cert=ca, verify=True)).version()
    print("no-cert connected")
except docker.errors.DockerException as e:
    print("no-cert refused:", e)
"#;
    let url = host.replace("tcp://", "https://");
    let o = Command::new("python3")
        .args(["-c", script, &url])
        .args([
            &path(c.path(), "ca.crt"),
            &path(c.path(), "client.cert"),
            &path(c.path(), "client.key"),
        ])
        // requests lets these override the CA a caller passes (docker-py's ca_cert).
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .unwrap();
    let so = ok(o, "python docker SDK");
    assert!(so.contains("version 0."), "{so}");
    assert!(so.contains("ran from-python"), "{so}");
    assert!(so.contains("no-cert refused:"), "{so}");
    assert!(so.contains("CERTIFICATE_REQUIRED"), "{so}");
}

#[test]
fn pouch_cli_speaks_tls_with_flags_and_docker_environment() {
    let Some(c) = certs() else { return };
    let (d, host) = tcp_daemon(&strs(&verify_flags(c.path())));
    d.load_busybox();
    let mut cmd = Command::new(bin("pouch"));
    cmd.args(client_flags(c.path(), Some(c.path())))
        .args(["-H", &host])
        .args(RUN_CAT);
    let echoed = ok(
        with_stdin(cmd, b"pouch over tls\n"),
        "pouch run -i over TLS",
    );
    assert_eq!(echoed, "pouch over tls\n");
    let pem = docker_cert_dir(c.path(), false);
    let o = Command::new(bin("pouch"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &pem)
        .args(["-H", &host, "images", "--format", "{{.Repository}}"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let images = ok(o, "pouch images with DOCKER_CERT_PATH");
    assert!(images.lines().any(|l| l == "busybox"), "{images}");
    // A missing certificate file is named before anything is sent.
    let o = Command::new(bin("pouch"))
        .args(["--tlsverify", "--tlscacert", "/nonexistent/ca.pem"])
        .args(["-H", &host, "ps"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (_, se, code) = out(&o);
    assert_eq!(code, Some(1), "{se}");
    assert!(
        se.contains("invalid TLS configuration") && se.contains("/nonexistent/ca.pem"),
        "{se}"
    );
}

#[test]
fn plain_tcp_is_refused_at_startup_unless_tls_false_is_explicit() {
    let tcp = format!("tcp://127.0.0.1:{}", free_port());
    let err = match Daemon::start_with(&["-H", &tcp]) {
        Ok(_) => panic!("pouchd served plain TCP that nobody asked for"),
        Err(e) => e,
    };
    assert!(
        err.contains(&format!("refusing to serve the API on {tcp} without TLS")),
        "{err}"
    );
    assert!(
        err.contains("--tls=false") && err.contains("--tlsverify"),
        "{err}"
    );

    // `--tls=false` is the operator saying so: plain HTTP is served (with a warning).
    let (d, host) = tcp_daemon(&["--tls=false"]);
    assert_eq!(plain_ping(&host), "OK");
    assert!(d.log().contains("without TLS (--tls=false)"), "{}", d.log());
    // So is `"tls": false` in the config file.
    let tcp = format!("tcp://127.0.0.1:{}", free_port());
    let _d = Daemon::start_with_config(r#"{"tls": false}"#, &["-H", &tcp]).unwrap();
    assert_eq!(plain_ping(&tcp), "OK");
}

#[test]
fn config_file_keys_and_default_certificate_paths() {
    let Some(c) = certs() else { return };
    // dockerd's daemon.json keys.
    let tcp = format!("tcp://127.0.0.1:{}", free_port());
    let cfg = serde_json::json!({
        "tlsverify": true,
        "tlscacert": path(c.path(), "ca.crt"),
        "tlscert": path(c.path(), "srv.crt"),
        "tlskey": path(c.path(), "srv.key"),
    });
    let d = Daemon::start_with_config(&cfg.to_string(), &["-H", &tcp]).unwrap();
    assert!(tls_ping(&tcp, c.path(), Some(c.path())));
    assert!(
        !tls_ping(&tcp, c.path(), None),
        "a client without a certificate got in"
    );
    drop(d);

    // Without paths, ca.pem, cert.pem and key.pem come from DOCKER_CERT_PATH (else ~/.docker).
    let pem = docker_cert_dir(c.path(), true);
    let mut d = Daemon::start();
    d.stop();
    let tcp = format!("tcp://127.0.0.1:{}", free_port());
    let env = format!("DOCKER_CERT_PATH={}", pem.display());
    d.spawn_under(&["env", &env], &["-H", &tcp, "--tlsverify"])
        .unwrap();
    assert!(tls_ping(&tcp, c.path(), Some(c.path())));
    assert!(!tls_ping(&tcp, c.path(), None));

    // A missing file stops pouchd at once, naming it.
    d.stop();
    let err = d
        .spawn_under(
            &["env", "DOCKER_CERT_PATH=/nonexistent"],
            &["-H", &tcp, "--tls"],
        )
        .unwrap_err();
    assert!(
        err.contains("invalid TLS configuration") && err.contains("/nonexistent/cert.pem"),
        "{err}"
    );
}

#[test]
fn tls_verifies_clients_unless_tlsverify_is_false() {
    let Some(c) = certs() else { return };
    let server = [
        "--tlscert".to_string(),
        path(c.path(), "srv.crt"),
        "--tlskey".into(),
        path(c.path(), "srv.key"),
        "--tlscacert".into(),
        path(c.path(), "ca.crt"),
    ];
    // `--tls` alone verifies clients, as dockerd does (TLS on and --tlsverify not given).
    let mut flags = vec!["--tls".to_string()];
    flags.extend_from_slice(&server);
    let (_d, host) = tcp_daemon(&strs(&flags));
    assert!(tls_ping(&host, c.path(), Some(c.path())));
    assert!(!tls_ping(&host, c.path(), None));
    // `--tlsverify=false` serves TLS to any client.
    let mut flags = vec!["--tlsverify=false".to_string()];
    flags.extend_from_slice(&server);
    let (d, host) = tcp_daemon(&strs(&flags));
    assert!(tls_ping(&host, c.path(), None));
    assert!(d.log().contains("without --tlsverify"), "{}", d.log());
    if have_docker()
        && let Some(other) = certs()
    {
        // The docker CLI's `--tls`: encrypted, the daemon's certificate not checked (the CA it
        // is given did not sign it).
        let o = docker(&d)
            .args(["--tls", "--tlscacert", &path(other.path(), "ca.crt")])
            .args(["-H", &host, "version", "--format", "{{.Server.Version}}"])
            .output()
            .unwrap();
        assert_eq!(ok(o, "docker --tls version").trim(), "0.1.0");
    }
}

/// `GET /_ping` over TLS with the pouch CLI (`pouch version` pings and asks `/version`):
/// whether the daemon let it in.
fn tls_ping(host: &str, ca: &Path, client: Option<&Path>) -> bool {
    Command::new(bin("pouch"))
        .args(client_flags(ca, client))
        .env("DOCKER_CONFIG", "/nonexistent")
        .env_remove("DOCKER_CERT_PATH")
        .args(["-H", host, "version"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .status
        .success()
}

/// `GET /_ping` in plain HTTP on `tcp://host:port`; the body.
fn plain_ping(host: &str) -> String {
    let addr = host.trim_start_matches("tcp://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
        .rsplit("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}
