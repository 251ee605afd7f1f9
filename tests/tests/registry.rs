//! Image distribution against a real registry: Debian's `docker-registry` (distribution 2.8) on
//! 127.0.0.1 with a temporary storage dir, over plain HTTP, TLS with a test CA made by the
//! `openssl` CLI, and htpasswd auth; driven through the pouch CLI, the docker CLI and raw HTTP.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use pouch_e2e::archives::{Entry, layer, sha256_hex};
use pouch_e2e::registry::{
    ConnectProxy, FlakyFront, Registry, RegistryOpts, TokenFront, archive,
    assert_no_half_made_layers, bcrypt, daemon_with_certs_d, entries, have_registry, load, noise,
    pouch, pouch_command, pouch_err, pouch_ok, pull_caught_downloading, push_and_remove,
    pushed_digest, registry_and_daemon, registry_with_busybox, tag_busybox, tls_registry,
};
use pouch_e2e::{Daemon, have_docker, out};

#[test]
fn push_then_pull_by_tag_and_digest_and_run() {
    let Some((reg, d, name)) = registry_with_busybox("team/bb:v1") else {
        return;
    };
    let pushed = pouch_ok(&d, &["push", &name]);
    assert!(
        pushed.contains(&format!(
            "The push refers to repository [{}/team/bb]",
            reg.host()
        )),
        "{pushed}"
    );
    assert!(pushed.contains("Pushed"), "{pushed}");
    let digest = pushed_digest(&pushed);
    // A second push finds every layer there and yields the same manifest digest.
    let again = pouch_ok(&d, &["push", &name]);
    assert!(again.contains("Layer already exists"), "{again}");
    assert_eq!(pushed_digest(&again), digest);

    pouch_ok(&d, &["rmi", "busybox", &name]);
    assert!(entries(&d, "snapshots").is_empty());

    let pulled = pouch_ok(&d, &["pull", &name]);
    assert!(pulled.contains("v1: Pulling from team/bb"), "{pulled}");
    assert!(pulled.contains("Pull complete"), "{pulled}");
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");
    assert!(
        pulled.contains(&format!("Status: Downloaded newer image for {name}")),
        "{pulled}"
    );
    let img = d.http("GET", &format!("/images/{name}/json"), b"").json();
    assert_eq!(
        img["RepoDigests"][0],
        format!("{}/team/bb@{digest}", reg.host())
    );
    assert_eq!(img["RepoTags"][0], name);
    let run = pouch_ok(&d, &["run", "--rm", &name, "echo", "pulled-and-running"]);
    assert_eq!(run.trim(), "pulled-and-running");
    let up = pouch_ok(&d, &["pull", &name]);
    assert!(up.contains("Already exists"), "{up}");
    assert!(up.contains("Image is up to date"), "{up}");

    // Removing the last tag removes the digest reference with it, as docker does.
    let rmi = pouch_ok(&d, &["rmi", &name]);
    assert!(rmi.contains("Deleted:"), "{rmi}");
    let by_digest = format!("{}/team/bb@{digest}", reg.host());
    pouch_ok(&d, &["pull", &by_digest]);
    let run = pouch_ok(&d, &["run", "--rm", &by_digest, "echo", "by-digest"]);
    assert_eq!(run.trim(), "by-digest");

    let err = pouch_err(&d, &["pull", &format!("{}/team/nope:v1", reg.host())]);
    assert!(
        err.contains("manifest unknown") && err.contains("not found"),
        "{err}"
    );
    let err = pouch_err(&d, &["push", &format!("{}/team/absent:v1", reg.host())]);
    assert!(err.contains("does not exist locally"), "{err}");

    // Pushes and pulls are image events, named as docker names them.
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let body = d
        .http("GET", &format!("/events?since=1&until={until}"), b"")
        .text();
    let events: Vec<String> = body
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|e| {
            format!(
                "{} {} {}",
                e["Type"].as_str().unwrap_or(""),
                e["Action"].as_str().unwrap_or(""),
                e["Actor"]["Attributes"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    for want in [format!("image push {name}"), format!("image pull {name}")] {
        assert!(events.contains(&want), "{want}\n{events:?}");
    }
}

#[test]
fn docker_cli_pulls_and_pushes_through_pouchd() {
    if !have_registry() || !have_docker() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let d = Daemon::start();
    d.load_busybox();
    let name = format!("{}/dock/bb:1", reg.host());
    d.docker_ok(&["tag", "busybox", &name]);
    let pushed = d.docker_ok(&["push", &name]);
    let digest = pushed_digest(&pushed);
    d.docker_ok(&["rmi", "busybox", &name]);
    let pulled = d.docker_ok(&["pull", &name]);
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");
    assert!(pulled.trim_end().ends_with(&name), "{pulled}");
    d.docker_ok(&["rmi", &name]);
    // docker run pulls a missing image itself after the daemon's 404.
    let o = d.docker(&["run", "--rm", &name, "echo", "docker-run-pulled"]);
    let (so, se, code) = out(&o);
    assert_eq!(code, Some(0), "{so}\n{se}");
    assert!(so.contains("docker-run-pulled"), "{so}");
    assert!(se.contains("Unable to find image"), "{se}");
    let o = d.docker(&["pull", &format!("{}/dock/none:1", reg.host())]);
    let (_, se, code) = out(&o);
    assert_ne!(code, Some(0));
    assert!(se.contains("manifest unknown"), "{se}");
}

#[test]
fn pouch_run_pulls_a_missing_image_unless_told_not_to() {
    let Some((_reg, d, name)) = registry_with_busybox("run/bb:1") else {
        return;
    };
    push_and_remove(&d, &name, &["busybox"]);
    let err = pouch_err(&d, &["run", "--rm", "--pull", "never", &name, "true"]);
    assert!(err.contains("No such image"), "{err}");
    let o = pouch(&d, &["run", "--rm", &name, "echo", "auto-pulled"]);
    let (so, se, code) = out(&o);
    assert_eq!(code, Some(0), "{so}\n{se}");
    assert_eq!(so.trim(), "auto-pulled");
    assert!(se.contains("Unable to find image"), "{se}");
}

#[test]
fn mirror_serves_a_registry_under_its_canonical_name() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let cfg = format!(
        r#"{{"registry-mirrors": {{"registry.k8s.io": ["http://{}"]}}}}"#,
        reg.host()
    );
    let d = Daemon::start_with_config(&cfg, &[]).unwrap();
    // The mirror holds the repository under the same path the registry would.
    let on_mirror = format!("{}/pause:3.9", reg.host());
    tag_busybox(&d, &on_mirror);
    push_and_remove(&d, &on_mirror, &["busybox"]);
    let pulled = pouch_ok(&d, &["pull", "registry.k8s.io/pause:3.9"]);
    assert!(pulled.contains("Pull complete"), "{pulled}");
    let img = d
        .http("GET", "/images/registry.k8s.io/pause:3.9/json", b"")
        .json();
    assert_eq!(img["RepoTags"][0], "registry.k8s.io/pause:3.9");
    assert!(
        img["RepoDigests"][0]
            .as_str()
            .unwrap()
            .starts_with("registry.k8s.io/pause@sha256:"),
        "{img}"
    );
}

#[test]
fn manifest_list_pull_selects_the_platform() {
    let Some((reg, d)) = registry_and_daemon() else {
        return;
    };
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let other_arch = if host_arch == "amd64" {
        "arm64"
    } else {
        "amd64"
    };
    let mut entries_json = Vec::new();
    for arch in [host_arch, other_arch] {
        let l = layer(&[Entry::File("arch.txt", arch.as_bytes())]);
        let tag = format!("{}/multi:{arch}", reg.host());
        load(&d, &archive(&tag, arch, &[l]));
        let pushed = pouch_ok(&d, &["push", &tag]);
        let digest = pushed_digest(&pushed);
        let size: u64 = pushed
            .lines()
            .find_map(|l| l.split("size: ").nth(1))
            .and_then(|s| s.trim().parse().ok())
            .expect("size");
        let mut platform = serde_json::json!({"architecture": arch, "os": "linux"});
        if arch == "arm64" {
            platform["variant"] = "v8".into();
        }
        entries_json.push(serde_json::json!({
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": digest, "size": size, "platform": platform,
        }));
        pouch_ok(&d, &["rmi", &tag]);
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": entries_json,
    }))
    .unwrap();
    let list_type = "application/vnd.docker.distribution.manifest.list.v2+json";
    reg.put_manifest("multi", "latest", list_type, &index);
    let index_digest = format!("sha256:{}", sha256_hex(&index));

    let name = format!("{}/multi:latest", reg.host());
    let pulled = pouch_ok(&d, &["pull", &name]);
    assert!(
        pulled.contains(&format!("Digest: {index_digest}")),
        "{pulled}"
    );
    let img = d.http("GET", &format!("/images/{name}/json"), b"").json();
    assert_eq!(img["Architecture"], host_arch, "{img}");
    pouch_ok(&d, &["rmi", &name]);

    let platform = format!("linux/{other_arch}");
    pouch_ok(&d, &["pull", "--platform", &platform, &name]);
    let img = d.http("GET", &format!("/images/{name}/json"), b"").json();
    assert_eq!(img["Architecture"], other_arch, "{img}");

    let err = pouch_err(&d, &["pull", "--platform", "linux/s390x", &name]);
    assert!(
        err.contains("no matching manifest for linux/s390x"),
        "{err}"
    );
}

