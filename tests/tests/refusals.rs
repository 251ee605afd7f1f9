//! Requests pouch cannot serve are refused with the reason, never answered with a success that
//! did nothing: build-cache pruning, builds, checkpoints, starting from a checkpoint.

use pouch_e2e::Daemon;

#[test]
fn build_prune_is_refused_not_faked() {
    let d = Daemon::start();
    let r = d.http("POST", "/build/prune?all=1", b"");
    assert_eq!(r.status, 501, "{}", r.text());
    let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("build cache"), "{msg}");
    // So is a build, with its reason rather than "page not found".
    let r = d.http("POST", "/build?t=x", b"");
    assert_eq!(r.status, 501, "{}", r.text());
    assert!(
        r.text().contains("image builds are not supported"),
        "{}",
        r.text()
    );
}
