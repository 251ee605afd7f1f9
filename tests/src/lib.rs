//! Test harness: starts a real `pouchd` in a temporary root with its own socket, and drives it
//! with the real `pouch` CLI, the stock `docker` CLI, or raw HTTP over the unix socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, UNIX_EPOCH};

use sha2::{Digest, Sha256};

pub mod archives;
pub mod registry;

/// Whether the stock docker CLI is installed; tests that need it print a skip reason otherwise.
pub fn have_docker() -> bool {
    let ok = Command::new("docker")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP: the docker CLI is not installed on this host");
    }
    ok
}

/// A daemon with busybox loaded, for a test that drives it with the stock docker CLI; None
/// (after saying why) where that CLI is not installed.
pub fn docker_daemon() -> Option<Daemon> {
    if !have_docker() {
        return None;
    }
    let d = Daemon::start();
    d.load_busybox();
    Some(d)
}

/// stdout, stderr and the exit code of a finished command.
pub fn out(o: &Output) -> (String, String, Option<i32>) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code(),
    )
}

/// Where cargo put the workspace binaries (next to this test executable's `deps/`).
pub fn bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("POUCH_BIN_DIR") {
        return Path::new(&dir).join(name);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` first",
        p.display()
    );
    p
}

/// The offline-built test images (see scripts/make-test-images.py), made once per test binary.
pub fn test_images() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Built once per version of the script and of busybox, and shared by every test binary
        // and run: a finished build is renamed into place, so a reader never sees half of one.
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-test-images.py");
        let mut key = Sha256::new();
        key.update(std::fs::read(&script).expect("make-test-images.py"));
        let busybox = std::env::var("BUSYBOX").unwrap_or_else(|_| "/bin/busybox".into());
        key.update(&busybox);
        if let Ok(m) = std::fs::metadata(&busybox) {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
            key.update(format!("{} {:?}", m.len(), mtime));
        }
        let hash = hex::encode(key.finalize());
        let dir = std::env::temp_dir().join(format!("pouch-test-images-{}", &hash[..16]));
        if dir.join("busybox-docker.tar").exists() {
            return dir;
        }
        let staging = std::env::temp_dir().join(format!(
            "pouch-test-images-{}.{}",
            &hash[..16],
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&staging);
        let out = Command::new("python3")
            .arg(&script)
            .arg(&staging)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "building test images failed (is busybox-static installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Another binary may have finished first: its copy is as good as this one.
        if std::fs::rename(&staging, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        assert!(dir.join("busybox-docker.tar").exists(), "{}", dir.display());
        dir
    })
}

/// A host port for a test to publish: free now and below the kernel's ephemeral range, so that no
/// outgoing connection on the machine is given it meanwhile (pouchd holds published ports as
/// dockerd does, and a connection bound to one would make the start fail).
pub fn free_port() -> u16 {
    let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let (base, span) = (10000u32, u32::from(low).saturating_sub(10000).max(1000));
    let mut x = std::process::id()
        ^ std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    for _ in 0..1000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let port = (base + (x >> 8) % span) as u16;
        let free = |a: &str| std::net::TcpListener::bind((a, port)).is_ok();
        if free("127.0.0.1")
            && free("0.0.0.0")
            && std::net::UdpSocket::bind(("0.0.0.0", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port below {low}");
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub exec_root: PathBuf,
    pub sock: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// Starts pouchd with a fresh root and waits until `/_ping` answers.
    pub fn start() -> Daemon {
        Daemon::start_with(&[]).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn start_with(extra: &[&str]) -> Result<Daemon, String> {
        Daemon::start_with_config("{}", extra)
    }

    /// Starts pouchd with `config` as its config file.
    pub fn start_with_config(config: &str, extra: &[&str]) -> Result<Daemon, String> {
        let dir = tempfile::Builder::new()
            .prefix("pouch-e2e-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let root = dir.path().join("root");
        let exec_root = dir.path().join("exec");
        let sock = dir.path().join("pouchd.sock");
        std::fs::write(
            dir.path().join("config.json"),
            with_network_defaults(config, dir.path()),
        )
        .map_err(|e| e.to_string())?;
        let mut d = Daemon {
            root,
            exec_root,
            sock,
            child: None,
            dir,
        };
        d.spawn(extra)?;
        Ok(d)
    }

    /// Starts (or restarts) the process on this daemon's root and socket.
    pub fn spawn(&mut self, extra: &[&str]) -> Result<(), String> {
        self.spawn_under(&[], extra)
    }

    /// Like [`Daemon::spawn`], with pouchd run by `wrapper` (a command and its arguments that
    /// execs the rest, such as `setpriv … `).
    pub fn spawn_under(&mut self, wrapper: &[&str], extra: &[&str]) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("pouchd.log"))
            .map_err(|e| e.to_string())?;
        let mut cmd = match wrapper {
            [] => Command::new(bin("pouchd")),
            [program, args @ ..] => {
                let mut c = Command::new(program);
                c.args(args).arg(bin("pouchd"));
                c
            }
        };
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("-H")
            .arg(self.host())
            .arg("--config")
            .arg(self.config_file())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let child = cmd.spawn().map_err(|e| format!("spawn pouchd: {e}"))?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn config_file(&self) -> PathBuf {
        let p = self.dir.path().join("config.json");
        if !p.exists() {
            std::fs::write(&p, "{}").expect("config");
        }
        p
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("pouchd exited with {status}: {}", self.log()));
            }
            if let Ok(r) = self.try_http("GET", "/_ping", b"")
                && r.status == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("pouchd not ready after 30s: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A key of this daemon's config file (for example `bridge` or `nft-table`).
    pub fn config_value(&self, key: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.config_file()).unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default()[key].clone()
    }

    /// The default bridge's interface name.
    pub fn bridge(&self) -> String {
        self.config_value("bridge")
            .as_str()
            .unwrap_or("pouch0")
            .to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pouchd.log")).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().ok().and_then(|s| s.code())
    }

    /// SIGKILL: a crash, as far as the daemon can tell.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILL without reaping: the killed pouchd stays a zombie (its pid and name still in
    /// `/proc`) until the caller waits for the returned child.
    pub fn kill9_unreaped(&mut self) -> Child {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL pouchd");
        child
    }

    /// Runs the `pouch` CLI against this daemon.
    pub fn pouch(&self, args: &[&str]) -> Output {
        Command::new(bin("pouch"))
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run pouch")
    }

    /// Runs `pouch` and returns stdout, failing the test with stderr if it did not succeed.
    pub fn pouch_ok(&self, args: &[&str]) -> String {
        ok(self.pouch(args), "pouch", args)
    }

    /// Runs the stock docker CLI against this daemon (with a private config dir).
    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    /// The stock docker CLI aimed at this daemon, with a private config dir.
    pub fn docker_command(&self) -> Command {
        let cfg = self.dir.path().join("docker-config");
        std::fs::create_dir_all(&cfg).expect("docker config dir");
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_CONFIG", &cfg)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .arg("-H")
            .arg(self.host());
        cmd
    }

    /// Runs the pouch CLI with `input` on its stdin.
    pub fn pouch_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut cmd = Command::new(bin("pouch"));
        cmd.arg("-H").arg(self.host()).args(args);
        with_stdin(cmd, input)
    }

    /// Runs the docker CLI with `input` on its stdin.
    pub fn docker_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut cmd = self.docker_command();
        cmd.args(args);
        with_stdin(cmd, input)
    }

    /// Loads the offline busybox image as `busybox:latest`.
    pub fn load_busybox(&self) {
        let r = self.http(
            "POST",
            "/images/load",
            &std::fs::read(test_images().join("busybox-docker.tar")).expect("image"),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }

    /// Polls `cond` until it holds or `secs` pass; for state that changes asynchronously.
    pub fn wait_for(&self, secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "timed out after {secs}s waiting for {what}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, id: &str) -> serde_json::Value {
        self.http("GET", &format!("/containers/{id}/json"), b"")
            .json()
    }

    /// An image's `RepoTags` (`GET /images/{image}/json`), sorted.
    pub fn repo_tags(&self, image: &str) -> Vec<String> {
        let img = self
            .http("GET", &format!("/images/{image}/json"), b"")
            .json();
        let mut tags: Vec<String> = img["RepoTags"]
            .as_array()
            .unwrap_or_else(|| panic!("no RepoTags: {img}"))
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        tags.sort();
        tags
    }

    /// `SecurityOptions` from `GET /info` (`name=seccomp,profile=builtin`, `name=userns` …).
    pub fn security_options(&self) -> Vec<String> {
        let info = self.http("GET", "/info", b"").json();
        info["SecurityOptions"]
            .as_array()
            .unwrap_or_else(|| panic!("no SecurityOptions: {info}"))
            .iter()
            .map(|o| o.as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn docker_ok(&self, args: &[&str]) -> String {
        ok(self.docker(args), "docker", args)
    }

    pub fn http(&self, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        self.try_http(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn try_http(&self, method: &str, path: &str, body: &[u8]) -> std::io::Result<HttpResponse> {
        raw_http(&self.sock, method, path, body)
    }

    /// `POST`s `path` asking to upgrade the connection (attach, exec start) and returns the raw
    /// stream after the `101` headers; reads on it time out after 20 s.
    pub fn hijack(&self, path: &str) -> UnixStream {
        let mut s = UnixStream::connect(&self.sock).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: pouch\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .expect("write request");
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).expect("read headers");
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "POST {path}: {head}");
        s
    }

    /// Files under `<root>/<sub>` (recursively, relative names), to prove nothing was left behind.
    pub fn tree(&self, sub: &str) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root.join(sub), &self.root.join(sub), &mut out);
        out.sort();
        out
    }
}

impl Drop for Daemon {
    /// Containers outlive the daemon by design, so the harness removes them before stopping it.
    fn drop(&mut self) {
        if self.child.is_some()
            && let Ok(r) = self.try_http("GET", "/containers/json?all=1", b"")
            && let Ok(serde_json::Value::Array(list)) =
                serde_json::from_slice::<serde_json::Value>(&r.body)
        {
            for c in list {
                if let Some(id) = c["Id"].as_str() {
                    let _ = self.try_http("DELETE", &format!("/containers/{id}?force=1"), b"");
                }
            }
        }
        self.stop();
    }
}

/// Each test daemon gets its own default bridge, nftables table and address pool, so daemons
/// running side by side never collide; a config that names them keeps its own.
fn with_network_defaults(config: &str, dir: &Path) -> String {
    use sha2::Digest;
    let Ok(serde_json::Value::Object(mut m)) = serde_json::from_str(config) else {
        return config.to_string();
    };
    let tag = &hex::encode(sha2::Sha256::digest(dir.display().to_string()))[..8];
    m.entry("bridge")
        .or_insert_with(|| format!("pt{tag}").into());
    m.entry("nft-table")
        .or_insert_with(|| format!("pouch_t{tag}").into());
    m.entry("default-address-pools")
        .or_insert_with(|| serde_json::json!([{"base": "10.213.0.0/16", "size": 24}]));
    // Not the host's /etc/cni/net.d: test daemons see only the CNI networks a test writes.
    m.entry("cni-config-dir")
        .or_insert_with(|| dir.join("cni").display().to_string().into());
    serde_json::Value::Object(m).to_string()
}

/// Percent-encodes `s` for a URL query value (everything but letters, digits and `-_.`).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `cmd` with `input` written to its stdin (then closed), collecting its output.
pub fn with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("output")
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.strip_prefix(base).unwrap_or(&p).display().to_string());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(base, &p, out);
        }
    }
}

fn ok(out: Output, prog: &str, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "{prog} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `message` of docker's error body (`{"message": "…"}`); panics, showing the body,
    /// when there is none.
    pub fn message(&self) -> String {
        let v = self.json();
        v["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {v}"))
            .to_string()
    }
}

/// A minimal HTTP/1.1 exchange (one request per connection), so tests see exactly what the
/// daemon sends: status, headers, and the body after de-chunking.
pub fn raw_http(
    sock: &Path,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: pouch\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    // A daemon may answer (and close) before taking the whole body, as HTTP allows: the answer
    // is what the test checks, so a failed body write is not the result.
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header terminator"))?;
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
    out
}