#[test]
fn gzip_and_zstd_layers_are_pulled() {
    let Some((reg, d)) = registry_and_daemon() else {
        return;
    };
    let plain_a = layer(&[Entry::File("gz.txt", b"from a gzip layer")]);
    let plain_b = layer(&[Entry::File("zst.txt", b"from a zstd layer")]);
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&plain_a).unwrap();
        e.finish().unwrap()
    };
    // zstd, written with the zstd CLI when present; otherwise this part is skipped.
    let zst = Command::new("zstd")
        .args(["-q", "-c", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(&plain_b).ok()?;
            let o = c.wait_with_output().ok()?;
            o.status.success().then_some(o.stdout)
        });
    let mut layers = vec![("application/vnd.oci.image.layer.v1.tar+gzip", gz, &plain_a)];
    match &zst {
        Some(z) => layers.push((
            "application/vnd.oci.image.layer.v1.tar+zstd",
            z.clone(),
            &plain_b,
        )),
        None => eprintln!("SKIP zstd part: the zstd CLI is not installed"),
    }
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|(_, _, p)| format!("sha256:{}", sha256_hex(p)))
        .collect();
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let cfg_digest = reg.put_blob("comp", &cfg);
    let mut descs = Vec::new();
    for (mt, blob, _) in &layers {
        let digest = reg.put_blob("comp", blob);
        descs.push(serde_json::json!({"mediaType": mt, "digest": digest, "size": blob.len()}));
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cfg_digest, "size": cfg.len()},
        "layers": descs,
    }))
    .unwrap();
    reg.put_manifest(
        "comp",
        "v1",
        "application/vnd.oci.image.manifest.v1+json",
        &manifest,
    );
    pouch_ok(&d, &["pull", &format!("{}/comp:v1", reg.host())]);
    let files = d.tree("snapshots");
    assert!(files.iter().any(|f| f.ends_with("/fs/gz.txt")), "{files:?}");
    if zst.is_some() {
        assert!(
            files.iter().any(|f| f.ends_with("/fs/zst.txt")),
            "{files:?}"
        );
    }
    // Blobs are kept as they came, so the image pushes back byte-identically.
    let pushed = pouch_ok(&d, &["push", &format!("{}/comp:v1", reg.host())]);
    assert_eq!(
        pushed_digest(&pushed),
        format!("sha256:{}", sha256_hex(&manifest))
    );
}

