//! Requests pouch cannot serve are refused with the reason, never answered with a success that
//! did nothing: builds, checkpoints and starting from one.

use pouch_e2e::Daemon;

/// pouch keeps no build cache: pruning it reports nothing deleted (dockerd's empty report), and
/// a build is refused with its reason rather than "page not found".
#[test]
fn build_prune_reports_nothing_and_a_build_is_refused() {
    let d = Daemon::start();
    let r = d.http("POST", "/build/prune?all=1", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"CachesDeleted": null, "SpaceReclaimed": 0})
    );
    let r = d.http("POST", "/build?t=x", b"");
    assert_eq!(r.status, 501, "{}", r.text());
    assert!(
        r.text().contains("image builds are not supported"),
        "{}",
        r.text()
    );
}

#[test]
fn start_from_a_checkpoint_is_refused_and_starts_nothing() {
    let d = Daemon::start();
    d.load_busybox();
    let r = d.http(
        "POST",
        "/containers/create?name=cp",
        br#"{"Image":"busybox","Cmd":["sleep","1000"]}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // docker's answers outside its experimental mode, with pouch's reason.
    for query in ["checkpoint=cp1", "checkpoint=cp1&checkpoint-dir=/tmp/cps"] {
        let r = d.http("POST", &format!("/containers/cp/start?{query}"), b"");
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(
            msg.starts_with("checkpoint is only supported in experimental mode"),
            "{msg}"
        );
    }
    let r = d.http("POST", "/containers/cp/start?checkpoint-dir=/tmp/cps", b"");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("custom checkpointdir is not supported"),
        "{}",
        r.text()
    );
    assert_eq!(d.inspect("cp")["State"]["Status"], "created");
    // Without a checkpoint it starts.
    let r = d.http("POST", "/containers/cp/start", b"");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(d.inspect("cp")["State"]["Status"], "running");
    // The checkpoint endpoints say why they are not there.
    for (method, path) in [
        ("GET", "/containers/cp/checkpoints"),
        ("POST", "/containers/cp/checkpoints"),
        ("DELETE", "/containers/cp/checkpoints/cp1"),
    ] {
        let r = d.http(method, path, b"");
        assert_eq!(r.status, 501, "{method} {path}: {}", r.text());
        assert!(
            r.text().contains("checkpoints are not supported"),
            "{method} {path}: {}",
            r.text()
        );
    }
}
