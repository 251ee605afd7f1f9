//! Helpers shared by the distribution tests: the pouch CLI with a private credentials dir, image
//! archives made on the fly, store checks, and test certificates and password hashes.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::archives::{sha256_hex, tarball};
use crate::{Daemon, bin, out};

/// Runs the pouch CLI with a private credentials dir (shared with the harness' docker CLI).
pub fn pouch(d: &Daemon, args: &[&str]) -> Output {
    let cfg = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    Command::new(bin("pouch"))
        .env("DOCKER_CONFIG", &cfg)
        .arg("-H")
        .arg(d.host())
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
        && run(&[
            &["req"][..],
            &ec[..],
            &[
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
                "-subj",
                "/CN=127.0.0.1",
            ][..],
        ]
        .concat())
        && run(&[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.crt",
            "-days",
            "2",
            "-extfile",
            "ext",
        ])
        // A client certificate (docker's certs.d names: client.cert, client.key).
        && std::fs::write(dir.join("client-ext"), "extendedKeyUsage=clientAuth\n").is_ok()
        && run(&[
            &["req"][..],
            &ec[..],
            &["-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=pouch-client"][..],
        ]
        .concat())
        && run(&[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "client.cert",
            "-days",
            "2",
            "-extfile",
            "client-ext",
        ]);
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
