//! Storage: named and anonymous volumes, binds with propagation, tmpfs, `--volumes-from`, the
//! volume API/CLI, a volume plugin over the Docker plugin protocol, and clear errors for bad input.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use pouch_e2e::{Daemon, docker_daemon, have_docker, out};

fn ok(d: &Daemon, args: &[&str]) -> String {
    d.pouch_ok(args)
}

fn fails(d: &Daemon, args: &[&str]) -> String {
    let (so, se, code) = out(&d.pouch(args));
    assert_ne!(code, Some(0), "{args:?} succeeded: {so}");
    se
}

#[test]
fn named_volume_outlives_its_container_and_is_shared() {
    let d = Daemon::start();
    d.load_busybox();
    ok(&d, &["volume", "create", "--label", "team=a", "data1"]);
    ok(
        &d,
        &[
            "run",
            "--name",
            "wr",
            "-v",
            "data1:/data",
            "busybox",
            "sh",
            "-c",
            "echo kept > /data/f",
        ],
    );
    ok(&d, &["rm", "wr"]);
    let got = ok(
        &d,
        &["run", "--rm", "-v", "data1:/d:ro", "busybox", "cat", "/d/f"],
    );
    assert_eq!(got, "kept\n");
    // Read-only really is read-only.
    let (_, se, code) = out(&d.pouch(&[
        "run",
        "--rm",
        "-v",
        "data1:/d:ro",
        "busybox",
        "touch",
        "/d/g",
    ]));
    assert_ne!(code, Some(0));
    assert!(se.contains("Read-only file system"), "{se}");
    // The data is in the volume's directory on the host.
    let v = d.http("GET", "/volumes/data1", b"").json();
    let mp = v["Mountpoint"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(Path::new(&mp).join("f")).unwrap(),
        "kept\n"
    );
    assert_eq!(v["Labels"]["team"], "a");
    assert_eq!(v["Driver"], "local");
    // `-v name:/x` of a missing volume creates it.
    ok(&d, &["run", "--rm", "-v", "fresh:/x", "busybox", "true"]);
    let names = ok(&d, &["volume", "ls", "-q"]);
    assert_eq!(names, "data1\nfresh\n");
    assert_eq!(
        ok(&d, &["volume", "ls", "-q", "--filter", "label=team=a"]),
        "data1\n"
    );
    // Survives a daemon restart.
    let mut d = d;
    d.stop();
    d.spawn(&[]).unwrap();
    assert_eq!(ok(&d, &["volume", "ls", "-q"]), "data1\nfresh\n");
    assert_eq!(
        ok(
            &d,
            &["run", "--rm", "-v", "data1:/d", "busybox", "cat", "/d/f"]
        ),
        "kept\n"
    );
}

#[test]
fn a_volume_in_use_cannot_be_removed() {
    let d = Daemon::start();
    d.load_busybox();
    ok(
        &d,
        &[
            "create", "--name", "holder", "-v", "busy:/b", "busybox", "true",
        ],
    );
    let se = fails(&d, &["volume", "rm", "busy"]);
    assert!(se.contains("volume is in use"), "{se}");
    let r = d.http("DELETE", "/volumes/busy?force=1", b"");
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(d.http("GET", "/volumes/busy", b"").status == 200);
    ok(&d, &["rm", "holder"]);
    assert_eq!(ok(&d, &["volume", "rm", "busy"]), "busy\n");
    let se = fails(&d, &["volume", "rm", "busy"]);
    assert!(se.contains("no such volume"), "{se}");
    assert_eq!(d.http("DELETE", "/volumes/busy?force=1", b"").status, 204);
}

