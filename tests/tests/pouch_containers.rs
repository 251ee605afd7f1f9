//! Running containers through the pouch CLI.

use pouch_e2e::{Daemon, out};

#[test]
fn pouch_run_output_exit_codes_and_stdin() {
    let d = Daemon::start();
    d.load_busybox();
    let (so, se, code) = out(&d.pouch(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 4",
    ]));
    assert_eq!((so.as_str(), code), ("out\n", Some(4)), "{se}");
    assert!(se.contains("err"), "{se}");
    let (so, _, code) = out(&d.pouch_stdin(
        &["run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z"],
        b"shout\n",
    ));
    assert_eq!((so.as_str(), code), ("SHOUT\n", Some(0)));
    // Environment, working directory and user reach the process.
    let (so, se, _) = out(&d.pouch(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi",
        "-w",
        "/tmp",
        "-u",
        "user",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING $(pwd) $(id -u):$(id -g) $(hostname)",
    ]));
    let f: Vec<&str> = so.split_whitespace().collect();
    assert_eq!(&f[..3], ["hi", "/tmp", "1000:1000"], "{so} {se}");
    assert_eq!(f[3].len(), 12, "hostname is the short id: {so}");
    let (_, se, code) = out(&d.pouch(&["run", "--rm", "busybox", "nonexistent-cmd"]));
    assert_eq!(code, Some(127), "{se}");
}

#[test]
fn pouch_detached_ps_logs_stop_rm() {
    let d = Daemon::start();
    d.load_busybox();
    let id = d.pouch_ok(&[
        "run",
        "-d",
        "--name",
        "bg",
        "busybox",
        "sh",
        "-c",
        "echo ready; exec sleep 1000",
    ]);
    assert_eq!(id.trim().len(), 64);
    d.wait_for(10, "log line", || {
        d.pouch_ok(&["logs", "bg"]).contains("ready")
    });
    let ps = d.pouch_ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps.trim(), "bg running");
    let (so, _, code) = out(&d.pouch(&["exec", "bg", "sh", "-c", "echo in-exec; exit 2"]));
    assert_eq!((so.as_str(), code), ("in-exec\n", Some(2)));
    let top = d.pouch_ok(&["top", "bg"]);
    assert!(top.contains("sleep 1000"), "{top}");
    d.pouch_ok(&["stop", "-t", "1", "bg"]);
    assert_eq!(
        d.pouch_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "bg"
        ])
        .trim(),
        "exited 137"
    );
    assert_eq!(d.pouch_ok(&["ps", "-q"]).trim(), "");
    assert_eq!(d.pouch_ok(&["ps", "-aq"]).trim(), &id.trim()[..12]);
    d.pouch_ok(&["rename", "bg", "bg2"]);
    d.pouch_ok(&["rm", "bg2"]);
    assert_eq!(d.pouch_ok(&["ps", "-aq"]).trim(), "");
    // The image is free again.
    d.pouch_ok(&["rmi", "busybox"]);
}

#[test]
fn an_image_in_use_cannot_be_deleted() {
    let d = Daemon::start();
    d.load_busybox();
    d.pouch_ok(&["create", "--name", "holder", "busybox", "true"]);
    let id = d.http("GET", "/images/busybox/json", b"").json()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, se, code) = out(&d.pouch(&["rmi", &id]));
    assert_eq!(code, Some(1));
    assert!(se.contains("is being used by container"), "{se}");
    // Untagging is allowed; the image stays for its container.
    d.pouch_ok(&["rmi", "busybox"]);
    assert_eq!(
        d.http("GET", &format!("/images/{id}/json"), b"").status,
        200
    );
    d.pouch_ok(&["start", "-a", "holder"]);
    d.pouch_ok(&["rm", "holder"]);
    d.pouch_ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(
        d.http("GET", "/images/json", b"").json(),
        serde_json::json!([])
    );
}
