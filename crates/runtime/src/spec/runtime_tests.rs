//! Generated specs run through the real runc and crun (root on a cgroup v1 host): the container
//! gets Docker's capabilities, cannot raise its own memory or pids limits through
//! `/sys/fs/cgroup`, and sees the masked and read-only paths covered; a privileged container
//! gets every capability, the host's devices and writable cgroups. The embedded libcontainer is
//! exercised by the shim's tests; these pin the spec itself against the two reference runtimes.
//!
//! Each test skips, saying why, when it cannot run here (not root, no busybox, no runtime, not
//! cgroup v1, or crun refusing a hybrid host whose cgroup2 still holds a controller).

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{CgroupLayout, ContainerSpec, detect_cgroup_layout, generate, write_bundle};

const CGROUP_PARENT: &str = "pouch-spec-test";
const BUSYBOX: &str = "/bin/busybox";
const APPLETS: [&str; 9] = [
    "sh", "cat", "cut", "echo", "grep", "ls", "mkdir", "wc", "tr",
];
const MEMORY: i64 = 64 << 20;

/// Prints what it found so that a failure shows the container's own view.
const SCRIPT: &str = r#"exec 2>&1
grep CapEff /proc/self/status
if echo 268435456 > /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes; then echo MEMSW_WRITE=ok; else echo MEMSW_WRITE=failed; fi
if echo 268435456 > /sys/fs/cgroup/memory/memory.limit_in_bytes; then echo MEM_WRITE=ok; else echo MEM_WRITE=failed; fi
if echo max > /sys/fs/cgroup/pids/pids.max; then echo PIDS_WRITE=ok; else echo PIDS_WRITE=failed; fi
echo MEM=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
echo PIDS=$(cat /sys/fs/cgroup/pids/pids.max)
echo MEMSW=$(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes)
echo CGROUP_DIRS=$(ls /sys/fs/cgroup | tr '\n' ' ')
echo KCORE_BYTES=$(cat /proc/kcore | wc -c)
echo MOUNTPOINTS=$(cut -d' ' -f5 /proc/self/mountinfo | tr '\n' ' ')
grep ' /sys/fs/cgroup' /proc/self/mountinfo
exit 0
"#;

#[test]
fn runc_enforces_read_only_cgroups_and_docker_defaults() {
    check_defaults("runc");
}

#[test]
fn crun_enforces_read_only_cgroups_and_docker_defaults() {
    check_defaults("crun");
}

#[test]
fn runc_runs_a_privileged_container() {
    check_privileged("runc");
}

