//! Helpers shared by the distribution tests: the pouch CLI with a private credentials dir, image
//! archives made on the fly, store checks, and test certificates and password hashes.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{Registry, RegistryOpts, have_registry};
use crate::archives::{sha256_hex, tarball};
use crate::{Daemon, bin, out};

/// The pouch CLI aimed at `d`, with a private credentials dir (shared with the harness' docker
/// CLI).
pub fn pouch_command(d: &Daemon) -> Command {
    let cfg = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let mut cmd = Command::new(bin("pouch"));
    cmd.env("DOCKER_CONFIG", &cfg).arg("-H").arg(d.host());
    cmd
}

/// Runs the pouch CLI with a private credentials dir (see [`pouch_command`]).
pub fn pouch(d: &Daemon, args: &[&str]) -> Output {
    pouch_command(d)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pouch")
}

pub fn pouch_ok(d: &Daemon, args: &[&str]) -> String {
    let o = pouch(d, args);
    let (so, se, code) = out(&o);
    assert_eq!(code, Some(0), "pouch {args:?}\nstdout: {so}\nstderr: {se}");
    so
}

pub fn pouch_err(d: &Daemon, args: &[&str]) -> String {
    let o = pouch(d, args);
    let (so, se, code) = out(&o);
    assert_ne!(code, Some(0), "pouch {args:?} should fail\nstdout: {so}");
    se
}

/// Loads busybox and tags it as `name`, for a test to push.
pub fn tag_busybox(d: &Daemon, name: &str) {
    d.load_busybox();
    pouch_ok(d, &["tag", "busybox", name]);
}

/// A registry and a fresh daemon; None, after saying why, where docker-registry is not
/// installed.
pub fn registry_and_daemon() -> Option<(Registry, Daemon)> {
    if !have_registry() {
        return None;
    }
    Some((Registry::start(RegistryOpts::default()), Daemon::start()))
}

/// A registry, and a daemon whose busybox is tagged `<registry>/<path>` (the returned name):
/// where most distribution tests start. None, after saying why, where docker-registry is not
/// installed.
pub fn registry_with_busybox(path: &str) -> Option<(Registry, Daemon, String)> {
    let (reg, d) = registry_and_daemon()?;
    let name = format!("{}/{path}", reg.host());
    tag_busybox(&d, &name);
    Some((reg, d, name))
}

/// Pushes `name`, then removes it and `also` (the names it was tagged from) locally, so that
/// whatever uses it next must fetch it from the registry.
pub fn push_and_remove(d: &Daemon, name: &str, also: &[&str]) {
    pouch_ok(d, &["push", name]);
    pouch_ok(d, &[&["rmi"], also, &[name]].concat());
}

/// A registry serving TLS with a certificate from a throwaway CA; the returned dir holds the
/// CA and a client certificate (`ca.crt`, `client.cert`, `client.key`). With `client_auth` the
/// registry asks for a client certificate from that CA. None, after saying why, where
/// docker-registry or the openssl CLI is missing.
pub fn tls_registry(client_auth: bool) -> Option<(tempfile::TempDir, Registry)> {
    if !have_registry() {
        return None;
    }
    let certs = tempfile::tempdir().unwrap();
    if make_certs(certs.path()).is_none() {
        eprintln!("SKIP: the openssl CLI could not make test certificates");
        return None;
    }
    let reg = Registry::start(RegistryOpts {
        tls: Some((certs.path().join("srv.crt"), certs.path().join("srv.key"))),
        client_ca: client_auth.then(|| certs.path().join("ca.crt")),
        ..Default::default()
    });
    Some((certs, reg))
}

