//! `logs` on rotated json-file logs: `--tail` across files, `--follow` across rotations, and a
//! large log read back byte for byte, through the pouch CLI (and the docker CLI when present).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use pouch_e2e::{Daemon, have_docker};

fn numbered(path: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

/// The log's entries as the client prints them: lines with their '\n', the last maybe without.
fn entries(s: &str) -> Vec<&str> {
    s.split_inclusive('\n').collect()
}

#[test]
fn tail_counts_back_across_rotated_files() {
    let d = Daemon::start();
    d.load_busybox();
    d.pouch_ok(&[
        "run",
        "-d",
        "--name",
        "rot",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=5",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo \"line $i\"; done; printf 'no newline'",
    ]);
    assert_eq!(d.pouch_ok(&["wait", "rot"]).trim(), "0");
    let log = PathBuf::from(d.inspect("rot")["LogPath"].as_str().unwrap());
    assert!(numbered(&log, 4).exists(), "five files kept");
    assert!(!numbered(&log, 5).exists(), "no more than five files");
    let in_live = std::fs::read_to_string(&log).unwrap().lines().count();
    assert!(in_live < 20, "the live file alone holds {in_live} entries");

    // Everything the kept files hold: consecutive lines up to the end, then the partial one.
    let all = d.pouch_ok(&["logs", "rot"]);
    let all = entries(&all);
    assert!(all.len() > 40 && all.len() < 100, "{} entries", all.len());
    assert_eq!(all.last(), Some(&"no newline"));
    let first: usize = all[0].trim_start_matches("line ").trim().parse().unwrap();
    for (k, e) in all[..all.len() - 1].iter().enumerate() {
        assert_eq!(*e, format!("line {}\n", first + k));
    }
    assert_eq!(all[all.len() - 2], "line 300\n");

    // The tail spans several files; it counts the partial last entry like any other.
    let tail = d.pouch_ok(&["logs", "--tail", "40", "rot"]);
    assert_eq!(entries(&tail), all[all.len() - 40..]);
    assert_eq!(d.pouch_ok(&["logs", "--tail", "1000", "rot"]), all.concat());
    assert_eq!(d.pouch_ok(&["logs", "--tail", "0", "rot"]), "");
    // Timestamps as docker prints them: nanoseconds always nine digits.
    let stamped = d.pouch_ok(&["logs", "-t", "rot"]);
    for e in entries(&stamped) {
        let (t, rest) = e.split_once(' ').unwrap();
        assert_eq!(t.len(), "2026-01-01T00:00:00.000000000Z".len(), "{e:?}");
        assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.', "{e:?}");
        assert!(rest.starts_with("line ") || rest == "no newline", "{e:?}");
    }
    if have_docker() {
        assert_eq!(d.docker_ok(&["logs", "--tail", "40", "rot"]), tail);
    }
    // A time whose fraction the file keeps short is printed padded, as docker does.
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(
        b"{\"log\":\"short time\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00.5Z\"}\n",
    )
    .unwrap();
    assert_eq!(
        d.pouch_ok(&["logs", "-t", "--tail", "1", "rot"]),
        "2026-01-01T00:00:00.500000000Z short time\n"
    );
}

#[test]
fn follow_reads_on_across_rotations_until_the_container_stops() {
    const LINES: usize = 3000;
    let d = Daemon::start();
    d.load_busybox();
    // Each line ~80 bytes in the log: ~24 rotations, and every file is kept.
    d.pouch_ok(&[
        "run",
        "-d",
        "--name",
        "fol",
        "--log-opt",
        "max-size=10k",
        "--log-opt",
        "max-file=100",
        "busybox",
        "sh",
        "-c",
        &format!(
            "echo ready; while [ ! -e /tmp/go ]; do usleep 10000; done; \
             i=0; while [ $i -lt {LINES} ]; do i=$((i+1)); echo \"line $i\"; done"
        ),
    ]);
    let mut follower = std::process::Command::new(pouch_e2e::bin("pouch"))
        .args(["-H", &d.host(), "logs", "-f", "fol"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(60));
    // The follower is following before the container starts to talk.
    assert_eq!(next().as_deref(), Ok("ready"));
    d.pouch_ok(&["exec", "fol", "touch", "/tmp/go"]);
    let mut got = Vec::new();
    while let Ok(line) = next() {
        got.push(line);
    }
    // The follower ended by itself when the container stopped (its stdout closed).
    assert!(follower.wait().unwrap().success());
    let want: Vec<String> = (1..=LINES).map(|i| format!("line {i}")).collect();
    assert_eq!(got.len(), want.len(), "lost or repeated lines");
    assert!(got == want, "lines out of order");
    let log = PathBuf::from(d.inspect("fol")["LogPath"].as_str().unwrap());
    assert!(numbered(&log, 10).exists(), "the log rotated");
}

#[test]
fn a_large_log_reads_back_byte_for_byte() {
    let d = Daemon::start();
    d.load_busybox();
    let line = "x".repeat(99);
    let bytes = 8_000_000;
    d.pouch_ok(&[
        "run",
        "-d",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        &format!("yes {line} | head -c {bytes}; echo err >&2"),
    ]);
    assert_eq!(d.pouch_ok(&["wait", "big"]).trim(), "0");
    let check = |o: std::process::Output, who: &str| {
        assert!(o.status.success(), "{who}");
        assert_eq!(o.stdout.len(), bytes, "{who}");
        let want = format!("{line}\n");
        assert!(
            o.stdout.chunks(100).all(|c| c == want.as_bytes()),
            "{who}: a line came back changed"
        );
        assert_eq!(o.stderr, b"err\n", "{who}");
    };
    check(d.pouch(&["logs", "big"]), "pouch");
    if have_docker() {
        check(d.docker(&["logs", "big"]), "docker");
    }
}
