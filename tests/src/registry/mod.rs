//! A local registry for the distribution tests and benchmarks: Debian's `docker-registry` on
//! 127.0.0.1 with a temporary storage dir, plus two small TCP helpers that sit in front of it: a
//! [`FlakyFront`] that fails or redirects requests (to prove retries and redirects) and a
//! [`ConnectProxy`] (to prove the daemon's proxy setting). Every process and thread started here
//! is stopped when its value is dropped.

mod fronts;
mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::archives::sha256_hex;

pub use fronts::{ConnectProxy, FlakyFront, TokenFront};
pub use util::*;

const REGISTRY: &str = "/usr/bin/docker-registry";

pub fn have_registry() -> bool {
    let ok = Path::new(REGISTRY).exists();
    if !ok {
        eprintln!("SKIP: {REGISTRY} is not installed (apt-get install docker-registry)");
    }
    ok
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[derive(Default)]
pub struct RegistryOpts {
    /// (certificate, key) PEM files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// With `tls`: clients must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
    pub htpasswd: Option<PathBuf>,
    /// Top-level YAML appended to the registry's config as it is.
    pub extra_yaml: Option<String>,
}

/// A docker-registry process on 127.0.0.1, killed by PID when dropped.
pub struct Registry {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Registry {
    pub fn start(opts: RegistryOpts) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("pouch-registry-")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
             delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: pouch-test\n",
            dir.path().join("storage").display()
        );
        if let Some((cert, key)) = &opts.tls {
            yaml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            if let Some(ca) = &opts.client_ca {
                yaml.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
            }
        }
        if let Some(h) = &opts.htpasswd {
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: pouch-test\n    path: {}\n",
                h.display()
            ));
        }
        if let Some(extra) = &opts.extra_yaml {
            yaml.push_str(extra);
        }
        std::fs::write(dir.path().join("config.yml"), yaml).expect("registry config");
        let mut r = Registry {
            dir,
            port,
            child: None,
        };
        r.spawn();
        r
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("registry.log"))
            .expect("registry log");
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("docker-registry exited ({st}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the filesystem driver keeps a blob's bytes.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// One plain-HTTP request to the registry (`Connection: close`): (status, headers, body).
    pub fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect registry");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.host(),
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("http head");
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status");
        (status, head, buf[split + 4..].to_vec())
    }

    /// Monolithic blob upload by raw HTTP (for content pouch does not make itself).
    pub fn put_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = format!("sha256:{}", sha256_hex(data));
        let (st, head, _) = self.http("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
        assert_eq!(st, 202, "{head}");
        let loc = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                    .map(|(_, v)| v.trim().to_string())
            })
            .expect("Location");
        let loc = loc
            .strip_prefix(&format!("http://{}", self.host()))
            .unwrap_or(&loc)
            .to_string();
        let sep = if loc.contains('?') { '&' } else { '?' };
        let (st, head, _) = self.http(
            "PUT",
            &format!("{loc}{sep}digest={digest}"),
            &[("Content-Type", "application/octet-stream")],
            data,
        );
        assert_eq!(st, 201, "{head}");
        digest
    }

    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) {
        let (st, head, b) = self.http(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            body,
        );
        assert_eq!(st, 201, "{head}\n{}", String::from_utf8_lossy(&b));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}