#[test]
fn image_volume_is_populated_and_anonymous_volumes_follow_rm_v() {
    let d = Daemon::start();
    d.load_busybox();
    ok(
        &d,
        &[
            "run",
            "--name",
            "src",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /seed/sub && echo from-image > /seed/sub/f && chown 12:34 /seed/sub/f && ln -s sub/f /seed/link",
        ],
    );
    ok(&d, &["commit", "-c", "VOLUME /seed", "src", "withvol:1"]);
    ok(&d, &["rm", "src"]);
    let id = ok(&d, &["run", "-d", "withvol:1", "sleep", "100"]);
    let id = id.trim();
    let got = ok(
        &d,
        &[
            "exec",
            id,
            "sh",
            "-c",
            "cat /seed/link; stat -c %u:%g /seed/sub/f; mount | grep -c ' /seed '",
        ],
    );
    assert_eq!(got, "from-image\n12:34\n1\n");
    let mounts = d.inspect(id)["Mounts"].clone();
    assert_eq!(mounts.as_array().unwrap().len(), 1, "{mounts}");
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Destination"], "/seed");
    let anon = mounts[0]["Name"].as_str().unwrap().to_string();
    assert_eq!(anon.len(), 64);
    // Content written to the volume stays across a restart of the container, and is not copied
    // over again.
    ok(
        &d,
        &[
            "exec",
            id,
            "sh",
            "-c",
            "rm /seed/sub/f && echo mine > /seed/mine",
        ],
    );
    ok(&d, &["restart", "-t", "0", id]);
    assert_eq!(ok(&d, &["exec", id, "ls", "/seed"]), "link\nmine\nsub\n");
    // nocopy leaves a new volume empty.
    assert_eq!(
        ok(
            &d,
            &[
                "run",
                "--rm",
                "-v",
                "empty:/seed:nocopy",
                "withvol:1",
                "ls",
                "-A",
                "/seed"
            ]
        ),
        ""
    );
    // rm without -v keeps the anonymous volume (dangling); prune takes it; rm -v removes it.
    ok(&d, &["rm", "-f", id]);
    assert!(ok(&d, &["volume", "ls", "-q", "-f", "dangling=true"]).contains(&anon));
    let pruned = ok(&d, &["volume", "prune", "-f"]);
    assert!(pruned.contains(&anon), "{pruned}");
    assert!(
        ok(&d, &["volume", "ls", "-q"]).contains("empty"),
        "named volumes survive a plain prune"
    );
    let id = ok(&d, &["create", "withvol:1", "true"]);
    let anon = d.inspect(id.trim())["Mounts"][0]["Name"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&d, &["rm", "-v", id.trim()]);
    assert!(!ok(&d, &["volume", "ls", "-q"]).contains(&anon));
    // run --rm removes its anonymous volume too.
    ok(&d, &["run", "--rm", "-v", "/anon", "busybox", "true"]);
    assert_eq!(ok(&d, &["volume", "ls", "-q"]), "empty\n");
    let pruned = ok(&d, &["volume", "prune", "-af"]);
    assert!(pruned.contains("empty"), "{pruned}");
}

#[test]
fn binds_tmpfs_and_volumes_from() {
    let d = Daemon::start();
    d.load_busybox();
    let host = d.dir.path().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from-host\n").unwrap();
    let h = host.display().to_string();
    let got = ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{h}:/h"),
            "busybox",
            "sh",
            "-c",
            "cat /h/in; echo back > /h/out",
        ],
    );
    assert_eq!(got, "from-host\n");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    let (_, se, code) = out(&d.pouch(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={h},dst=/h,readonly"),
        "busybox",
        "touch",
        "/h/x",
    ]));
    assert_ne!(code, Some(0));
    assert!(se.contains("Read-only file system"), "{se}");
    // -v creates a missing source directory; --mount refuses it.
    let missing = d.dir.path().join("made-by-v");
    ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{}:/m", missing.display()),
            "busybox",
            "true",
        ],
    );
    assert!(missing.is_dir());
    let se = fails(
        &d,
        &[
            "run",
            "--rm",
            "--mount",
            "type=bind,src=/nonexistent-pouch-src,dst=/m",
            "busybox",
            "true",
        ],
    );
    assert!(
        se.contains("bind source path does not exist: /nonexistent-pouch-src"),
        "{se}"
    );

    // tmpfs: empty, sized, noexec by default.
    let got = ok(
        &d,
        &[
            "run",
            "--rm",
            "--tmpfs",
            "/t:size=1m,mode=1770",
            "busybox",
            "sh",
            "-c",
            "ls -A /t | wc -l; stat -c %a /t; df -k /t | tail -1 | awk '{print $2}'; grep ' /t ' /proc/mounts | grep -c noexec",
        ],
    );
    assert_eq!(got, "0\n1770\n1024\n1\n");
    let got = ok(
        &d,
        &[
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,target=/t2,tmpfs-size=2m",
            "busybox",
            "sh",
            "-c",
            "df -k /t2 | tail -1 | awk '{print $2}'",
        ],
    );
    assert_eq!(got, "2048\n");

    // --volumes-from takes the other container's volumes and binds, read-only on request.
    ok(
        &d,
        &[
            "create",
            "--name",
            "donor",
            "-v",
            "shared:/s",
            "-v",
            &format!("{h}:/h"),
            "busybox",
            "true",
        ],
    );
    ok(
        &d,
        &[
            "run",
            "--rm",
            "--volumes-from",
            "donor",
            "busybox",
            "sh",
            "-c",
            "echo via-from > /s/f",
        ],
    );
    let got = ok(
        &d,
        &[
            "run",
            "--rm",
            "--volumes-from",
            "donor:ro",
            "busybox",
            "sh",
            "-c",
            "cat /s/f /h/in; touch /s/g 2>/dev/null || echo ro",
        ],
    );
    assert_eq!(got, "via-from\nfrom-host\nro\n");
    let se = fails(
        &d,
        &["run", "--rm", "--volumes-from", "nobody", "busybox", "true"],
    );
    assert!(se.contains("nobody"), "{se}");
}

