//! youki's libcontainer, linked in. Init is a direct child of the shim (libcontainer clones it
//! with `CLONE_PARENT` from its intermediate process), so the shim reaps it itself.
//!
//! libcontainer changes process-wide state (`chdir` during create/start, non-dumpable,
//! `oom_score_adj`) and forks with raw `clone3`; all harmless here because the shim is
//! single-threaded and exists for this one container.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::oci_spec::runtime::{LinuxCapabilities, Process, Spec};
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use nix::sys::signal::SigSet;
use pouch_runtime::shim::ShimLaunch;

use super::seccomp::{self, Install};
use super::{CreateIo, Runtime};

pub struct Builtin {
    id: String,
    bundle: PathBuf,
    root: PathBuf,
    tty: bool,
    container: Option<Container>,
    facts: Option<BundleFacts>,
}

impl Builtin {
    pub fn new(l: &ShimLaunch) -> Builtin {
        Builtin {
            id: l.id.clone(),
            bundle: l.bundle.clone(),
            root: l.runtime_root.clone(),
            tty: l.tty,
            container: None,
            facts: None,
        }
    }

    fn container(&mut self) -> anyhow::Result<&mut Container> {
        self.container
            .as_mut()
            .ok_or_else(|| anyhow!("container {} was not created", self.id))
    }
}

/// libcontainer wraps an exec failure from the container's init in two layers of prose
/// ("failed to create container: exec process failed with error error in executing process :
/// executable 'x' not found in $PATH"); the innermost part is what users need to see.
fn concise(message: &str) -> &str {
    const MARKER: &str = "error in executing process : ";
    message
        .rfind(MARKER)
        .map_or(message, |i| &message[i + MARKER.len()..])
}

/// The default executor for the container's init, with the container's precompiled seccomp
/// filter installed right before execve (libcontainer is not given the profile, see
/// [`seccomp`]).
#[derive(Clone)]
struct Filtered(Install);

impl Executor for Filtered {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        self.0.run()?;
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// The default executor for exec'd processes, with three additions:
/// - every signal unblocked first: an exec'd process is created by the running shim, whose
///   supervised signals are blocked (they are read from a signalfd), and the mask would
///   otherwise survive into the process;
/// - the container's user namespace: libcontainer 0.7.0's tenants join every namespace of the
///   init process but the user namespace, so under `--userns-remap` an exec'd process would run
///   as real host root. The process is started as root and joins it here, then takes its user
///   and capabilities inside (see [`JoinUserns`]);
/// - the container's precompiled seccomp filter, last, right before execve.
#[derive(Clone, Default)]
struct Unmasked {
    seccomp: Option<Install>,
    userns: Option<JoinUserns>,
}

/// What an exec'd process of a user-namespaced container becomes after joining the namespace.
#[derive(Clone)]
struct JoinUserns {
    /// `/proc/<init>/ns/user`.
    path: PathBuf,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    caps: Option<LinuxCapabilities>,
}

impl JoinUserns {
    /// Joining as host root works because root owns the namespace (the kernel grants the owner
    /// every capability in it); the ids are then set inside it, and the capabilities trimmed
    /// to the process's set as the runtime would have (setns grants the full set).
    fn join(&self) -> Result<(), ExecutorError> {
        use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
        let err = |what: &str, e: &dyn std::fmt::Display| {
            ExecutorError::Other(format!(
                "joining the container's user namespace: {what}: {e}"
            ))
        };
        let ns = std::fs::File::open(&self.path).map_err(|e| err("open", &e))?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWUSER)
            .map_err(|e| err("setns", &e))?;
        nix::sys::prctl::set_keepcaps(true).map_err(|e| err("keepcaps", &e))?;
        let groups: Vec<Gid> = self.groups.iter().map(|g| Gid::from_raw(*g)).collect();
        setgroups(&groups).map_err(|e| err("setgroups", &e))?;
        let (g, u) = (Gid::from_raw(self.gid), Uid::from_raw(self.uid));
        setresgid(g, g, g).map_err(|e| err("setresgid", &e))?;
        setresuid(u, u, u).map_err(|e| err("setresuid", &e))?;
        nix::sys::prctl::set_keepcaps(false).map_err(|e| err("keepcaps", &e))?;
        if let Some(caps) = &self.caps {
            let sys = libcontainer::syscall::syscall::create_syscall();
            libcontainer::capabilities::reset_effective(&*sys).map_err(|e| err("caps", &e))?;
            libcontainer::capabilities::drop_privileges(caps, &*sys)
                .map_err(|e| err("caps", &e))?;
        }
        Ok(())
    }