#[test]
fn tls_registry_with_a_ca_from_certs_d() {
    let Some((certs, reg)) = tls_registry(false) else {
        return;
    };
    let (certs_d, d) = daemon_with_certs_d();
    let name = format!("{}/tls/bb:1", reg.host());
    tag_busybox(&d, &name);
    let unverified = |d: &Daemon| d.log().matches("TLS certificate is not verified").count();
    // 127.0.0.1 is an insecure registry (as in docker): without its CA the push still goes over
    // TLS, unverified, and says so in the log.
    pouch_ok(&d, &["push", &name]);
    let before = unverified(&d);
    assert!(before >= 1, "{}", d.log());

    // With the CA in certs.d/<host:port>/ca.crt the certificate verifies.
    let ca_dir = certs_d.path().join(reg.host());
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::copy(certs.path().join("ca.crt"), ca_dir.join("ca.crt")).unwrap();
    push_and_remove(&d, &name, &["busybox"]);
    pouch_ok(&d, &["pull", &name]);
    let run = pouch_ok(&d, &["run", "--rm", &name, "echo", "over-tls"]);
    assert_eq!(run.trim(), "over-tls");
    assert_eq!(unverified(&d), before, "{}", d.log());
    // The registry only speaks TLS: this all went over HTTPS.
    let (st, _, _) = reg.http("GET", "/v2/", &[], b"");
    assert_eq!(st, 400);
}

