//! Default hardening, checked from inside containers: Docker's capability set, Docker's default
//! seccomp profile (and `unconfined`, custom profiles, `--privileged`), masked paths.

use pouch_e2e::{Daemon, have_docker, out};

/// Runs `script` in a busybox container; returns (stdout, stderr, exit code).
fn sh(d: &Daemon, flags: &[&str], script: &str) -> (String, String, Option<i32>) {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    let (so, se, code) = out(&d.pouch(&args));
    (so.trim().to_string(), se, code)
}

fn sh_ok(d: &Daemon, flags: &[&str], script: &str) -> String {
    let (so, se, code) = sh(d, flags, script);
    assert_eq!(code, Some(0), "{flags:?} {script}: {so} {se}");
    so
}

fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .trim()
        .to_string()
}

/// Docker's 14 default capabilities as the kernel's bit mask (`CapEff` in /proc/self/status):
/// CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE,
/// NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP.
const DOCKER_DEFAULT_CAPS: u64 = 0x0000_0000_a804_25fb;

#[test]
fn default_capabilities_are_dockers() {
    let d = Daemon::start();
    d.load_busybox();
    let status = sh_ok(&d, &[], "cat /proc/self/status");
    for field in ["CapEff", "CapPrm", "CapBnd"] {
        let mask = u64::from_str_radix(&status_field(&status, field), 16).unwrap();
        assert_eq!(
            mask, DOCKER_DEFAULT_CAPS,
            "{field} {mask:#x} is not docker's default set"
        );
    }
    assert_eq!(status_field(&status, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&status, "CapAmb"), "0000000000000000");
    // Dropping and adding moves single bits.
    let status = sh_ok(
        &d,
        &["--cap-drop", "NET_RAW", "--cap-add", "SYS_PTRACE"],
        "cat /proc/self/status",
    );
    let mask = u64::from_str_radix(&status_field(&status, "CapEff"), 16).unwrap();
    assert_eq!(mask, (DOCKER_DEFAULT_CAPS & !(1 << 13)) | (1 << 19));
}

#[test]
fn default_seccomp_profile_blocks_what_docker_blocks() {
    let d = Daemon::start();
    d.load_busybox();
    let status = sh_ok(&d, &[], "cat /proc/self/status");
    assert_eq!(status_field(&status, "Seccomp"), "2", "filter mode");

    // unshare(CLONE_NEWUSER) needs no capability, only the profile forbids it.
    let probe = "unshare -U true && echo allowed";
    let (so, se, code) = sh(&d, &[], probe);
    assert_ne!(code, Some(0), "{so}");
    assert!(se.contains("Operation not permitted"), "{se}");
    let userns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .is_ok_and(|n| n.trim() != "0");
    if userns {
        assert_eq!(
            sh_ok(&d, &["--security-opt", "seccomp=unconfined"], probe),
            "allowed"
        );
        assert_eq!(sh_ok(&d, &["--privileged"], probe), "allowed");
        // CAP_SYS_ADMIN opens the syscalls the profile ties to it.
        assert_eq!(sh_ok(&d, &["--cap-add", "SYS_ADMIN"], probe), "allowed");
    } else {
        println!("skipping the unconfined half: user namespaces are disabled on this host");
    }
    let status = sh_ok(
        &d,
        &["--security-opt", "seccomp=unconfined"],
        "cat /proc/self/status",
    );
    assert_eq!(status_field(&status, "Seccomp"), "0");

    // With no-new-privileges the runtime loads the filter later; it must still be there.
    let status = sh_ok(
        &d,
        &["--security-opt", "no-new-privileges"],
        "cat /proc/self/status",
    );
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(status_field(&status, "Seccomp"), "2");
    let status = sh_ok(&d, &[], "cat /proc/self/status");
    assert_eq!(status_field(&status, "NoNewPrivs"), "0", "docker's default");

    // Processes started with exec run under the same filter.
    let (id, se, code) = out(&d.pouch(&["run", "-d", "busybox", "sleep", "100"]));
    assert_eq!(code, Some(0), "{se}");
    let id = id.trim();
    let status = d.pouch_ok(&["exec", id, "cat", "/proc/self/status"]);
    assert_eq!(status_field(&status, "Seccomp"), "2", "exec'd process");
    let (so, se, code) = out(&d.pouch(&["exec", id, "unshare", "-U", "true"]));
    assert_ne!(code, Some(0), "{so}");
    assert!(se.contains("Operation not permitted"), "{se}");
    d.pouch_ok(&["rm", "-f", id]);

    // personality(2) is filtered by argument: PER_LINUX32 passes, others do not.
    assert_eq!(sh_ok(&d, &[], "linux32 uname -m"), "i686");

    // inspect keeps the option; info reports the builtin profile.
    let (id, se, code) = out(&d.pouch(&[
        "create",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "true",
    ]));
    assert_eq!(code, Some(0), "{se}");
    let hc = d.inspect(id.trim())["HostConfig"].clone();
    assert_eq!(hc["SecurityOpt"], serde_json::json!(["seccomp=unconfined"]));
    let opts = d.security_options();
    assert!(
        opts.iter().any(|o| o == "name=seccomp,profile=builtin"),
        "{opts:?}"
    );
}

