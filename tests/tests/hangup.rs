//! A client that hangs up does not cut an operation short: a start whose client went away
//! finishes (or fails) as a whole, so no container is left "created" with a shim behind it.

use std::io::Write;
use std::os::unix::net::UnixStream;

use pouch_e2e::Daemon;

#[test]
fn starts_whose_clients_hang_up_at_once_still_finish() {
    let d = Daemon::start();
    d.load_busybox();
    let ids: Vec<String> = (0..20)
        .map(|i| {
            d.pouch_ok(&[
                "create",
                "--name",
                &format!("h{i}"),
                "--network",
                "none",
                "busybox",
                "sleep",
                "1000",
            ])
            .trim()
            .to_string()
        })
        .collect();
    // Hang up at different points of the start: before it is read, during it, after it.
    for (i, id) in ids.iter().enumerate() {
        let mut s = UnixStream::connect(&d.sock).expect("connect");
        write!(
            s,
            "POST /containers/{id}/start HTTP/1.1\r\nHost: pouch\r\nContent-Length: 0\r\n\r\n"
        )
        .expect("send");
        std::thread::sleep(std::time::Duration::from_millis(4 * i as u64));
        s.shutdown(std::net::Shutdown::Both).expect("shutdown");
    }
    // A start that was read runs to its end (an unread one never began): starting again waits
    // for it (the container's lock) and finds each either running or cleanly created — never
    // created with a shim of the cut-short start still holding it.
    for id in &ids {
        let (_, err, code) = pouch_e2e::out(&d.pouch(&["start", id]));
        assert_eq!(code, Some(0), "{id}: {err}");
    }
    assert!(
        ids.iter()
            .all(|id| d.inspect(id)["State"]["Status"] == "running")
    );
    // Each runs its process, and stops and goes like any other container.
    for id in &ids {
        let pid = d.inspect(id)["State"]["Pid"].as_i64().unwrap_or(0);
        assert!(
            pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{id}"
        );
    }
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    d.pouch_ok(&rm);
    assert_eq!(d.pouch_ok(&["ps", "-aq"]).trim(), "");
}