#[test]
fn htpasswd_registry_login_logout_and_wrong_credentials() {
    if !have_registry() {
        return;
    }
    let Some(hash) = bcrypt("s3cret") else {
        eprintln!("SKIP: python3's crypt cannot make bcrypt hashes here");
        return;
    };
    let auth_dir = tempfile::tempdir().unwrap();
    let htpasswd = auth_dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let reg = Registry::start(RegistryOpts {
        htpasswd: Some(htpasswd),
        ..Default::default()
    });
    let d = Daemon::start();
    let name = format!("{}/private/bb:1", reg.host());
    tag_busybox(&d, &name);

    let err = pouch_err(&d, &["push", &name]);
    assert!(
        err.contains("unauthorized: authentication required"),
        "{err}"
    );
    let err = pouch_err(&d, &["login", &reg.host(), "-u", "alice", "-p", "wrong"]);
    assert!(err.contains("unauthorized"), "{err}");
    let cfg_file = d.dir.path().join("docker-config/config.json");
    assert!(
        !cfg_file.exists()
            || !std::fs::read_to_string(&cfg_file)
                .unwrap()
                .contains(&reg.host())
    );

    let ok = pouch_ok(&d, &["login", &reg.host(), "-u", "alice", "-p", "s3cret"]);
    assert!(ok.contains("Login Succeeded"), "{ok}");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_file).unwrap()).unwrap();
    // base64("alice:s3cret")
    assert_eq!(stored["auths"][reg.host()]["auth"], "YWxpY2U6czNjcmV0");
    push_and_remove(&d, &name, &["busybox"]);
    pouch_ok(&d, &["pull", &name]);
    pouch_ok(&d, &["rmi", &name]);
    // run pulls the missing image with the stored credentials too.
    let run = pouch_ok(&d, &["run", "--rm", &name, "echo", "private-run"]);
    assert_eq!(run.trim(), "private-run");

    // The API honours X-Registry-Auth; without it the registry refuses.
    pouch_ok(&d, &["rmi", &name]);
    let bye = pouch_ok(&d, &["logout", &reg.host()]);
    assert!(bye.contains("Removing login credentials"), "{bye}");
    let err = pouch_err(&d, &["pull", &name]);
    assert!(err.contains("unauthorized"), "{err}");

    if have_docker() {
        // The stock CLI logs in through POST /auth and sends its own X-Registry-Auth.
        let o = d.docker_stdin(
            &["login", &reg.host(), "-u", "alice", "--password-stdin"],
            b"s3cret\n",
        );
        assert!(o.status.success(), "{:?}", out(&o));
        d.docker_ok(&["pull", &name]);
    }
}

#[test]
fn corrupted_blob_is_refused_and_prune_collects_what_a_failed_pull_left() {
    let Some((reg, d)) = registry_and_daemon() else {
        return;
    };
    let base = layer(&[Entry::File("base.bin", &noise(300_000, 1))]);
    let top = layer(&[Entry::File("top.bin", &noise(300_000, 2))]);
    let name = format!("{}/corrupt:1", reg.host());
    load(&d, &archive(&name, "amd64", &[base, top.clone()]));
    push_and_remove(&d, &name, &[]);
    assert!(entries(&d, "snapshots").is_empty());

    // Same length, different bytes: only the digest can tell.
    let blob = reg.blob_path(&format!("sha256:{}", sha256_hex(&top)));
    let mut bytes = std::fs::read(&blob).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();

    let err = pouch_err(&d, &["pull", &name]);
    assert!(err.contains("digest mismatch"), "{err}");
    assert_no_half_made_layers(&d);
    assert_eq!(
        d.http("GET", &format!("/images/{name}/json"), b"").status,
        404
    );
    // The corrupt layer's snapshot does not exist; the good one may, with nothing using it.
    let top_chain_candidates = entries(&d, "snapshots");
    assert!(top_chain_candidates.len() <= 1, "{top_chain_candidates:?}");
    let pruned = d.http("POST", "/images/prune", b"").json();
    assert!(pruned["SpaceReclaimed"].as_u64().is_some(), "{pruned}");
    assert!(
        entries(&d, "snapshots").is_empty(),
        "{:?}",
        entries(&d, "snapshots")
    );
    assert!(
        entries(&d, "content/blobs/sha256").is_empty(),
        "{:?}",
        entries(&d, "content/blobs/sha256")
    );
}

