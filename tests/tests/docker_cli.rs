//! The stock docker CLI (as installed on the host) against pouchd: version negotiation, info, and
//! the image commands.

use pouch_e2e::{Daemon, have_docker, test_images};

#[test]
fn docker_cli_version_and_info() {
    if !have_docker() {
        return;
    }
    let d = Daemon::start();
    let v = d.docker_ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}",
    ]);
    assert_eq!(v.trim(), "1.47 1.24 linux");
    let info = d.docker_ok(&[
        "info",
        "--format",
        "{{.Driver}} {{.Images}} {{.DockerRootDir}} {{.CgroupDriver}}",
    ]);
    assert_eq!(
        info.trim(),
        format!("overlay2 0 {} cgroupfs", d.root.display())
    );
    // The human form must render without errors too.
    let human = d.docker(&["info"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("Storage Driver: overlay2"),
        "{text}\n{}",
        String::from_utf8_lossy(&human.stderr)
    );
    assert!(text.contains("Server Version:"), "{text}");
}

#[test]
fn docker_cli_load_images_tag_inspect_save_rmi() {
    if !have_docker() {
        return;
    }
    let d = Daemon::start();
    let out = d.docker_ok(&[
        "load",
        "-i",
        test_images().join("busybox-docker.tar").to_str().unwrap(),
    ]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    let out = d.docker_ok(&[
        "load",
        "-i",
        test_images().join("busybox-oci.tar").to_str().unwrap(),
    ]);
    assert!(out.contains("Loaded image: busybox:oci"), "{out}");

    let rows = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    let mut rows: Vec<&str> = rows.lines().collect();
    rows.sort();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].starts_with("busybox:latest ") && rows[1].starts_with("busybox:oci "),
        "{rows:?}"
    );
    let table = d.docker_ok(&["images"]);
    assert!(table.starts_with("REPOSITORY"), "{table}");

    d.docker_ok(&["tag", "busybox:latest", "example.com/ns/bb:2"]);
    let id = d.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "example.com/ns/bb:2",
    ]);
    let id2 = d.docker_ok(&["image", "inspect", "--format", "{{.Id}}", "busybox:latest"]);
    assert_eq!(id, id2);
    let hist = d.docker_ok(&["history", "busybox:latest"]);
    assert!(hist.contains("busybox-static rootfs"), "{hist}");

    let saved = d.dir.path().join("docker-saved.tar");
    d.docker_ok(&["save", "-o", saved.to_str().unwrap(), "busybox:latest"]);
    let out = d.docker_ok(&["rmi", "example.com/ns/bb:2", "busybox:latest"]);
    assert!(out.contains("Untagged: example.com/ns/bb:2"), "{out}");
    assert!(out.contains(&format!("Deleted: {}", id.trim())), "{out}");
    let missing = d.docker(&["image", "inspect", "busybox:latest"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("No such image"));

    let out = d.docker_ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert_eq!(
        d.docker_ok(&["image", "inspect", "--format", "{{.Id}}", "busybox"]),
        id
    );
    let out = d.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(d.docker_ok(&["images", "-q"]).trim(), "");
}