#[test]
fn bind_propagation_both_ways() {
    let d = Daemon::start();
    d.load_busybox();
    let dir = d.dir.path().join("prop");
    std::fs::create_dir(&dir).unwrap();
    let p = dir.display().to_string();
    let sh = |c: &str| {
        let s = Command::new("sh").arg("-c").arg(c).status().unwrap();
        assert!(s.success(), "{c}");
    };
    // A private mount cannot carry rshared binds: clear error.
    sh(&format!("mount --bind {p} {p} && mount --make-private {p}"));
    let se = fails(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{p}:/p:rshared"),
            "busybox",
            "true",
        ],
    );
    assert!(se.contains("not a shared mount"), "{se}");
    sh(&format!("mount --make-shared {p}"));
    std::fs::create_dir(dir.join("fromctr")).unwrap();
    std::fs::create_dir(dir.join("fromhost")).unwrap();
    let id = ok(
        &d,
        &[
            "run",
            "-d",
            "--privileged",
            "-v",
            &format!("{p}:/p:rshared"),
            "busybox",
            "sleep",
            "100",
        ],
    );
    let id = id.trim();
    // Container → host.
    ok(
        &d,
        &[
            "exec",
            id,
            "sh",
            "-c",
            "mount -t tmpfs ctr /p/fromctr && echo up > /p/fromctr/f",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("fromctr/f")).unwrap(),
        "up\n"
    );
    // Host → container.
    sh(&format!(
        "mount -t tmpfs hst {p}/fromhost && echo down > {p}/fromhost/g"
    ));
    assert_eq!(ok(&d, &["exec", id, "cat", "/p/fromhost/g"]), "down\n");
    ok(&d, &["rm", "-f", id]);
    let _ = Command::new("umount")
        .arg("-l")
        .arg(dir.join("fromctr"))
        .status();
    let _ = Command::new("umount")
        .arg("-l")
        .arg(dir.join("fromhost"))
        .status();
    let _ = Command::new("umount").arg("-l").arg(&dir).status();
}

#[test]
fn bad_mounts_are_refused_clearly() {
    let d = Daemon::start();
    d.load_busybox();
    for (args, want) in [
        (
            vec!["-v", "./rel:/x"],
            "includes invalid characters for a local volume name",
        ),
        (vec!["-v", "/tmp:rel"], "must be absolute"),
        (vec!["-v", "/tmp:/x:bogus"], "invalid mode"),
        (vec!["-v", "/tmp:/"], "destination can't be '/'"),
        (
            vec!["-v", "/tmp:/x", "-v", "/var:/x"],
            "Duplicate mount point: /x",
        ),
        (
            vec!["--mount", "type=bind,target=/x"],
            "field Source must not be empty",
        ),
        (vec!["--mount", "type=nfs,target=/x"], "mount type unknown"),
        (
            vec!["--mount", "type=tmpfs,src=/a,target=/x"],
            "field Source must not be specified",
        ),
        (vec!["--mount", "source=x"], "target is required"),
        (
            vec![
                "--mount",
                "type=volume,src=vv,target=/x,volume-driver=no-such-driver",
            ],
            "no-such-driver",
        ),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(args.iter());
        a.extend(["busybox", "true"]);
        let se = fails(&d, &a);
        assert!(se.contains(want), "{args:?}: {se}");
    }
    let se = fails(&d, &["volume", "create", "-d", "no-such-driver", "v1"]);
    assert!(
        se.contains("volume driver \"no-such-driver\" not found"),
        "{se}"
    );
    let se = fails(&d, &["volume", "create", "-o", "colour=red", "v1"]);
    assert!(se.contains("invalid option key"), "{se}");
    let se = fails(&d, &["volume", "create", "bad/name"]);
    assert!(se.contains("invalid characters"), "{se}");
    let r = d.http("POST", "/volumes/create", b"{not json");
    assert_eq!(r.status, 400, "{}", r.text());
    // Nothing was left behind by the refusals.
    assert_eq!(ok(&d, &["volume", "ls", "-q"]), "");
    assert_eq!(ok(&d, &["ps", "-aq"]), "");
}

