//! SIGHUP reloads pouchd's config file, as dockerd's does: debug, labels, insecure registries
//! and registry mirrors take effect for the next operation, a `daemon` `reload` event says so,
//! keys that need a restart are named in the log, and a broken file keeps the running config.
//! SIGHUP never stops the daemon.

use std::process::Command;

use pouch_e2e::registry::{
    Registry, RegistryOpts, have_registry, pouch, pouch_ok, push_and_remove, tag_busybox,
};
use pouch_e2e::{Daemon, out};

/// Rewrites keys of the daemon's config file, keeping the others (the harness' network keys).
fn edit_config(d: &Daemon, set: &[(&str, serde_json::Value)]) {
    let p = d.dir.path().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    for (k, v) in set {
        cfg[*k] = v.clone();
    }
    std::fs::write(&p, cfg.to_string()).unwrap();
}

fn hup(d: &Daemon) {
    let s = Command::new("kill")
        .args(["-HUP", &d.pid().to_string()])
        .status()
        .unwrap();
    assert!(s.success());
}

fn info(d: &Daemon) -> serde_json::Value {
    d.http("GET", "/info", b"").json()
}

/// The daemon's `reload` events so far.
fn reload_events(d: &Daemon) -> Vec<serde_json::Value> {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let r = d.http(
        "GET",
        &format!("/events?since=1&until={until}&filters=%7B%22type%22%3A%5B%22daemon%22%5D%7D"),
        b"",
    );
    r.text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["Action"] == "reload")
        .collect()
}

/// Still the same process, still answering.
fn assert_alive(d: &Daemon) {
    assert!(
        std::path::Path::new(&format!("/proc/{}", d.pid())).exists(),
        "pouchd died: {}",
        d.log()
    );
    assert_eq!(d.http("GET", "/_ping", b"").text(), "OK");
}

/// Log lines, without the terminal colours the log writer adds.
fn log_lines(d: &Daemon) -> Vec<String> {
    let mut clean = String::new();
    let log = d.log();
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for n in chars.by_ref() {
                if n == 'm' {
                    break;
                }
            }
        } else {
            clean.push(c);
        }
    }
    clean.lines().map(str::to_string).collect()
}