#[test]
fn crun_runs_a_privileged_container() {
    check_privileged("crun");
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// Removes the container's cgroup directories (and the shared parent once empty) in every
/// hierarchy, including `name=systemd` and cgroup2 where runc and crun also create them.
struct CgroupCleanup {
    leaf: String,
}

impl Drop for CgroupCleanup {
    fn drop(&mut self) {
        let Ok(entries) = fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for entry in entries.flatten() {
            let parent = entry.path().join(CGROUP_PARENT);
            let _ = fs::remove_dir(parent.join(&self.leaf));
            let _ = fs::remove_dir(&parent);
        }
    }
}

fn busybox_rootfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
    fs::set_permissions(
        rootfs.join("bin/busybox"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    for applet in APPLETS {
        symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    rootfs
}

/// Runs the runtime in the foreground with a deadline, so a hung container fails the test
/// instead of hanging it. Returns (success, combined output).
fn run_container(
    runtime: &Path,
    state: &Path,
    bundle: &Path,
    id: &str,
    out: &Path,
) -> (bool, String) {
    let log = fs::File::create(out).unwrap();
    let mut child = Command::new(runtime)
        .arg("--root")
        .arg(state)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = Command::new(runtime)
        .arg("--root")
        .arg(state)
        .args(["delete", "--force", id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let output = fs::read_to_string(out).unwrap_or_default();
    (status.is_some_and(|s| s.success()), output)
}

/// The container's output, or `None` (after saying why) when the test cannot run here.
/// `configure` adjusts the spec; the cgroup layout is the host's, limits are set by the caller.
fn run_in(
    name: &str,
    script: &str,
    configure: impl FnOnce(&mut ContainerSpec),
) -> Option<(ContainerSpec, oci_spec::runtime::Spec, String)> {
    let skip = |why: String| {
        eprintln!("skipping {name} test: {why}");
        None
    };
    if !nix::unistd::Uid::effective().is_root() {
        return skip("needs root".into());
    }
    let Some(runtime) = find_binary(name) else {
        return skip(format!(
            "{name} is not installed (apt-get install -y {name})"
        ));
    };
    if !Path::new(BUSYBOX).is_file() {
        return skip(format!(
            "{BUSYBOX} missing (apt-get install -y busybox-static)"
        ));
    }
    let layout = detect_cgroup_layout().unwrap();
    let CgroupLayout::V1 { controllers } = &layout else {
        return skip("the host uses cgroup v2; these tests cover the v1 mounts".into());
    };
    let has = |c: &str| {
        controllers
            .iter()
            .any(|(n, _)| n.split(',').any(|x| x == c))
    };
    if !has("memory") || !has("pids") {
        return skip("memory or pids controller not mounted".into());
    }

    let dir = tempfile::tempdir().unwrap();
    let id = format!("{name}-{}-{}", std::process::id(), unique());
    let _cleanup = CgroupCleanup { leaf: id.clone() };
    let bundle = dir.path().join("bundle");
    let state = dir.path().join("state");
    fs::create_dir_all(&bundle).unwrap();
    fs::create_dir_all(&state).unwrap();
    let mut c = ContainerSpec {
        id: id.clone(),
        rootfs: busybox_rootfs(dir.path()),
        args: vec!["sh".into(), "-c".into(), script.into()],
        hostname: "spec-test".into(),
        cgroups_path: format!("/{CGROUP_PARENT}/{id}"),
        cgroup_layout: layout.clone(),
        ..Default::default()
    };
    configure(&mut c);
    let spec = generate(&c).unwrap();
    write_bundle(&bundle, &spec).unwrap();

    let (ok, out) = run_container(&runtime, &state, &bundle, &id, &dir.path().join("out"));
    if !ok && name == "crun" && out.contains("hybrid mode") {
        return skip(format!(
            "crun refuses this hybrid layout while cgroup2 holds a controller \
             (mount it as v1, see shared/bench/setup-peers.sh): {}",
            out.trim()
        ));
    }
    assert!(ok, "{name} failed:\n{out}");
    eprintln!("{name} container output:\n{out}");
    Some((c, spec, out))
}

/// Distinguishes containers of concurrently running tests in one process.
fn unique() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn check_defaults(name: &str) {
    let Some((c, spec, out)) = run_in(name, SCRIPT, |c| {
        c.resources.memory = Some(MEMORY);
        c.resources.pids_limit = Some(20);
    }) else {
        return;
    };
    let CgroupLayout::V1 { controllers } = &c.cgroup_layout else {
        unreachable!("run_in only runs on cgroup v1");
    };
    let expect = |needle: &str| assert!(out.contains(needle), "{name}: no {needle:?} in:\n{out}");
    // Docker's 14 default capabilities.
    expect("CapEff:\t00000000a80425fb");
    // The limits cannot be raised from inside and stay what the spec says.
    expect("MEMSW_WRITE=failed");
    expect("MEM_WRITE=failed");
    expect("PIDS_WRITE=failed");
    expect("Read-only file system");
    expect(&format!("MEM={MEMORY}\n"));
    expect("PIDS=20\n");
    if controllers
        .iter()
        .any(|(n, mp)| n == "memory" && mp.join("memory.memsw.limit_in_bytes").exists())
    {
        // Docker's default: swap limit = twice the memory limit.
        expect(&format!("MEMSW={}\n", 2 * MEMORY));
    }
    // Every cgroup mount the container sees is read-only, including copies a runtime makes.
    let cgroup_mounts: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|m| m.starts_with("/sys/fs/cgroup/"))
        })
        .collect();
    assert!(
        !cgroup_mounts.is_empty(),
        "{name}: no cgroup mounts:\n{out}"
    );
    for line in cgroup_mounts {
        let options = line.split(' ').nth(5).unwrap_or_default();
        assert!(
            options.split(',').any(|o| o == "ro"),
            "{name}: writable: {line}"
        );
    }
    // /proc/kcore reads as nothing (masked, or absent from this kernel), and every masked or
    // read-only path that exists on this host is covered by a mount of its own.
    expect("KCORE_BYTES=0\n");
    let mount_points = out
        .lines()
        .find_map(|l| l.strip_prefix("MOUNTPOINTS="))
        .unwrap_or_default();
    let linux = spec.linux().as_ref().unwrap();
    let covered = linux
        .masked_paths()
        .iter()
        .chain(linux.readonly_paths())
        .flatten();
    for path in covered.filter(|p| Path::new(p).exists()) {
        assert!(
            mount_points.split(' ').any(|m| m == path),
            "{name}: {path} is not masked or read-only:\n{out}"
        );
    }
    // Only the managed controllers are visible, not the host's name=systemd root.
    let dirs = out
        .lines()
        .find_map(|l| l.strip_prefix("CGROUP_DIRS="))
        .unwrap_or_default();
    assert!(
        dirs.contains("memory") && dirs.contains("pids"),
        "{name}: {dirs}"
    );
    assert!(!dirs.contains("systemd"), "{name}: {dirs}");
}

/// All capabilities, every host device node, and writable cgroups, as Docker's `--privileged`.
fn check_privileged(name: &str) {
    let script = "exec 2>&1; grep CapEff /proc/self/status; \
                  echo NULL=$(ls /dev | grep -c '^null$'); \
                  if echo 30 > /sys/fs/cgroup/pids/pids.max; then echo PIDS_WRITE=ok; fi; \
                  echo PIDS=$(cat /sys/fs/cgroup/pids/pids.max)";
    let Some((_, _, out)) = run_in(name, script, |c| {
        c.privileged = true;
        c.resources.pids_limit = Some(20);
    }) else {
        return;
    };
    // Every capability this process may hand on, i.e. its own bounding set.
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim();
    let expected = format!("CapEff:\t{bounding}");
    assert!(
        out.contains(&expected),
        "{name}: no {expected:?} in:\n{out}"
    );
    assert!(out.contains("NULL=1"), "{name}:\n{out}");
    assert!(
        out.contains("PIDS_WRITE=ok") && out.contains("PIDS=30"),
        "{name}:\n{out}"
    );
}