/// A daemon whose `certs-dir` (docker's /etc/docker/certs.d) is the returned empty dir.
pub fn daemon_with_certs_d() -> (tempfile::TempDir, Daemon) {
    let certs_d = tempfile::tempdir().unwrap();
    let cfg = format!(r#"{{"certs-dir": "{}"}}"#, certs_d.path().display());
    let d = Daemon::start_with_config(&cfg, &[]).unwrap();
    (certs_d, d)
}

/// Starts `pouch pull name` and waits (up to a minute) until a layer download is under way: a
/// non-empty file in the content store's ingest dir. Returns the running pull (stdout and
/// stderr piped) and whether a download was seen before the pull ended.
pub fn pull_caught_downloading(d: &Daemon, name: &str) -> (Child, bool) {
    let mut pull = pouch_command(d)
        .args(["pull", name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && pull.try_wait().unwrap().is_none() {
        let busy = std::fs::read_dir(d.root.join("content/ingest"))
            .map(|r| r.flatten().any(|e| e.metadata().is_ok_and(|m| m.len() > 0)))
            .unwrap_or(false);
        if busy {
            return (pull, true);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    (pull, false)
}

/// The digest a push reports (`tag: digest: sha256:… size: N`).
pub fn pushed_digest(push_output: &str) -> String {
    push_output
        .lines()
        .find_map(|l| l.split("digest: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in push output:\n{push_output}"))
        .to_string()
}

/// A docker-archive with one image of the given architecture and layers (uncompressed).
pub fn archive(tag: &str, arch: &str, layers: &[Vec<u8>]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let cfg_name = format!("{}.json", sha256_hex(&cfg));
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": cfg_name, "RepoTags": [tag], "Layers": names}
    ]))
    .unwrap();
    let mut files: Vec<(&str, &[u8])> = vec![(&cfg_name, &cfg)];
    for (n, l) in names.iter().zip(layers) {
        files.push((n, l));
    }
    files.push(("manifest.json", &manifest));
    tarball(&files)
}

pub fn load(d: &Daemon, archive: &[u8]) {
    let o = d.pouch_stdin(&["load"], archive);
    assert!(o.status.success(), "{:?}", out(&o));
}

/// Incompressible bytes (a xorshift stream), so layers keep their size on the wire.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Top-level entries of `<root>/<sub>` (snapshots, content/ingest …).
pub fn entries(d: &Daemon, sub: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.root.join(sub))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// No staging directory or partial blob: what an interrupted or refused pull must leave.
pub fn assert_no_half_made_layers(d: &Daemon) {
    let staging: Vec<String> = entries(d, "snapshots")
        .into_iter()
        .filter(|e| e.starts_with(".tmp-"))
        .collect();
    assert!(staging.is_empty(), "staging left behind: {staging:?}");
    assert!(
        entries(d, "content/ingest").is_empty(),
        "partial blobs left behind: {:?}",
        entries(d, "content/ingest")
    );
}

/// A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with the
/// openssl CLI.
pub fn make_certs(dir: &Path) -> Option<()> {
    let run = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .ok()?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    // A key and a signing request for `subj`, then `cert` signed by the CA with `ext`.
    let issue = |name: &str, subj: &str, cert: &str, ext: &str| {
        let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
        run(&[
            &["req"][..],
            &ec[..],
            &["-keyout", &key, "-out", &csr, "-subj", subj][..],
        ]
        .concat())
            && run(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                cert,
                "-days",
                "2",
                "-extfile",
                ext,
            ])
    };
    let ok = run(&[
        &["req", "-x509"][..],
        &ec[..],
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=pouch-test-ca",
        ][..],
    ]
    .concat())
        && issue("srv", "/CN=127.0.0.1", "srv.crt", "ext")
        // A client certificate (docker's certs.d names: client.cert, client.key).
        && std::fs::write(dir.join("client-ext"), "extendedKeyUsage=clientAuth\n").is_ok()
        && issue("client", "/CN=pouch-client", "client.cert", "client-ext");
    ok.then_some(())
}

pub fn bcrypt(password: &str) -> Option<String> {
    let o = Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt,sys;print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
            password,
        ])
        .output()
        .ok()?;
    let h = String::from_utf8(o.stdout).ok()?.trim().to_string();
    h.starts_with("$2").then_some(h)
}