#[test]
fn registry_killed_mid_pull_then_restarted() {
    let Some((mut reg, d)) = registry_and_daemon() else {
        return;
    };
    let layers: Vec<Vec<u8>> = (0..3)
        .map(|i| layer(&[Entry::File(&format!("big{i}.bin"), &noise(40 << 20, i + 7))]))
        .collect();
    let name = format!("{}/big:1", reg.host());
    load(&d, &archive(&name, "amd64", &layers));
    push_and_remove(&d, &name, &[]);

    // Kill the registry as soon as a download is under way.
    let (pull, caught) = pull_caught_downloading(&d, &name);
    reg.kill();
    reg.spawn();
    let o = pull.wait_with_output().unwrap();
    let (so, se, code) = out(&o);
    eprintln!("download caught mid-way: {caught}; pull exit {code:?}\n{so}\n{se}");
    assert_no_half_made_layers(&d);
    if code != Some(0) {
        // A clean failure: no image; a retry fetches only what is missing.
        assert_eq!(
            d.http("GET", &format!("/images/{name}/json"), b"").status,
            404
        );
        pouch_ok(&d, &["pull", &name]);
    }
    let img = d.http("GET", &format!("/images/{name}/json"), b"").json();
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 3);
    let files = d.tree("snapshots");
    for i in 0..3 {
        assert!(
            files
                .iter()
                .any(|f| f.ends_with(&format!("/fs/big{i}.bin"))),
            "{files:?}"
        );
    }
    eprintln!("resumed: {}", d.log().contains("resuming blob download"));
}

#[test]
fn retries_server_errors_and_follows_redirects() {
    let Some((reg, d, name)) = registry_with_busybox("flaky/bb:1") else {
        return;
    };
    push_and_remove(&d, &name, &["busybox"]);
    // The same repository through a front that fails the first two blob downloads with 503
    // and redirects every manifest request.
    let front = FlakyFront::start(reg.port, 2);
    let via_front = format!("{}/flaky/bb:1", front.host());
    let pulled = pouch_ok(&d, &["pull", &via_front]);
    assert!(pulled.contains("Pull complete"), "{pulled}");
    assert_eq!(front.failures.load(Ordering::SeqCst), 2);
    assert!(front.redirects.load(Ordering::SeqCst) >= 1);
    let run = pouch_ok(&d, &["run", "--rm", &via_front, "echo", "after-retries"]);
    assert_eq!(run.trim(), "after-retries");
}

#[test]
fn proxy_setting_tunnels_registry_connections() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let proxy = ConnectProxy::start();
    let cfg = format!(r#"{{"registry-proxy": "{}"}}"#, proxy.url());
    let d = Daemon::start_with_config(&cfg, &[]).unwrap();
    let name = format!("{}/proxied/bb:1", reg.host());
    tag_busybox(&d, &name);
    pouch_ok(&d, &["push", &name]);
    let after_push = proxy.tunnels.load(Ordering::SeqCst);
    assert!(after_push >= 3, "push used {after_push} tunnels");
    pouch_ok(&d, &["rmi", "busybox", &name]);
    pouch_ok(&d, &["pull", &name]);
    assert!(proxy.tunnels.load(Ordering::SeqCst) > after_push);
}

#[test]
fn default_registry_serves_docker_hub_names() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let cfg = format!(r#"{{"default-registry": "{}"}}"#, reg.host());
    let d = Daemon::start_with_config(&cfg, &[]).unwrap();
    d.load_busybox();
    // Pushing a Docker Hub name goes to the default registry, under the same path.
    pouch_ok(&d, &["tag", "busybox", "team/tool:2"]);
    let pushed = pouch_ok(&d, &["push", "team/tool:2"]);
    assert!(
        pushed.contains("The push refers to repository [docker.io/team/tool]"),
        "{pushed}"
    );
    let (st, _, _) = reg.http("GET", "/v2/team/tool/manifests/2", &[], b"");
    assert_eq!(st, 200);
    pouch_ok(&d, &["rmi", "busybox", "team/tool:2"]);
    let run = pouch(
        &d,
        &[
            "run",
            "--rm",
            "team/tool:2",
            "echo",
            "from-default-registry",
        ],
    );
    let (so, se, code) = out(&run);
    assert_eq!(code, Some(0), "{so}\n{se}");
    assert_eq!(so.trim(), "from-default-registry");
    let img = d.http("GET", "/images/team/tool:2/json", b"").json();
    assert_eq!(img["RepoTags"][0], "team/tool:2");
}