#[test]
fn sighup_reloads_debug_and_labels_and_emits_a_reload_event() {
    let d = Daemon::start_with_config(r#"{"labels": ["tier=one"], "mtu": 1500}"#, &[]).unwrap();
    let before = info(&d);
    assert_eq!(before["Labels"], serde_json::json!(["tier=one"]));
    assert_eq!(before["Debug"], false);
    // At info level, a refused request is not logged.
    d.http("GET", "/containers/no-such-thing/json", b"");
    assert!(!d.log().contains("request refused"), "{}", d.log());

    edit_config(
        &d,
        &[
            ("labels", serde_json::json!(["tier=two", "zone=b"])),
            ("debug", serde_json::json!(true)),
            ("insecure-registries", serde_json::json!(["10.9.0.0/16"])),
            (
                "registry-mirrors",
                serde_json::json!(["http://127.0.0.1:5999"]),
            ),
            // Needs a restart: reported, not applied.
            ("mtu", serde_json::json!(1400)),
        ],
    );
    hup(&d);
    d.wait_for(20, "the reload", || !reload_events(&d).is_empty());
    assert_alive(&d);
    let after = info(&d);
    assert_eq!(after["Labels"], serde_json::json!(["tier=two", "zone=b"]));
    assert_eq!(after["Debug"], true);
    assert_eq!(
        after["RegistryConfig"]["Mirrors"],
        serde_json::json!(["http://127.0.0.1:5999"])
    );
    assert!(
        after["RegistryConfig"]["InsecureRegistryCIDRs"]
            .as_array()
            .unwrap()
            .contains(&"10.9.0.0/16".into()),
        "{after}"
    );

    // docker's reload event: the daemon as actor, the reloaded values as attributes.
    let events = reload_events(&d);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["Type"], "daemon");
    assert_eq!(e["Actor"]["ID"], after["ID"]);
    let attrs = &e["Actor"]["Attributes"];
    assert_eq!(attrs["debug"], "true");
    assert_eq!(attrs["labels"], r#"["tier=two","zone=b"]"#);
    assert_eq!(attrs["insecure-registries"], r#"["10.9.0.0/16"]"#);
    assert_eq!(attrs["registry-mirrors"], r#"["http://127.0.0.1:5999"]"#);
    assert_eq!(attrs["name"], after["Name"]);

    // The log says what was reloaded and what waits for a restart.
    let lines = log_lines(&d);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("reloaded the configuration")
                && l.contains("labels")
                && l.contains("debug")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("take effect only when pouchd restarts") && l.contains("mtu")),
        "{lines:#?}"
    );
    // The log level followed `debug` (unless POUCHD_LOG fixes the filter for this run).
    if std::env::var_os("POUCHD_LOG").is_none() {
        d.http("GET", "/containers/no-such-thing/json", b"");
        d.wait_for(10, "a debug line", || d.log().contains("request refused"));
    }

    // A second SIGHUP with nothing changed is still a reload (and still not a stop).
    hup(&d);
    d.wait_for(20, "the second reload", || reload_events(&d).len() == 2);
    assert_alive(&d);
}

#[test]
fn a_broken_config_on_reload_keeps_the_running_one() {
    let d = Daemon::start_with_config(r#"{"labels": ["tier=one"]}"#, &[]).unwrap();
    let file = d.dir.path().join("config.json");
    let good = std::fs::read_to_string(&file).unwrap();

    // Not JSON at all.
    std::fs::write(&file, "{ \"labels\": [\"tier=broken\"").unwrap();
    hup(&d);
    d.wait_for(20, "the failed reload", || {
        d.log().contains("keeping the running one")
    });
    assert_alive(&d);
    assert_eq!(info(&d)["Labels"], serde_json::json!(["tier=one"]));

    // JSON, but not a valid config: an unknown key, and a default runtime nobody registered.
    for bad in [
        r#"{"labels": ["tier=broken"], "no-such-key": 1}"#,
        r#"{"labels": ["tier=broken"], "default-runtime": "nothing-here"}"#,
    ] {
        let failures = d.log().matches("keeping the running one").count();
        std::fs::write(&file, bad).unwrap();
        hup(&d);
        d.wait_for(20, "the failed reload", || {
            d.log().matches("keeping the running one").count() > failures
        });
        assert_alive(&d);
        assert_eq!(info(&d)["Labels"], serde_json::json!(["tier=one"]));
    }
    assert!(
        reload_events(&d).is_empty(),
        "a failed reload emitted an event"
    );
    let lines = log_lines(&d);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("unknown field") && l.contains("no-such-key")),
        "{lines:#?}"
    );

    // Fixed again: the next SIGHUP applies it.
    std::fs::write(&file, good.replace("tier=one", "tier=fixed")).unwrap();
    hup(&d);
    d.wait_for(20, "the reload", || !reload_events(&d).is_empty());
    assert_eq!(info(&d)["Labels"], serde_json::json!(["tier=fixed"]));
}

#[test]
fn a_mirror_added_on_reload_serves_the_next_pull() {
    if !have_registry() {
        return;
    }
    let reg = Registry::start(RegistryOpts::default());
    let d = Daemon::start();
    // The image exists only on the registry that will become the mirror; `mirrored.invalid`
    // itself can never be reached.
    let on_mirror = format!("{}/pause:3.9", reg.host());
    tag_busybox(&d, &on_mirror);
    push_and_remove(&d, &on_mirror, &["busybox"]);
    let (_, err, code) = out(&pouch(&d, &["pull", "mirrored.invalid/pause:3.9"]));
    assert_ne!(code, Some(0), "pulled without a mirror: {err}");

    edit_config(
        &d,
        &[(
            "registry-mirrors",
            serde_json::json!({"mirrored.invalid": [format!("http://{}", reg.host())]}),
        )],
    );
    hup(&d);
    d.wait_for(20, "the reload", || !reload_events(&d).is_empty());
    let pulled = pouch_ok(&d, &["pull", "mirrored.invalid/pause:3.9"]);
    assert!(pulled.contains("Pull complete"), "{pulled}");
    assert_eq!(
        d.repo_tags("mirrored.invalid/pause:3.9"),
        ["mirrored.invalid/pause:3.9"]
    );
    assert_alive(&d);
}
