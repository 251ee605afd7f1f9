//! Errors a runtime reports badly are reported by pouch in words that say what failed and what
//! to do.

use pouch_e2e::{Daemon, out};

/// A process that cannot start exits `run` with docker's codes, with and without `--rm`, and
/// the container records the same code.
#[test]
fn start_failures_exit_127_126_with_and_without_rm() {
    let d = Daemon::start();
    d.load_busybox();
    for (cmd, want) in [("/nonexistent", 127), ("/etc", 126)] {
        let (_, err, code) = out(&d.pouch(&["run", "--rm", "--network", "none", "busybox", cmd]));
        assert_eq!(code, Some(want), "--rm {cmd}: {err}");
        let name = format!("c{want}");
        let (_, err, code) =
            out(&d.pouch(&["run", "--name", &name, "--network", "none", "busybox", cmd]));
        assert_eq!(code, Some(want), "{cmd}: {err}");
        let recorded = d.pouch_ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
        assert_eq!(recorded.trim(), want.to_string(), "{cmd}");
    }
}

/// libcontainer answers a refused `oom_score_adj` write with a bare "io error"; pouch names the
/// setting, the missing capability and the way out.
#[test]
fn oom_score_adj_below_the_daemons_without_cap_sys_resource_says_why() {
    let mut d = Daemon::start();
    d.load_busybox();
    d.stop();
    d.spawn_under(
        &[
            "setpriv",
            "--bounding-set",
            "-sys_resource",
            "--inh-caps",
            "-sys_resource",
        ],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(eff & (1 << CAP_SYS_RESOURCE), 0, "{status}");

    let (_, err, code) = out(&d.pouch(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--oom-score-adj",
        "-500",
        "busybox",
        "true",
    ]));
    // A failure of the daemon, not of the command: 125, although the words say "permission
    // denied" (the exit code follows the kind of failure, not the message).
    assert_eq!(code, Some(125), "{err}");
    assert!(
        err.contains("cannot set oom_score_adj -500: permission denied")
            && err.contains("CAP_SYS_RESOURCE"),
        "{err}"
    );
    // A value the daemon may set still works.
    let (o, err, code) = out(&d.pouch(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--oom-score-adj",
        "500",
        "busybox",
        "cat",
        "/proc/self/oom_score_adj",
    ]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(o.trim(), "500");
}

/// `CAP_SYS_RESOURCE` (linux/capability.h).
const CAP_SYS_RESOURCE: u32 = 24;