#[test]
fn a_custom_profile_in_dockers_format() {
    let d = Daemon::start();
    d.load_busybox();
    let profile = d.dir.path().join("deny-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let (so, se, code) = sh(&d, &["--security-opt", &opt], "mkdir /tmp/x");
    assert_ne!(code, Some(0), "{so}");
    assert!(se.contains("Permission denied"), "{se}");
    // The same profile through the stock docker CLI.
    if have_docker() {
        let (so, se, code) = out(&d.docker(&[
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "mkdir",
            "/tmp/x",
        ]));
        assert_ne!(code, Some(0), "{so}");
        assert!(se.contains("Permission denied"), "{se}");
    }
    // A broken profile is refused with a clear message.
    std::fs::write(&profile, r#"{"defaultAction":"SCMP_ACT_NOPE"}"#).unwrap();
    let (_, se, code) = sh(&d, &["--security-opt", &opt], "true");
    assert_ne!(code, Some(0));
    assert!(se.contains("seccomp profile"), "{se}");
}

#[test]
fn masked_paths_and_what_privileged_lifts() {
    let d = Daemon::start();
    d.load_busybox();
    // /proc/timer_list, /proc/keys and friends read as empty; /sys/firmware is an empty tmpfs.
    let masked =
        "cat /proc/timer_list | wc -c; cat /proc/keys | wc -c; ls -A /sys/firmware | wc -l";
    let (so, se, code) = sh(&d, &[], masked);
    assert_eq!(code, Some(0), "{se}");
    assert_eq!(
        so.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "0"],
        "{so}"
    );
    // /proc/sys is read-only.
    let (_, se, code) = sh(&d, &[], "echo 1 > /proc/sys/kernel/ns_last_pid");
    assert_ne!(code, Some(0));
    assert!(se.contains("Read-only file system"), "{se}");

    // A default container cannot mount; a privileged one can, and sees the real /proc files.
    let mount = "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && echo mounted";
    let (so, se, code) = sh(&d, &[], mount);
    assert_ne!(code, Some(0), "{so}");
    assert!(
        se.contains("denied") || se.contains("not permitted"),
        "{se}"
    );
    assert_eq!(sh_ok(&d, &["--privileged"], mount), "mounted");
    let so = sh_ok(&d, &["--privileged"], "head -c 1 /proc/timer_list | wc -c");
    assert_eq!(so, "1");
    let status = sh_ok(&d, &["--privileged"], "cat /proc/self/status");
    assert_eq!(status_field(&status, "Seccomp"), "0");
}
