//! The flag → create-body mapping, as a table of command lines and the JSON docker sends for
//! them (captured from docker 28 where docker sends the same field).

use clap::Parser;
use serde_json::{Value, json};

use super::*;

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct Cli {
    #[command(flatten)]
    opts: ContainerOptions,
}

fn lookup(key: &str) -> Option<String> {
    match key {
        "HOME" => Some("/root".to_owned()),
        "SHELL" => Some("/bin/bash".to_owned()),
        _ => None,
    }
}

fn read_file(path: &str) -> std::io::Result<String> {
    match path {
        "app.env" => Ok("# settings\nMODE=prod\n  PORT=8080\nSHELL\nMISSING\n".to_owned()),
        _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
    }
}

fn spec(args: &[&str]) -> Result<Spec> {
    let cli = Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied()))?;
    let env = Env {
        lookup: &lookup,
        read_file: &read_file,
        console_size: None,
    };
    build(&cli.opts, &env)
}

fn body(args: &[&str]) -> Value {
    spec(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e:#}"))
        .body()
}

fn error(args: &[&str]) -> String {
    match spec(args) {
        Ok(s) => panic!("{args:?} accepted: {}", s.body()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn minimal_body() {
    assert_eq!(
        body(&["busybox"]),
        json!({
            "Image": "busybox",
            "AttachStdin": false, "AttachStdout": true, "AttachStderr": true,
            "Tty": false, "OpenStdin": false, "StdinOnce": false,
            "HostConfig": {"AutoRemove": false}
        })
    );
}

#[test]
fn flag_table() {
    let cases: &[(&[&str], &str, Value)] = &[
        (
            &["--cpus", "1.5", "x"],
            "/HostConfig/NanoCpus",
            json!(1_500_000_000),
        ),
        (
            &["--cpus=0.25", "x"],
            "/HostConfig/NanoCpus",
            json!(250_000_000),
        ),
        (&["-m", "64m", "x"], "/HostConfig/Memory", json!(67_108_864)),
        (
            &["--memory=1g", "x"],
            "/HostConfig/Memory",
            json!(1_073_741_824),
        ),
        (
            &["--memory-swap", "-1", "x"],
            "/HostConfig/MemorySwap",
            json!(-1),
        ),
        (
            &["--shm-size", "1g", "x"],
            "/HostConfig/ShmSize",
            json!(1_073_741_824),
        ),
        (
            &["--pids-limit", "-1", "x"],
            "/HostConfig/PidsLimit",
            json!(-1),
        ),
        (&["-c", "512", "x"], "/HostConfig/CpuShares", json!(512)),
        (
            &["--restart", "on-failure:3", "x"],
            "/HostConfig/RestartPolicy",
            json!({"Name": "on-failure", "MaximumRetryCount": 3}),
        ),
        (
            &["--restart=always", "x"],
            "/HostConfig/RestartPolicy",
            json!({"Name": "always", "MaximumRetryCount": 0}),
        ),
        (
            &[
                "--ulimit",
                "nofile=1024:2048",
                "--ulimit",
                "nproc=10",
                "--ulimit",
                "nofile=5",
                "x",
            ],
            "/HostConfig/Ulimits",
            json!([{"Name": "nofile", "Soft": 5, "Hard": 5}, {"Name": "nproc", "Soft": 10, "Hard": 10}]),
        ),
        (
            &["--device", "/dev/fuse:/dev/fuse:rwm", "x"],
            "/HostConfig/Devices",
            json!([{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}]),
        ),
        (
            &[
                "--env-file",
                "app.env",
                "-e",
                "A=1",
                "-e",
                "HOME",
                "-e",
                "NOPE",
                "x",
            ],
            "/Env",
            json!([
                "MODE=prod",
                "PORT=8080",
                "SHELL=/bin/bash",
                "A=1",
                "HOME=/root",
                "NOPE"
            ]),
        ),
        (&["--entrypoint", "", "x"], "/Entrypoint", json!([""])),
        (
            &["--entrypoint=/bin/sh", "x", "-c", "ls"],
            "/Entrypoint",
            json!(["/bin/sh"]),
        ),
        (
            &["x", "sh", "-c", "echo hi"],
            "/Cmd",
            json!(["sh", "-c", "echo hi"]),
        ),
        (&["x", "--help"], "/Cmd", json!(["--help"])),
        (
            &["-l", "a=b", "--label", "c", "x"],
            "/Labels",
            json!({"a": "b", "c": ""}),
        ),
        (&["-h", "box", "x"], "/Hostname", json!("box")),
        (&["--hostname=box", "x"], "/Hostname", json!("box")),
        (
            &["-w", "/srv", "-u", "1000:1000", "x"],
            "/WorkingDir",
            json!("/srv"),
        ),
        (
            &["-w", "/srv", "-u", "1000:1000", "x"],
            "/User",
            json!("1000:1000"),
        ),
        (
            &["--stop-signal", "int", "x"],
            "/StopSignal",
            json!("SIGINT"),
        ),
        (&["--stop-timeout", "5", "x"], "/StopTimeout", json!(5)),
        (&["--init", "x"], "/HostConfig/Init", json!(true)),
        (&["--init=false", "x"], "/HostConfig/Init", json!(false)),
        (&["--rm", "x"], "/HostConfig/AutoRemove", json!(true)),
        (
            &["--privileged", "--read-only", "x"],
            "/HostConfig/Privileged",
            json!(true),
        ),
        (
            &["--privileged", "--read-only", "x"],
            "/HostConfig/ReadonlyRootfs",
            json!(true),
        ),
        (
            &["--cap-add", "net_admin", "--cap-drop", "ALL", "x"],
            "/HostConfig/CapAdd",
            json!(["CAP_NET_ADMIN"]),
        ),
        (
            &["--cap-drop", "all", "x"],
            "/HostConfig/CapDrop",
            json!(["ALL"]),
        ),
        (
            &["--security-opt", "no-new-privileges", "x"],
            "/HostConfig/SecurityOpt",
            json!(["no-new-privileges"]),
        ),
        (
            &["--sysctl", "net.ipv4.ip_forward=1", "x"],
            "/HostConfig/Sysctls",
            json!({"net.ipv4.ip_forward": "1"}),
        ),
        (
            &["--ipc", "host", "x"],
            "/HostConfig/IpcMode",
            json!("host"),
        ),
        (
            &["--pid", "container:db", "x"],
            "/HostConfig/PidMode",
            json!("container:db"),
        ),
        (
            &["--uts", "host", "x"],
            "/HostConfig/UTSMode",
            json!("host"),
        ),
        (
            &["--network", "none", "x"],
            "/HostConfig/NetworkMode",
            json!("none"),
        ),
        (
            &["--net=host", "x"],
            "/HostConfig/NetworkMode",
            json!("host"),
        ),
        (
            &["--runtime", "runc", "x"],
            "/HostConfig/Runtime",
            json!("runc"),
        ),
        (
            &["--enable-lxcfs", "x"],
            "/HostConfig/EnableLxcfs",
            json!(true),
        ),
        (
            &["--enableLxcfs", "x"],
            "/HostConfig/EnableLxcfs",
            json!(true),
        ),
        (
            &["-v", "/tmp:/data:ro", "-v", "/anon", "x"],
            "/HostConfig/Binds",
            json!(["/tmp:/data:ro"]),
        ),
        (
            &["-v", "/tmp:/data:ro", "-v", "/anon", "x"],
            "/Volumes",
            json!({"/anon": {}}),
        ),
        (
            &["-p", "8080:80", "x"],
            "/HostConfig/PortBindings",
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}),
        ),
        (
            &["-p", "8080:80", "x"],
            "/ExposedPorts",
            json!({"80/tcp": {}}),
        ),
        (
            &["--log-opt", "max-size=10m", "--log-opt", "max-file=3", "x"],
            "/HostConfig/LogConfig",
            json!({"Type": "", "Config": {"max-size": "10m", "max-file": "3"}}),
        ),
    ];
    for (args, pointer, want) in cases {
        let got = body(args);
        assert_eq!(
            got.pointer(pointer),
            Some(want),
            "{args:?} at {pointer} in {got}"
        );
    }
}

#[test]
fn unset_fields_are_omitted() {
    let b = body(&["busybox"]);
    for pointer in [
        "/Cmd",
        "/Entrypoint",
        "/Env",
        "/HostConfig/NetworkMode",
        "/HostConfig/RestartPolicy",
        "/HostConfig/Init",
        "/HostConfig/PidsLimit",
        "/HostConfig/LogConfig",
        "/NetworkingConfig",
    ] {
        assert_eq!(b.pointer(pointer), None, "{pointer}");
    }
}

#[test]
fn attach_stdin_and_tty() {
    let b = body(&["-it", "busybox", "sh"]);
    assert_eq!(b["AttachStdin"], true);
    assert_eq!(b["OpenStdin"], true);
    assert_eq!(b["StdinOnce"], true);
    assert_eq!(b["Tty"], true);
    let b = body(&["-a", "STDERR", "busybox"]);
    assert_eq!(
        (&b["AttachStdin"], &b["AttachStdout"], &b["AttachStderr"]),
        (&json!(false), &json!(false), &json!(true))
    );
    let mut s = spec(&["-i", "busybox"]).unwrap();
    s.detach();
    let b = s.body();
    assert_eq!(b["AttachStdin"], false);
    assert_eq!(b["AttachStdout"], false);
    assert_eq!(b["StdinOnce"], false);
    assert_eq!(b["OpenStdin"], true);
}

#[test]
fn console_size_when_attached_to_a_terminal() {
    let cli = Cli::try_parse_from(["run", "-t", "busybox"]).unwrap();
    let env = Env {
        lookup: &lookup,
        read_file: &read_file,
        console_size: Some((40, 120)),
    };
    let b = build(&cli.opts, &env).unwrap().body();
    assert_eq!(b["HostConfig"]["ConsoleSize"], json!([40, 120]));
}

#[test]
fn errors_read_like_docker() {
    for (args, want) in [
        (
            &["-m", "12x", "x"][..],
            "invalid argument \"12x\" for \"-m, --memory\" flag: invalid suffix: 'x'",
        ),
        (
            &["--cpus", "abc", "x"],
            "invalid argument \"abc\" for \"--cpus\" flag: failed to parse abc as a rational number",
        ),
        (
            &["--restart", "on-failure:x", "x"],
            "invalid restart policy format: maximum retry count must be an integer",
        ),
        (
            &["--rm", "--restart", "always", "x"],
            "conflicting options: cannot specify both --restart and --rm",
        ),
        (
            &["-a", "stdall", "x"],
            "invalid argument \"stdall\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR",
        ),
        (
            &["--ulimit", "nofile=2:1", "x"],
            "invalid argument \"nofile=2:1\" for \"--ulimit\" flag: ulimit soft limit must be less than or equal to hard limit: 2 > 1",
        ),
        (
            &["--device", "/dev/a:rel", "x"],
            "rel is not an absolute path",
        ),
        (
            &["--sysctl", "vm.x=1", "x"],
            "invalid argument \"vm.x=1\" for \"--sysctl\" flag: sysctl 'vm.x=1' is not allowed",
        ),
        (
            &["--stop-signal", "SIGNOPE", "x"],
            "invalid argument \"SIGNOPE\" for \"--stop-signal\" flag: invalid signal: SIGNOPE",
        ),
        (&["--pid", "container:", "x"], "--pid: invalid PID mode"),
        (&["--uts", "private", "x"], "--uts: invalid UTS mode"),
        (
            &["--env-file", "missing.env", "x"],
            "open missing.env: entity not found",
        ),
        (
            &["--log-driver", "none", "--log-opt", "a=b", "x"],
            "invalid logging opts for driver none",
        ),
        (&["-p", "80/icmp", "x"], "invalid proto: icmp"),
        (&["--", "--bogus", "x"], "unknown flag: --bogus"),
    ] {
        assert_eq!(error(args), want, "{args:?}");
    }
    // --rm with the "no" restart policy is fine.
    assert!(spec(&["--rm", "--restart", "no", "x"]).is_ok());
}