#[test]
fn concurrent_pulls_share_layers() {
    let Some((reg, d)) = registry_and_daemon() else {
        return;
    };
    let base = layer(&[Entry::File("shared.bin", &noise(8 << 20, 3))]);
    let base_digest = format!("sha256:{}", sha256_hex(&base));
    for i in 0..3 {
        let n = format!("{}/shared:{i}", reg.host());
        let own = layer(&[Entry::File("own.txt", format!("image {i}").as_bytes())]);
        load(&d, &archive(&n, "amd64", &[base.clone(), own]));
        push_and_remove(&d, &n, &[]);
    }
    assert!(entries(&d, "snapshots").is_empty());
    // Pull through a front that counts blob downloads (and fails none).
    let front = FlakyFront::start(reg.port, 0);
    let names: Vec<String> = (0..3)
        .map(|i| format!("{}/shared:{i}", front.host()))
        .collect();
    let pulls: Vec<_> = names
        .iter()
        .map(|n| {
            pouch_command(&d)
                .args(["pull", n])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for p in pulls {
        let o = p.wait_with_output().unwrap();
        assert!(o.status.success(), "{:?}", out(&o));
    }
    // The shared base layer was downloaded once, not three times.
    let gets = front.blob_gets.lock().unwrap().clone();
    assert_eq!(gets.get(&base_digest), Some(&1), "{gets:?}");
    // One shared base snapshot plus one per image.
    let snaps: Vec<String> = entries(&d, "snapshots")
        .into_iter()
        .filter(|e| !e.starts_with('.'))
        .collect();
    assert_eq!(snaps.len(), 4, "{snaps:?}");
    assert_no_half_made_layers(&d);
    for n in &names {
        let img = d.http("GET", &format!("/images/{n}/json"), b"").json();
        assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn foreign_layers_are_refused_with_a_clear_message() {
    if !have_registry() {
        return;
    }
    // The registry accepts foreign layers only with URLs it is told to allow.
    let reg = Registry::start(RegistryOpts {
        extra_yaml: Some(
            "validation:\n  manifests:\n    urls:\n      allow:\n        - ^https?://\n".into(),
        ),
        ..Default::default()
    });
    let d = Daemon::start();
    let plain = layer(&[Entry::File("f.txt", b"x")]);
    let diff = format!("sha256:{}", sha256_hex(&plain));
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff]},
    }))
    .unwrap();
    let cfg_digest = reg.put_blob("foreign", &cfg);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": cfg_digest, "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                    "digest": diff, "size": plain.len(),
                    "urls": ["https://example.invalid/layer"]}],
    }))
    .unwrap();
    reg.put_manifest(
        "foreign",
        "1",
        "application/vnd.docker.distribution.manifest.v2+json",
        &manifest,
    );
    let err = pouch_err(&d, &["pull", &format!("{}/foreign:1", reg.host())]);
    assert!(err.contains("foreign (non-distributable) layer"), "{err}");
    assert!(entries(&d, "snapshots").is_empty());
}

#[test]
fn daemon_killed_mid_pull_leaves_nothing_half_made() {
    let Some((reg, mut d)) = registry_and_daemon() else {
        return;
    };
    let layers: Vec<Vec<u8>> = (0..2)
        .map(|i| layer(&[Entry::File(&format!("b{i}.bin"), &noise(48 << 20, i + 11))]))
        .collect();
    let name = format!("{}/crash:1", reg.host());
    load(&d, &archive(&name, "amd64", &layers));
    push_and_remove(&d, &name, &[]);

    let (pull, _) = pull_caught_downloading(&d, &name);
    d.kill9();
    let _ = pull.wait_with_output();
    d.spawn(&[]).unwrap();
    // The restart removed staging dirs, partial blobs and content no image references.
    assert_no_half_made_layers(&d);
    let img = d.http("GET", &format!("/images/{name}/json"), b"");
    if img.status == 404 {
        assert!(
            entries(&d, "snapshots").is_empty(),
            "{:?}",
            entries(&d, "snapshots")
        );
        assert!(entries(&d, "content/blobs/sha256").is_empty());
    }
    pouch_ok(&d, &["pull", &name]);
    let files = d.tree("snapshots");
    assert!(files.iter().any(|f| f.ends_with("/fs/b1.bin")), "{files:?}");
}

