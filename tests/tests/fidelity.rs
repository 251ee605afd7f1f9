//! Details docker clients read, checked with the stock docker CLI against pouchd; the expected
//! values are what dockerd 20.10 printed for the same commands.

use pouch_e2e::docker_daemon;

/// `ps` shows the image as the user wrote it while that name still means the container's image,
/// and the image's short id once it does not (never another of its tags).
#[test]
fn ps_shows_the_image_as_written() {
    let Some(d) = docker_daemon() else {
        return;
    };
    d.docker_ok(&["tag", "busybox", "bb2:1"]);
    for (name, image) in [("i1", "busybox"), ("i2", "bb2:1")] {
        d.docker_ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            image,
            "sleep",
            "300",
        ]);
    }
    let ps = |filter: &str| {
        d.docker_ok(&[
            "ps",
            "--format",
            "{{.Image}}",
            "-f",
            &format!("name={filter}"),
        ])
        .trim()
        .to_string()
    };
    assert_eq!(ps("i1"), "busybox");
    assert_eq!(ps("i2"), "bb2:1");
    d.docker_ok(&["rmi", "bb2:1"]);
    let id = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    let short = &id.trim().trim_start_matches("sha256:")[..12];
    assert_eq!(ps("i2"), short);
    d.docker_ok(&["rm", "-f", "i1", "i2"]);
}

/// Every HostConfig key dockerd reports is there, with dockerd's defaults; `--group-add` adds
/// supplementary groups by name and number; what pouch cannot honour yet is refused with the
/// reason instead of being ignored.
#[test]
fn host_config_keys_group_add_and_refusals() {
    let Some(d) = docker_daemon() else {
        return;
    };
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ]);
    let hc = &d.inspect("hc")["HostConfig"];
    for key in [
        "Cgroup",
        "CgroupnsMode",
        "ConsoleSize",
        "CpuCount",
        "CpuPercent",
        "CpuRealtimePeriod",
        "CpuRealtimeRuntime",
        "DeviceCgroupRules",
        "DeviceRequests",
        "GroupAdd",
        "IOMaximumBandwidth",
        "IOMaximumIOps",
        "Isolation",
        "KernelMemory",
        "KernelMemoryTCP",
        "Links",
        "MaskedPaths",
        "ReadonlyPaths",
    ] {
        assert!(hc.get(key).is_some(), "HostConfig.{key} missing: {hc}");
    }
    assert_eq!(hc["ConsoleSize"], serde_json::json!([0, 0]));
    assert!(hc["Links"].is_null() && hc["GroupAdd"].is_null());
    let masked = hc["MaskedPaths"].as_array().cloned().unwrap_or_default();
    assert!(masked.iter().any(|p| p == "/proc/kcore"), "{hc}");
    assert!(
        hc["ReadonlyPaths"]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p == "/proc/sys")),
        "{hc}"
    );
    let id = d.docker_ok(&[
        "run",
        "--rm",
        "--group-add",
        "10",
        "--group-add",
        "nogroup",
        "-u",
        "1000",
        "busybox",
        "id",
    ]);
    assert_eq!(
        id.trim(),
        "uid=1000(user) gid=1000(user) groups=10,1000(user),65534(nogroup)"
    );
    let (_, err, code) =
        pouch_e2e::out(&d.docker(&["run", "--rm", "--link", "hc:x", "busybox", "true"]));
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("user-defined network"), "{err}");
    d.docker_ok(&["rm", "-f", "hc"]);
}

/// Image inspect reports the run config in docker's shape: every key dockerd sends (null or
/// empty when the image does not set it), `ContainerConfig` and `Container` included.
#[test]
fn image_inspect_has_dockers_config_keys() {
    let Some(d) = docker_daemon() else {
        return;
    };
    let v = d.http("GET", "/images/busybox/json", b"").json();
    for key in [
        "Hostname",
        "Domainname",
        "User",
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "Tty",
        "OpenStdin",
        "StdinOnce",
        "Env",
        "Cmd",
        "Image",
        "Volumes",
        "WorkingDir",
        "Entrypoint",
        "OnBuild",
        "Labels",
    ] {
        assert!(v["Config"].get(key).is_some(), "Config.{key}: {v}");
        assert!(
            v["ContainerConfig"].get(key).is_some(),
            "ContainerConfig.{key}"
        );
    }
    assert_eq!(v["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert!(v["Config"]["Entrypoint"].is_null());
    assert_eq!(v["Container"], "");
    // Templates that name them render (docker inspect -f).
    let out = d.docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.Entrypoint}} {{.Config.User}}|",
        "busybox",
    ]);
    assert_eq!(out.trim(), "[] |");
}