    /// [`seccomp::lend_sys_admin`] for the capabilities the process takes inside the namespace,
    /// where it installs the filter.
    fn lend_sys_admin(&mut self, process: &serde_json::Value) -> bool {
        let Some(caps) = &self.caps else {
            // It keeps every capability setns granted.
            return false;
        };
        let mut p = serde_json::json!({
            "noNewPrivileges": process["noNewPrivileges"],
            "capabilities": caps,
        });
        if !seccomp::lend_sys_admin(&mut p) {
            return false;
        }
        match serde_json::from_value(p["capabilities"].take()) {
            Ok(lent) => {
                self.caps = Some(lent);
                true
            }
            Err(_) => false,
        }
    }
}

impl Executor for Unmasked {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        SigSet::all()
            .thread_unblock()
            .map_err(|e| ExecutorError::Other(format!("unblocking signals: {e}")))?;
        if let Some(u) = &self.userns {
            u.join()?;
        }
        if let Some(s) = &self.seccomp {
            s.run()?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// For a user-namespaced container: makes the exec's process run as root (so it can join the
/// namespace, see [`JoinUserns`]), and says what it becomes inside.
fn as_root_then_join(p: &mut Process, init: i32) -> JoinUserns {
    let user = p.user().clone();
    let join = JoinUserns {
        path: PathBuf::from(format!("/proc/{init}/ns/user")),
        uid: user.uid(),
        gid: user.gid(),
        groups: user.additional_gids().clone().unwrap_or_default(),
        caps: p.capabilities().clone(),
    };
    let mut root = user;
    root.set_uid(0).set_gid(0).set_additional_gids(None);
    p.set_user(root);
    join
}

/// What exec needs from the bundle's `config.json`, learnt at create (the bundle does not
/// change afterwards).
#[derive(Clone)]
struct BundleFacts {
    seccomp: Option<seccomp::Filter>,
    /// `Some(own pid namespace)` when the container runs in a user namespace of its own.
    userns: Option<bool>,
}

/// The bundle libcontainer creates the container from, what exec needs later, and what the
/// init's executor installs. A filtered container gets `<bundle>/builtin/config.json`: the
/// bundle's config without `linux.seccomp`, whose precompiled program the executor installs
/// instead (see [`seccomp`]); an unfiltered one is created from the bundle as it is.
fn prepare_bundle(
    bundle: &Path,
    cache: &seccomp::Cache,
) -> anyhow::Result<(PathBuf, BundleFacts, Option<Install>)> {
    let config_path = bundle.join("config.json");
    let raw = std::fs::read(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let mut v: serde_json::Value = serde_json::from_slice(&raw).context("parsing config.json")?;
    let ns = v["linux"]["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let userns = ns
        .iter()
        .any(|n| n["type"] == "user")
        .then(|| ns.iter().any(|n| n["type"] == "pid" && n["path"].is_null()));
    let install = seccomp::prepare(&mut v, cache)?;
    let facts = BundleFacts {
        seccomp: install.as_ref().map(|i| i.filter.clone()),
        userns,
    };
    let Some(install) = install else {
        return Ok((bundle.to_path_buf(), facts, None));
    };
    // libcontainer resolves a relative root against the bundle it is given.
    if let Some(root) = v["root"]["path"].as_str().filter(|r| !r.starts_with('/')) {
        v["root"]["path"] = bundle.join(root).to_string_lossy().into_owned().into();
    }
    // Private like the bundle's own config: the spec holds the container's environment.
    let dir = bundle.join("builtin");
    let path = dir.join("config.json");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
        })
        .and_then(|mut f| {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(&serde_json::to_vec(&v)?)
        })
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((dir, facts, Some(install)))
}

fn runtime_error(e: impl Into<anyhow::Error>) -> anyhow::Error {
    let chain = format!("{:#}", e.into());
    anyhow!("{}", concise(&chain))
}

impl Builtin {
    /// Starts `process` in the running container with `executor`.
    fn exec_tenant(
        &mut self,
        process: &Path,
        io: CreateIo,
        tty: bool,
        executor: Unmasked,
    ) -> anyhow::Result<i32> {
        let pid = self
            .builder(io)?
            .with_executor(executor)
            .validate_id()?
            .as_tenant()
            .with_process(Some(process))
            // As for create: in 0.7.0 this only gates the console socket.
            .with_detach(tty)
            .build()
            .map_err(runtime_error)?;
        Ok(pid.as_raw())
    }

    /// A builder for this container with the process's stdio and console socket wired in.
    fn builder(&self, io: CreateIo) -> anyhow::Result<ContainerBuilder> {
        let mut b = ContainerBuilder::new(self.id.clone(), SyscallType::default())
            .with_root_path(&self.root)?
            .with_console_socket(io.console_socket);
        if let Some(fd) = io.stdin {
            b = b.with_stdin(fd);
        }
        if let Some(fd) = io.stdout {
            b = b.with_stdout(fd);
        }
        if let Some(fd) = io.stderr {
            b = b.with_stderr(fd);
        }
        Ok(b)
    }
}

impl Runtime for Builtin {
    fn create(&mut self, io: CreateIo) -> anyhow::Result<i32> {
        let (bundle, facts, install) =
            prepare_bundle(&self.bundle, &seccomp::Cache::for_runtime_root(&self.root))?;
        self.facts = Some(facts);
        let mut builder = self.builder(io)?;
        if let Some(install) = install {
            builder = builder.with_executor(Filtered(install));
        }
        let container = builder
            .validate_id()?
            .as_init(&bundle)
            // Never the systemd cgroup driver: pouch writes absolute cgroupfs paths.
            .with_systemd(false)
            // In 0.7.0 this only gates the console socket, which a tty container needs.
            .with_detach(self.tty)
            .build()
            .map_err(runtime_error)?;
        let pid = container
            .pid()
            .ok_or_else(|| anyhow!("runtime reported no init pid"))?;
        self.container = Some(container);
        Ok(pid.as_raw())
    }

    fn start(&mut self) -> anyhow::Result<()> {
        Ok(self.container()?.start()?)
    }

    fn kill(&mut self, signal: i32, all: bool) -> anyhow::Result<()> {
        let signal = Signal::try_from(signal).map_err(|e| anyhow!("{e}"))?;
        Ok(self.container()?.kill(signal, all)?)
    }

    fn pause(&mut self) -> anyhow::Result<()> {
        Ok(self.container()?.pause()?)
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        Ok(self.container()?.resume()?)
    }

    fn exec(&mut self, process: &Path, io: CreateIo) -> anyhow::Result<i32> {
        let tty = io.console_socket.is_some();
        let BundleFacts { seccomp, userns } = self
            .facts
            .clone()
            .ok_or_else(|| anyhow!("container {} was not created", self.id))?;
        if seccomp.is_none() && userns.is_none() {
            return self.exec_tenant(process, io, tty, Unmasked::default());
        }
        // The process file is this exec's own (written for the runtime, removed after): it is
        // adjusted in place.
        let raw =
            std::fs::read(process).with_context(|| format!("reading {}", process.display()))?;
        let mut p: serde_json::Value =
            serde_json::from_slice(&raw).context("parsing the exec process")?;
        let mut join = None;
        if let Some(own_pid_ns) = userns {
            // The executor runs inside the container's pid namespace and /proc: there the
            // init is pid 1, unless the container shares the host's.
            let init = if own_pid_ns {
                1
            } else {
                self.container()?
                    .pid()
                    .ok_or_else(|| anyhow!("the container has no init process"))?
                    .as_raw()
            };
            let mut typed: Process =
                serde_json::from_value(p).context("parsing the exec process")?;
            join = Some(as_root_then_join(&mut typed, init));
            p = serde_json::to_value(&typed)?;
        }
        let seccomp = seccomp.map(|filter| {
            // Lent where the process takes its capabilities: inside the user namespace for a
            // remapped container, so the host-side root never holds it.
            let lent = match &mut join {
                Some(j) => j.lend_sys_admin(&p),
                None => seccomp::lend_sys_admin(&mut p),
            };
            Install { filter, lent }
        });
        std::fs::write(process, serde_json::to_vec(&p)?)
            .with_context(|| format!("writing {}", process.display()))?;
        let executor = Unmasked {
            seccomp,
            userns: join,
        };
        self.exec_tenant(process, io, tty, executor)
    }

    fn delete(&mut self) -> anyhow::Result<()> {
        let state_dir = self.root.join(&self.id);
        let container = match self.container.take() {
            Some(c) => Some(c),
            // After a failed create libcontainer normally cleans up itself; this catches a
            // state dir it left behind.
            None if state_dir.exists() => Some(
                Container::load(state_dir)
                    .with_context(|| format!("loading container {}", self.id))?,
            ),
            None => None,
        };
        if let Some(mut c) = container {
            c.delete(true)
                .with_context(|| format!("deleting container {}", self.id))?;
        }
        Ok(())
    }
}