#[test]
fn local_driver_mounts_a_tmpfs_volume_on_demand() {
    let mut d = Daemon::start();
    d.load_busybox();
    ok(
        &d,
        &[
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "-o",
            "o=size=3m",
            "scratch",
        ],
    );
    let mp = d.http("GET", "/volumes/scratch", b"").json()["Mountpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let c1 = ok(
        &d,
        &["run", "-d", "-v", "scratch:/s", "busybox", "sleep", "100"],
    );
    let c1 = c1.trim().to_string();
    let got = ok(
        &d,
        &[
            "exec",
            &c1,
            "sh",
            "-c",
            "echo one > /s/f; df -k /s | tail -1 | awk '{print $2}'",
        ],
    );
    assert_eq!(got, "3072\n");
    assert!(
        pouch_mounted(&mp),
        "the tmpfs is mounted while the container runs"
    );
    // After a daemon restart the running user is adopted: a second user shares the same tmpfs,
    // and removing the first does not unmount it under the second.
    d.stop();
    d.spawn(&[]).unwrap();
    let c2 = ok(
        &d,
        &["run", "-d", "-v", "scratch:/s", "busybox", "sleep", "100"],
    );
    let c2 = c2.trim().to_string();
    assert_eq!(ok(&d, &["exec", &c2, "cat", "/s/f"]), "one\n");
    let listed = ok(
        &d,
        &["ps", "-q", "--no-trunc", "--filter", "volume=scratch"],
    );
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert_eq!(ok(&d, &["ps", "-q", "--filter", "volume=/nowhere"]), "");
    ok(&d, &["rm", "-f", &c1]);
    assert!(pouch_mounted(&mp), "still used by the second container");
    ok(&d, &["rm", "-f", &c2]);
    d.wait_for(10, "tmpfs volume unmounted", || !pouch_mounted(&mp));
    ok(&d, &["volume", "rm", "scratch"]);
}

fn pouch_mounted(p: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(p))
}

