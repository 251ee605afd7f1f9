//! Test fixtures: a busybox bundle per test, launched through the real `pouch-shim` binary,
//! with cleanup of every process, cgroup and state dir a failed test could leave behind.
#![allow(dead_code)] // each test binary uses a different subset

pub mod cases;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pouch_runtime::shim::{self, RuntimeChoice, ShimClient, ShimLaunch};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Where test cgroups live. Leaves go with each test; the shared parent goes with the last
/// test of the binary that is still running (see [`LIVE_ENVS`]).
pub const CGROUP_PARENT: &str = "pouch-test";
/// Environments alive in this test binary; removing the parent cgroup while another test is
/// creating its leaf under it would make that test flaky.
static LIVE_ENVS: Mutex<usize> = Mutex::new(0);
const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "true", "false", "stty", "dd", "head", "tty", "ls", "mkdir",
];

/// Why the privileged tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root".into());
    }
    if !Path::new(BUSYBOX).exists() {
        return Some(format!(
            "{BUSYBOX} missing (apt-get install busybox-static)"
        ));
    }
    None
}

/// Skips the calling test (with the reason on stderr) when it cannot run here.
#[macro_export]
macro_rules! require_env {
    () => {
        if let Some(reason) = common::skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}

/// Options for one test container.
#[derive(Clone, Default)]
pub struct Opts {
    pub tty: bool,
    pub stdin: bool,
    /// Leave out the pid namespace (so init can be killed by SIGTERM, which the kernel does not
    /// deliver to a pid namespace's init without a handler).
    pub no_pid_ns: bool,
    pub memory_limit: Option<u64>,
    /// `linux.seccomp`.
    pub seccomp: Option<Value>,
    /// Leave out `noNewPrivileges: true` (Docker's default: no_new_privs only when asked).
    pub new_privileges: bool,
}

/// One container's bundle, state dir and runtime root, all in a temp dir.
pub struct Env {
    pub dir: TempDir,
    pub id: String,
    pub launch: ShimLaunch,
}

pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Env {
    pub fn new(runtime: RuntimeChoice, args: &[&str], opts: Opts) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("pshim")
            .tempdir_in("/tmp")
            .unwrap();
        *LIVE_ENVS.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let id = random_id();
        let bundle = dir.path().join("bundle");
        let rootfs = bundle.join("rootfs");
        make_rootfs(&rootfs);
        let config = config_json(&rootfs, &id, args, &opts);
        fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        let rt_name = match &runtime {
            RuntimeChoice::Builtin => "builtin".to_owned(),
            RuntimeChoice::External { name, .. } => name.clone(),
        };
        let launch = ShimLaunch {
            shim_binary: env!("CARGO_BIN_EXE_pouch-shim").into(),
            id: id.clone(),
            bundle,
            state_dir: dir.path().join("containers").join(&id),
            log_path: dir.path().join("logs").join(format!("{id}-json.log")),
            log_max_size: None,
            log_max_files: 1,
            runtime,
            runtime_root: dir.path().join("runtime").join(rt_name),
            stdin: opts.stdin,
            tty: opts.tty,
        };
        Env { dir, id, launch }
    }

    pub async fn launch(&self) -> shim::Result<ShimClient> {
        shim::launch(&self.launch).await
    }

    pub fn state_dir(&self) -> &Path {
        &self.launch.state_dir
    }

    /// The json-file log's entries.
    pub fn log(&self) -> Vec<Value> {
        fs::read_to_string(&self.launch.log_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("log line is JSON"))
            .collect()
    }

    /// `(log, stream)` of every log entry.
    pub fn log_lines(&self) -> Vec<(String, String)> {
        self.log()
            .iter()
            .map(|v| {
                (
                    v["log"].as_str().unwrap().to_owned(),
                    v["stream"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The container's leaf in the v1 hierarchy of `controller`.
    pub fn cgroup_dir(&self, controller: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(CGROUP_PARENT)
            .join(&self.id)
    }

    /// Nothing of the container is left: no cgroup leaf, no runtime state, no shim.
    pub fn assert_cleaned_up(&self) {
        for c in ["memory", "pids", "cpu", "freezer", "devices"] {
            let d = self.cgroup_dir(c);
            assert!(!d.exists(), "cgroup left behind: {}", d.display());
        }
        let rt_state = self.launch.runtime_root.join(&self.id);
        assert!(
            !rt_state.exists(),
            "runtime state left: {}",
            rt_state.display()
        );
        assert_eq!(shim::shim_pid(self.state_dir()), None, "shim still alive");
        assert!(!self.state_dir().join("shim.sock").exists());
        assert!(!self.state_dir().join("shim.pid").exists());
    }

    /// Waits (up to 10 s) for the shim to exit.
    pub fn wait_shim_gone(&self) {
        let pid = fs::read_to_string(self.state_dir().join("shim.pid")).ok();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let alive = pid
                .as_deref()
                .map(|p| Path::new(&format!("/proc/{}", p.trim())).exists())
                .unwrap_or(false)
                && shim::shim_pid(self.state_dir()).is_some();
            if !alive {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("shim did not exit");
    }
}

impl Drop for Env {
    /// Kills whatever a failed test left running, then removes cgroup leaves and state.
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        if let Some(pid) = shim::shim_pid(self.state_dir()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let procs =
            fs::read_to_string(self.cgroup_dir("pids").join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse().ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let freezer = self.cgroup_dir("freezer").join("freezer.state");
        let _ = fs::write(freezer, "THAWED");
        let mut live = LIVE_ENVS.lock().unwrap_or_else(|e| e.into_inner());
        *live -= 1;
        let Ok(entries) = fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for e in entries.flatten() {
            let parent = e.path().join(CGROUP_PARENT);
            let leaf = parent.join(&self.id);
            for _ in 0..50 {
                if !leaf.exists() || fs::remove_dir(&leaf).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if *live == 0 {
                let _ = fs::remove_dir(&parent);
            }
        }
    }
}

fn make_rootfs(rootfs: &Path) {
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
    for applet in APPLETS {
        symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
    fs::write(rootfs.join("etc/group"), "root:x:0:\ntty:x:5:\n").unwrap();
}

fn config_json(rootfs: &Path, id: &str, args: &[&str], opts: &Opts) -> Value {
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_NET_BIND_SERVICE",
        "CAP_AUDIT_WRITE"
    ]);
    let mut namespaces = vec![
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "network"}),
    ];
    if !opts.no_pid_ns {
        namespaces.insert(0, json!({"type": "pid"}));
    }
    let mut resources = json!({"devices": [{"allow": false, "access": "rwm"}]});
    if let Some(limit) = opts.memory_limit {
        resources["memory"] = json!({"limit": limit, "swap": limit});
    }
    let mut config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": opts.tty,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": rootfs, "readonly": false},
        "hostname": "shimtest",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": format!("/{CGROUP_PARENT}/{id}"),
            "resources": resources,
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if let Some(seccomp) = &opts.seccomp {
        config["linux"]["seccomp"] = seccomp.clone();
    }
    if opts.new_privileges {
        config["process"]
            .as_object_mut()
            .unwrap()
            .remove("noNewPrivileges");
    }
    config
}

/// `CapEff` of a root process holding the capabilities of every test container.
pub const CONFIG_CAPS_HEX: &str = "00000000200004eb";

/// A profile in OCI form that allows everything but mkdir, which answers EACCES.
pub fn deny_mkdir_profile() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
    })
}

/// The value of `field` in a `/proc/<pid>/status` text.
pub fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .trim()
        .to_string()
}

/// An external runtime binary if it is installed and usable on this host, else why not.
pub fn external(name: &str) -> Result<RuntimeChoice, String> {
    let path = ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .ok_or_else(|| format!("{name} not installed (apt-get install {name})"))?;
    if name == "crun" {
        // crun refuses a hybrid layout whose cgroup2 mount still holds controllers.
        let v2 =
            fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers").unwrap_or_default();
        if !v2.trim().is_empty() && Path::new("/sys/fs/cgroup/memory").exists() {
            return Err(format!(
                "crun rejects this hybrid cgroup layout (cgroup2 holds: {}); \
                 see shared/bench/setup-peers.sh",
                v2.trim()
            ));
        }
    }
    Ok(RuntimeChoice::External {
        name: name.into(),
        path,
        args: Vec::new(),
    })
}
