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