struct Plugin {
    child: Child,
    socket: PathBuf,
    data: PathBuf,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn start_plugin(d: &Daemon, name: &str) -> Plugin {
    std::fs::create_dir_all("/run/docker/plugins").unwrap();
    let socket = PathBuf::from(format!("/run/docker/plugins/{name}.sock"));
    let data = d.dir.path().join("plugin-data");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/volume-plugin.py");
    let child = Command::new("python3")
        .arg(script)
        .arg(&socket)
        .arg(&data)
        .spawn()
        .unwrap();
    let p = Plugin {
        child,
        socket,
        data,
    };
    d.wait_for(20, "volume plugin ready", || p.data.join("ready").exists());
    p
}

#[test]
fn volume_plugin_provides_a_mounted_volume() {
    let d = Daemon::start();
    d.load_busybox();
    let name = format!("pouchtest{}", std::process::id());
    let p = start_plugin(&d, &name);
    ok(&d, &["volume", "create", "-d", &name, "-o", "k=v", "pv"]);
    let id = ok(
        &d,
        &[
            "run",
            "-d",
            "-v",
            "pv:/pv",
            "busybox",
            "sh",
            "-c",
            "echo plugged > /pv/f; sleep 100",
        ],
    );
    let id = id.trim();
    let f = p.data.join("volumes/pv/f");
    d.wait_for(10, "file written through the plugin's volume", || {
        std::fs::read_to_string(&f).is_ok_and(|s| s == "plugged\n")
    });
    let v = d.http("GET", "/volumes/pv", b"").json();
    assert_eq!(v["Driver"], name.as_str());
    assert_eq!(v["Status"]["plugin"], "test");
    ok(&d, &["rm", "-f", id]);
    let se = fails(
        &d,
        &["volume", "create", "-d", &name, "-o", "fail=1", "pv2"],
    );
    assert!(se.contains("refusing to create pv2"), "{se}");
    ok(&d, &["volume", "rm", "pv"]);
    let calls = std::fs::read_to_string(p.data.join("calls.log")).unwrap();
    let kinds: Vec<&str> = calls
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    for want in [
        "Plugin.Activate",
        "VolumeDriver.Create",
        "VolumeDriver.Mount",
        "VolumeDriver.Unmount",
        "VolumeDriver.Remove",
    ] {
        assert!(kinds.contains(&want), "{want} missing in {calls}");
    }
    assert!(
        calls.contains(r#"VolumeDriver.Create {"Name": "pv", "Opts": {"k": "v"}}"#),
        "{calls}"
    );
    assert!(
        calls.contains(&format!(
            r#"VolumeDriver.Mount {{"ID": "{id}", "Name": "pv"}}"#
        )),
        "{calls}"
    );
}

#[test]
fn docker_cli_volume_commands() {
    let Some(d) = docker_daemon() else { return };
    assert_eq!(
        d.docker_ok(&["volume", "create", "--label", "x=1", "dv"]),
        "dv\n"
    );
    let ls = d.docker_ok(&["volume", "ls"]);
    assert_eq!(ls, "DRIVER    VOLUME NAME\nlocal     dv\n");
    let got = d.docker_ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Name}} {{.Driver}} {{.Labels.x}} {{.Scope}}",
        "dv",
    ]);
    assert_eq!(got, "dv local 1 local\n");
    d.docker_ok(&[
        "run",
        "--name",
        "dw",
        "-v",
        "dv:/data",
        "--mount",
        "type=tmpfs,dst=/tmp/t",
        "busybox",
        "sh",
        "-c",
        "echo d > /data/f",
    ]);
    let got = d.docker_ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}}:{{.RW}} {{end}}",
        "dw",
    ]);
    assert_eq!(got, "volume:dv:/data:true tmpfs::/tmp/t:true \n");
    let ps = d.docker_ok(&["ps", "-a", "--format", "{{.Mounts}}"]);
    // docker joins mount names (or sources): the tmpfs has neither.
    assert_eq!(ps, "dv,\n");
    d.docker_ok(&["rm", "dw"]);
    assert_eq!(
        d.docker_ok(&["run", "--rm", "-v", "dv:/data", "busybox", "cat", "/data/f"]),
        "d\n"
    );
    let (_, se, code) = out(&d.docker(&["volume", "rm", "nope"]));
    assert_eq!(code, Some(1));
    assert!(se.contains("no such volume"), "{se}");
    let pr = d.docker_ok(&["volume", "prune", "-af"]);
    assert!(pr.contains("dv"), "{pr}");
    assert_eq!(d.docker_ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn system_df_counts_images_containers_and_volumes() {
    let d = Daemon::start();
    d.load_busybox();
    ok(&d, &["volume", "create", "idle"]);
    ok(
        &d,
        &[
            "run",
            "--name",
            "writer",
            "-v",
            "used:/u",
            "busybox",
            "sh",
            "-c",
            "head -c 5000 /dev/zero > /u/f; head -c 3000 /dev/zero > /root-file",
        ],
    );
    let df = d.http("GET", "/system/df", b"").json();
    assert!(df["LayersSize"].as_i64().unwrap() > 1_000_000, "{df}");
    assert_eq!(df["Images"][0]["Containers"], 1);
    assert_eq!(df["Containers"][0]["SizeRw"], 3000);
    let vols = df["Volumes"].as_array().unwrap();
    let used = vols.iter().find(|v| v["Name"] == "used").unwrap();
    assert_eq!(
        used["UsageData"],
        serde_json::json!({"Size": 5000, "RefCount": 1})
    );
    let idle = vols.iter().find(|v| v["Name"] == "idle").unwrap();
    assert_eq!(idle["UsageData"]["RefCount"], 0);
    assert_eq!(
        d.http("GET", "/system/df?type=volume", b"").json()["Images"],
        serde_json::json!([])
    );
    let text = ok(
        &d,
        &[
            "system",
            "df",
            "--format",
            "{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}",
        ],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "Containers 1 0 3kB 3kB (100%)");
    assert_eq!(lines[2], "Local Volumes 2 1 5kB 0B (0%)");
    if have_docker() {
        let t = d.docker_ok(&["system", "df"]);
        assert!(
            t.contains("Local Volumes   2         1         5kB       0B (0%)"),
            "{t}"
        );
    }
    let pr = ok(&d, &["system", "prune", "-f", "--volumes"]);
    assert!(pr.contains("Deleted Containers:"), "{pr}");
    assert_eq!(ok(&d, &["ps", "-aq"]), "");
}