#[test]
fn bearer_token_challenge_gets_scoped_tokens() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let front = TokenFront::start(reg.port, "bob", "hunter2");
    let d = Daemon::start();
    let name = format!("{}/tok/bb:1", front.host());
    tag_busybox(&d, &name);
    let err = pouch_err(&d, &["push", &name]);
    assert!(err.contains("unauthorized"), "{err}");
    let err = pouch_err(&d, &["login", &front.host(), "-u", "bob", "-p", "nope"]);
    assert!(err.contains("unauthorized"), "{err}");

    pouch_ok(&d, &["login", &front.host(), "-u", "bob", "-p", "hunter2"]);
    pouch_ok(&d, &["push", &name]);
    assert!(
        front
            .scopes
            .lock()
            .unwrap()
            .contains(&"repository:tok/bb:pull,push".to_string()),
        "{:?}",
        front.scopes.lock().unwrap()
    );
    pouch_ok(&d, &["rmi", "busybox", &name]);
    let run = pouch_ok(&d, &["run", "--rm", &name, "echo", "bearer"]);
    assert_eq!(run.trim(), "bearer");
    assert!(
        front
            .scopes
            .lock()
            .unwrap()
            .contains(&"repository:tok/bb:pull".to_string())
    );
}

#[test]
fn push_mounts_layers_from_another_repository() {
    let Some((reg, d, a)) = registry_with_busybox("team/a:1") else {
        return;
    };
    let b = format!("{}/team/b:1", reg.host());
    pouch_ok(&d, &["push", &a]);
    pouch_ok(&d, &["tag", "busybox", &b]);
    let pushed = pouch_ok(&d, &["push", &b]);
    assert!(pushed.contains("Mounted from team/a"), "{pushed}");
    pouch_ok(&d, &["rmi", "busybox", &a, &b]);
    let run = pouch_ok(&d, &["run", "--rm", &b, "echo", "mounted"]);
    assert_eq!(run.trim(), "mounted");
}

#[test]
fn pull_all_tags() {
    let Some((reg, d)) = registry_and_daemon() else {
        return;
    };
    d.load_busybox();
    let repo = format!("{}/many/bb", reg.host());
    for t in ["1", "2", "3"] {
        pouch_ok(&d, &["tag", "busybox", &format!("{repo}:{t}")]);
    }
    let pushed = pouch_ok(&d, &["push", "--all-tags", &repo]);
    assert_eq!(pushed.matches(": digest: ").count(), 3, "{pushed}");
    pouch_ok(
        &d,
        &[
            "rmi",
            "busybox",
            &format!("{repo}:1"),
            &format!("{repo}:2"),
            &format!("{repo}:3"),
        ],
    );
    pouch_ok(&d, &["pull", "--all-tags", &repo]);
    assert_eq!(
        d.repo_tags(&format!("{repo}:2")),
        vec![
            format!("{repo}:1"),
            format!("{repo}:2"),
            format!("{repo}:3")
        ]
    );
}

#[test]
fn tls_client_certificate_from_certs_d() {
    let Some((certs, reg)) = tls_registry(true) else {
        return;
    };
    let (certs_d, d) = daemon_with_certs_d();
    let host_dir = certs_d.path().join(reg.host());
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(certs.path().join("ca.crt"), host_dir.join("ca.crt")).unwrap();
    let name = format!("{}/mtls/bb:1", reg.host());
    tag_busybox(&d, &name);
    // The registry wants a client certificate; none is configured yet.
    let err = pouch_err(&d, &["push", &name]);
    assert!(err.contains("https://"), "{err}");

    // A lone key is a configuration mistake, said as such.
    std::fs::copy(certs.path().join("client.key"), host_dir.join("client.key")).unwrap();
    let err = pouch_err(&d, &["push", &name]);
    assert!(err.contains("has no matching"), "{err}");

    std::fs::copy(
        certs.path().join("client.cert"),
        host_dir.join("client.cert"),
    )
    .unwrap();
    pouch_ok(&d, &["push", &name]);
    pouch_ok(&d, &["rmi", "busybox", &name]);
    let run = pouch_ok(&d, &["run", "--rm", &name, "echo", "mutual-tls"]);
    assert_eq!(run.trim(), "mutual-tls");
}
