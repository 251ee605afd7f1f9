//! Image operations through the pouch CLI, checked against the API's JSON.

use pouch_e2e::{Daemon, test_images};

fn path(name: &str) -> String {
    test_images().join(name).display().to_string()
}

#[test]
fn load_both_formats_list_inspect_tag_save_rmi_and_reload() {
    let d = Daemon::start();
    let out = d.pouch_ok(&["load", "-i", &path("busybox-docker.tar")]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    let out = d.pouch_ok(&["load", "-i", &path("busybox-oci.tar")]);
    assert!(out.contains("Loaded image: busybox:oci"), "{out}");

    let list = d.http("GET", "/images/json", b"").json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    // Both images share their one layer: one snapshot on disk.
    let snaps: Vec<String> = d
        .tree("snapshots")
        .into_iter()
        .filter(|p| !p.contains('/'))
        .collect();
    assert_eq!(snaps.len(), 1, "{snaps:?}");

    let names = d.pouch_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, vec!["busybox:latest", "busybox:oci"]);

    let inspect = d.http("GET", "/images/busybox:latest/json", b"").json();
    let id = inspect["Id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71);
    assert_eq!(inspect["Config"]["Cmd"][0], "sh");
    assert_eq!(inspect["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(inspect["Os"], "linux");
    assert!(inspect["Size"].as_i64().unwrap() > 1_000_000);
    let cli_id = d.pouch_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    assert_eq!(cli_id.trim(), id);

    // Tag, then refer to the image by short id and by the new name.
    d.pouch_ok(&["tag", "busybox:latest", "localhost:5000/team/bb:v1"]);
    assert_eq!(
        d.repo_tags(&id[7..19]),
        vec!["busybox:latest", "localhost:5000/team/bb:v1"]
    );
    assert_eq!(
        d.http("GET", "/images/localhost:5000/team/bb:v1/json", b"")
            .json()["Id"],
        id
    );

    // Save two names, remove everything, load the saved archive back.
    let saved = d.dir.path().join("saved.tar");
    d.pouch_ok(&[
        "save",
        "-o",
        saved.to_str().unwrap(),
        "busybox:latest",
        "busybox:oci",
    ]);
    let oci_id = d.http("GET", "/images/busybox:oci/json", b"").json()["Id"]
        .as_str()
        .unwrap()
        .to_string();

    // By id with names in two repositories: refused without -f.
    let out = d.pouch(&["rmi", &id[7..19]]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be forced"));
    let out = d.pouch_ok(&["rmi", "localhost:5000/team/bb:v1"]);
    assert!(out.contains("Untagged: localhost:5000/team/bb:v1"), "{out}");
    assert!(
        !out.contains("Deleted"),
        "untagging one of two names must keep the image: {out}"
    );
    let out = d.pouch_ok(&["rmi", "busybox:latest"]);
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    // The layer is still used by busybox:oci.
    assert_eq!(
        d.tree("snapshots")
            .iter()
            .filter(|p| !p.contains('/'))
            .count(),
        1
    );
    d.pouch_ok(&["rmi", "-f", &oci_id]);
    assert_eq!(
        d.http("GET", "/images/json", b"").json(),
        serde_json::json!([])
    );
    assert!(d.tree("snapshots").is_empty(), "{:?}", d.tree("snapshots"));
    assert!(
        d.tree("content/blobs/sha256").is_empty(),
        "{:?}",
        d.tree("content/blobs/sha256")
    );

    let out = d.pouch_ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(
        out.contains("Loaded image: busybox:latest") && out.contains("Loaded image: busybox:oci"),
        "{out}"
    );
    assert_eq!(
        d.http("GET", "/images/busybox:latest/json", b"").json()["Id"],
        id
    );
    assert_eq!(
        d.http("GET", "/images/busybox:oci/json", b"").json()["Id"],
        oci_id
    );

    let missing = d.pouch(&["rmi", "nosuchimage"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("No such image: nosuchimage"));
}

#[test]
fn import_with_changes_history_and_prune() {
    let d = Daemon::start();
    let out = d.pouch_ok(&[
        "import",
        "-c",
        "CMD [\"/bin/echo\", \"hi\"]",
        "-c",
        "ENV FOO=bar",
        "-c",
        "WORKDIR /tmp",
        "-c",
        "ENTRYPOINT /bin/sh -c",
        "-m",
        "from the test",
        &path("rootfs.tar"),
        "imported:v1",
    ]);
    let id = out.trim().to_string();
    assert!(id.starts_with("sha256:"), "{out}");
    let cfg = d.http("GET", "/images/imported:v1/json", b"").json();
    assert_eq!(cfg["Id"], id);
    assert_eq!(cfg["Config"]["Cmd"], serde_json::json!(["/bin/echo", "hi"]));
    assert_eq!(cfg["Config"]["WorkingDir"], "/tmp");
    assert!(
        cfg["Config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("FOO=bar"))
    );
    assert_eq!(
        cfg["Config"]["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c", "/bin/sh -c"])
    );
    let hist = d.http("GET", "/images/imported:v1/history", b"").json();
    assert_eq!(hist[0]["Id"], id);
    assert_eq!(hist[0]["Comment"], "from the test");
    assert!(hist[0]["Size"].as_i64().unwrap() > 1_000_000);
    let h = d.pouch_ok(&["history", "imported:v1"]);
    assert!(h.contains("from the test"), "{h}");

    let bad = d.pouch(&["import", "-c", "FROM scratch", &path("rootfs.tar")]);
    assert!(
        !bad.status.success(),
        "{} {}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("FROM"));

    // An untagged import is dangling: prune removes it, -a removes the rest.
    let untagged = d.pouch_ok(&["import", &path("rootfs.tar")]);
    let untagged = untagged.trim();
    let dangling = d
        .http(
            "GET",
            "/images/json?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D",
            b"",
        )
        .json();
    let ids: Vec<&str> = dangling
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Id"].as_str().unwrap())
        .collect();
    // Same rootfs and no changes: a different config (no CMD), so a different image.
    assert!(
        ids.contains(&untagged) && !ids.contains(&id.as_str()),
        "{ids:?}"
    );
    let out = d.pouch_ok(&["image", "prune", "-f"]);
    assert!(out.contains(untagged), "{out}");
    assert_eq!(
        d.http("GET", "/images/json", b"")
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    d.pouch_ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(
        d.http("GET", "/images/json", b"").json(),
        serde_json::json!([])
    );
    assert!(d.tree("snapshots").is_empty());
}

#[test]
fn list_filters_and_quiet() {
    let d = Daemon::start();
    d.pouch_ok(&["load", "-i", &path("busybox-docker.tar")]);
    d.pouch_ok(&["tag", "busybox", "other:1"]);
    let q = d.pouch_ok(&["images", "-q"]);
    assert_eq!(q.lines().count(), 1, "{q}");
    assert_eq!(q.trim().len(), 12);
    let only = d.pouch_ok(&[
        "images",
        "--filter",
        "reference=other*",
        "--format",
        "{{.Repository}}",
    ]);
    assert_eq!(only.trim(), "other");
    let by_label = d.pouch_ok(&["images", "-q", "--filter", "label=org.pouch.test=busybox"]);
    assert_eq!(by_label.trim(), q.trim());
    let none = d.pouch_ok(&["images", "-q", "--filter", "label=org.pouch.test=nope"]);
    assert!(none.trim().is_empty());
    let bad = d.pouch(&["images", "--filter", "bogus=1"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid filter 'bogus'"));
}

/// `GET path` from a client that gives up (and hangs up) when the daemon stays silent for
/// `secs`. HTTP/1.0, so the answer is one body that ends with the connection.
fn get_within(d: &Daemon, path: &str, secs: u64) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.sock)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(secs)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: pouch\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end in {text:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    Ok((status, body.to_owned()))
}

#[test]
fn reference_filter_is_go_path_match_and_answers_a_backtracking_pattern_at_once() {
    let d = Daemon::start();
    d.pouch_ok(&["load", "-i", &path("busybox-docker.tar")]);
    let long = "a".repeat(47);
    d.pouch_ok(&["tag", "busybox", &long]);
    d.pouch_ok(&["tag", "busybox", "team/aab:1"]);
    // The tags `reference=<pattern>` lists (docker shows only the names that matched).
    let tags = |pattern: &str| -> Vec<String> {
        let filters = serde_json::json!({ "reference": [pattern] }).to_string();
        let q = format!("/images/json?filters={}", pouch_e2e::urlencode(&filters));
        let (status, body) = get_within(&d, &q, 10)
            .unwrap_or_else(|e| panic!("reference={pattern}: no answer within 10 s: {e}"));
        assert_eq!(status, 200, "reference={pattern}: {body}");
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut tags: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["RepoTags"].as_array().unwrap().clone())
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        tags.sort();
        tags
    };
    let long_tag = format!("{long}:latest");

    // A naive glob tries every way to split 47 `a`s among twelve stars: minutes of CPU.
    assert!(tags("*a*a*a*a*a*a*a*a*a*a*a*a*b").is_empty());
    assert_eq!(
        tags("*a*a*a*a*a*a*a*a*a*a*a*a"),
        std::slice::from_ref(&long_tag)
    );

    // Go's path.Match, as docker uses it: `*` and `?` stop at `/`, classes, escapes; a pattern
    // with a `:` in its last segment is matched against the name with its tag.
    assert_eq!(tags("busy*"), ["busybox:latest"]);
    assert_eq!(tags("*"), [long_tag.clone(), "busybox:latest".to_owned()]);
    assert_eq!(tags("team/*"), ["team/aab:1"]);
    assert!(tags("team*").is_empty());
    assert_eq!(tags("team/aa?:1"), ["team/aab:1"]);
    assert!(tags("team/aa?:2").is_empty());
    assert_eq!(tags("b[^a-t]sy[a-c]o\\x"), ["busybox:latest"]);
    assert_eq!(tags(&format!("{long}:lat*")), [long_tag]);

    // A malformed pattern is an error, not an empty list.
    let filters = pouch_e2e::urlencode(r#"{"reference":["busy[box"]}"#);
    let (status, body) = get_within(&d, &format!("/images/json?filters={filters}"), 10).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("syntax error in pattern"), "{body}");
}
