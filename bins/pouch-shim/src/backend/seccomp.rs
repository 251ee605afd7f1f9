//! Seccomp for the embedded runtime, compiled once per profile instead of once per process.
//!
//! Handed `linux.seccomp`, libcontainer 0.7.0 compiles it with libseccomp in every process it
//! starts — the container's init and each exec'd process — 14–22 ms for Docker's default
//! profile each time. Instead, the builtin backend compiles a profile once into the BPF
//! program libseccomp would load (`seccomp_export_bpf` runs the same generator as
//! `seccomp_load`, the architecture check included), keeps it in a cache under the exec root
//! named by a digest of the profile, and installs it from the executor, right before
//! execve. libcontainer is given a copy of the config without `linux.seccomp` (see
//! [`prepare`]); runc and crun still read the profile from the bundle.
//!
//! Compiled here rather than in pouchd: the shim links libseccomp already (libcontainer needs
//! it) and pouchd does not; only this runtime needs a program; and a cache hit costs one
//! SHA-256 of the profile and one small file read, far below a millisecond.
//!
//! The filter is installed after libcontainer has dropped the process's capabilities, where the
//! kernel takes a filter only from a process with no_new_privs or `CAP_SYS_ADMIN`. Setting
//! no_new_privs would show in the container (`NoNewPrivs: 1`, which Docker sets only when
//! asked), so a process that neither asked for it nor keeps `CAP_SYS_ADMIN` has the capability
//! lent in its effective and permitted sets, and the executor drops it again right after
//! installing the filter: what execve then sees is exactly the container's sets, as with runc,
//! which loads the filter before dropping capabilities.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{Context, anyhow, bail};
use libcontainer::oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use libcontainer::workload::ExecutorError;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use pouch_sys::seccomp::{Program, flags};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// First bytes of a cache file; a new layout gets a new tag (and a new digest, see [`key`]).
const MAGIC: &[u8; 8] = b"pouchbpf";
const CHECKSUM_LEN: usize = 32;
const SYS_ADMIN: &str = "CAP_SYS_ADMIN";

/// A compiled filter, ready to install.
#[derive(Clone, Debug)]
pub struct Filter {
    program: Rc<Program>,
    /// `SECCOMP_FILTER_FLAG_*` from the profile's `flags`.
    flags: u32,
}

/// Where a program came from, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Compiled,
}

/// What the executor of one process installs.
#[derive(Clone, Debug)]
pub struct Install {
    pub filter: Filter,
    /// `CAP_SYS_ADMIN` was lent to the process to install the filter: drop it afterwards.
    pub lent: bool,
}

impl Install {
    /// Installs the filter into the calling process, which is about to execve, then gives back
    /// a lent `CAP_SYS_ADMIN` (effective first: it must stay a subset of permitted).
    pub fn run(&self) -> Result<(), ExecutorError> {
        let err =
            |what: &str, e: &dyn std::fmt::Display| ExecutorError::Other(format!("{what}: {e}"));
        self.filter
            .program
            .install(self.filter.flags)
            .map_err(|e| err("installing the seccomp filter", &e))?;
        if self.lent {
            for set in [caps::CapSet::Effective, caps::CapSet::Permitted] {
                caps::drop(None, set, caps::Capability::CAP_SYS_ADMIN)
                    .map_err(|e| err("dropping CAP_SYS_ADMIN after the seccomp filter", &e))?;
            }
        }
        Ok(())
    }
}

/// Compiled programs on disk, one file per profile digest.
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    /// The daemon's cache, `<exec-root>/seccomp`, found from the runtime's state root
    /// (`<exec-root>/runtime/<name>`): shared by every container and runtime of the daemon,
    /// and kept out of the runtime's state root, whose entries are containers.
    pub fn for_runtime_root(runtime_root: &Path) -> Cache {
        let dir = match runtime_root.parent().and_then(Path::parent) {
            Some(exec_root) => exec_root.join("seccomp"),
            None => runtime_root.join("seccomp"),
        };
        Cache::new(dir)
    }

    /// The filter for `profile` (an OCI `linux.seccomp`): from the cache, or compiled and
    /// stored there. A damaged or unwritable cache costs a compilation, never the container.
    pub fn filter(&self, profile: &Value) -> anyhow::Result<(Filter, Origin)> {
        let flags = load_flags(profile)?;
        let raw = serde_json::to_vec(profile)?;
        let path = self.dir.join(format!("{}.bpf", key(&raw)));
        if let Some(program) = read_cached(&path) {
            return Ok((Filter::new(program, flags), Origin::Cache));
        }
        let parsed: LinuxSeccomp = serde_json::from_slice(&raw).context("parsing linux.seccomp")?;
        let bytes = compile(&parsed)?;
        let program = Program::from_bytes(&bytes).context("libseccomp's program")?;
        if let Err(e) = self.store(&path, &bytes) {
            tracing::warn!(
                "cannot cache the seccomp program in {}: {e:#}",
                path.display()
            );
        }
        Ok((Filter::new(program, flags), Origin::Compiled))
    }

    /// Writes `path` whole or not at all (temp file, rename). No fsync: the cache lives under
    /// the exec root (normally a tmpfs), and a file torn by a crash fails its checksum and is
    /// compiled again.
    fn store(&self, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(MAGIC)?;
                f.write_all(&Sha256::digest(bytes))?;
                f.write_all(bytes)
            })
            .and_then(|()| fs::rename(&tmp, path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.with_context(|| format!("writing {}", path.display()))
    }
}

impl Filter {
    fn new(program: Program, flags: u32) -> Filter {
        Filter {
            program: Rc::new(program),
            flags,
        }
    }

    /// Instructions of the program.
    #[cfg(test)]
    pub fn program(&self) -> &Program {
        &self.program
    }
}

/// The cache key: SHA-256 of the profile and of everything else the program depends on — the
/// cache layout, the libseccomp that compiles it and the kernel API level it detected, the
/// architecture.
fn key(profile: &[u8]) -> String {
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let mut h = Sha256::new();
    for part in [
        &MAGIC[..],
        version.as_bytes(),
        &libseccomp::get_api().to_le_bytes(),
        std::env::consts::ARCH.as_bytes(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(profile);
    format!("{:x}", h.finalize())
}

/// The cached program at `path`, unless it is missing or damaged.
fn read_cached(path: &Path) -> Option<Program> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!("reading {}: {e}", path.display());
            return None;
        }
    };
    let header = MAGIC.len() + CHECKSUM_LEN;
    let checked = data.len() > header
        && data.starts_with(MAGIC)
        && data[MAGIC.len()..header] == Sha256::digest(&data[header..])[..];
    match checked.then(|| Program::from_bytes(&data[header..])) {
        Some(Ok(p)) => Some(p),
        _ => {
            tracing::warn!("ignoring damaged seccomp cache file {}", path.display());
            None
        }
    }
}

/// `SECCOMP_FILTER_FLAG_*` for the profile's `flags`, which are load options and not part of
/// the program. `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` only qualifies a notify listener,
/// which pouch never asks for, so it changes nothing.
fn load_flags(profile: &Value) -> anyhow::Result<u32> {
    let mut out = 0;
    for f in profile["flags"].as_array().into_iter().flatten() {
        let flag: LinuxSeccompFilterFlag =
            serde_json::from_value(f.clone()).context("parsing linux.seccomp.flags")?;
        out |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => flags::LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => flags::TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => flags::SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    Ok(out)
}

/// Takes `linux.seccomp` out of `config` (the bundle's config.json) and returns its filter,
/// lending `CAP_SYS_ADMIN` to the process when it needs it to install the filter (see the
/// module doc). `None`, and `config` unchanged, when the container runs unfiltered.
pub fn prepare(config: &mut Value, cache: &Cache) -> anyhow::Result<Option<Install>> {
    let profile = match config.pointer_mut("/linux/seccomp").map(Value::take) {
        None | Some(Value::Null) => return Ok(None),
        Some(p) => p,
    };
    if let Some(linux) = config["linux"].as_object_mut() {
        linux.remove("seccomp");
    }
    let (filter, origin) = cache.filter(&profile)?;
    tracing::debug!(
        ?origin,
        instructions = filter.program.len(),
        "seccomp program"
    );
    let lent = config.get_mut("process").is_some_and(lend_sys_admin);
    Ok(Some(Install { filter, lent }))
}

/// Adds `CAP_SYS_ADMIN` to the effective and permitted sets of an OCI `process` that has
/// neither it nor no_new_privs, so that it can install a seccomp filter after the runtime
/// applied these sets; says whether it did. The bounding, inheritable and ambient sets are left
/// alone, so the capability could not survive execve even if it were not dropped.
pub fn lend_sys_admin(process: &mut Value) -> bool {
    if process["noNewPrivileges"] == Value::Bool(true) {
        return false;
    }
    let Some(caps) = process
        .get_mut("capabilities")
        .and_then(Value::as_object_mut)
    else {
        // The runtime keeps every capability.
        return false;
    };
    let Some(Value::Array(effective)) = caps.get_mut("effective") else {
        return false;
    };
    if effective.iter().any(|c| c == SYS_ADMIN) {
        return false;
    }
    effective.push(SYS_ADMIN.into());
    if let Some(Value::Array(permitted)) = caps.get_mut("permitted")
        && !permitted.iter().any(|c| c == SYS_ADMIN)
    {
        permitted.push(SYS_ADMIN.into());
    }
    true
}

/// Compiles `s` as libcontainer 0.7.0's `seccomp::initialize_seccomp` does (same actions,
/// errno defaults, skipped rules and per-argument splitting), exporting the program instead
/// of loading it.
fn compile(s: &LinuxSeccomp) -> anyhow::Result<Vec<u8>> {
    let notify = |a: LinuxSeccompAction| a == LinuxSeccompAction::ScmpActNotify;
    if notify(s.default_action()) || s.syscalls().iter().flatten().any(|r| notify(r.action())) {
        bail!("SCMP_ACT_NOTIFY needs a seccomp listener, which pouch does not provide");
    }
    let default = action(s.default_action(), s.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).context("creating the seccomp filter")?;
    for &a in s.architectures().iter().flatten() {
        ctx.add_arch(arch(a))
            .with_context(|| format!("adding architecture {a:?}"))?;
    }
    for rule in s.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            // Redundant, and libseccomp refuses a rule with the default action.
            continue;
        }
        for name in rule.names() {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                // Unknown to this libseccomp: the kernel most likely lacks it too.
                tracing::debug!("seccomp: skipping unknown syscall {name}");
                continue;
            };
            let add = |ctx: &mut ScmpFilterContext, cmp: &[ScmpArgCompare]| {
                if cmp.is_empty() {
                    ctx.add_rule(act, nr)
                } else {
                    ctx.add_rule_conditional(act, nr, cmp)
                }
                .map(|_| ())
                .with_context(|| format!("adding the seccomp rule for {name}"))
            };
            let cmps: Vec<ScmpArgCompare> = rule
                .args()
                .iter()
                .flatten()
                .map(|a| {
                    ScmpArgCompare::new(a.index() as u32, op(a.op(), a.value_two()), a.value())
                })
                .collect();
            let mut indexes: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
            indexes.sort_unstable();
            indexes.dedup();
            if indexes.len() < cmps.len() {
                // libseccomp compares each argument once per rule: one rule per comparison.
                for c in &cmps {
                    add(&mut ctx, std::slice::from_ref(c))?;
                }
            } else {
                add(&mut ctx, &cmps)?;
            }
        }
    }
    let mut out = fs::File::from(
        nix::sys::memfd::memfd_create(
            c"pouch-seccomp",
            nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
        )
        .context("memfd_create")?,
    );
    ctx.export_bpf(&out)
        .context("exporting the seccomp program")?;
    let mut bytes = Vec::new();
    out.rewind()
        .and_then(|_| out.read_to_end(&mut bytes))
        .context("reading the exported seccomp program")?;
    Ok(bytes)
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> anyhow::Result<ScmpAction> {
    let errno = errno.map_or(libc::EPERM, |e| e as i32);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(errno)
                .map_err(|_| anyhow!("SCMP_ACT_TRACE value {errno} is out of range"))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn op(o: LinuxSeccompOperator, value_two: Option<u64>) -> ScmpCompareOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use pouch_runtime::spec::{Seccomp, default_capabilities};
    use serde_json::json;

    use super::*;

    /// Docker's default profile for a default container, as pouchd writes it into config.json.
    fn docker_default() -> Value {
        let s = Seccomp::Builtin
            .to_oci(false, &default_capabilities())
            .unwrap()
            .unwrap();
        serde_json::to_value(s).unwrap()
    }

    /// Everything allowed but getcwd(2), which answers EAGAIN (an errno getcwd never gives on
    /// its own).
    fn deny_getcwd() -> Value {
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EAGAIN}],
        })
    }

    fn cache_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir.join("seccomp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_profile_is_compiled_once_and_then_read_from_the_cache() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::new(root.path().join("seccomp"));
        let profile = docker_default();
        let (first, origin) = cache.filter(&profile).unwrap();
        assert_eq!(origin, Origin::Compiled);
        let files = cache_files(root.path());
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].ends_with(".bpf"), "{files:?}");
        let path = root.path().join("seccomp").join(&files[0]);
        let before = fs::metadata(&path).unwrap();

        let (second, origin) = cache.filter(&profile).unwrap();
        assert_eq!(origin, Origin::Cache);
        assert_eq!(second.program().to_bytes(), first.program().to_bytes());
        let after = fs::metadata(&path).unwrap();
        assert_eq!(
            (after.ino(), after.mtime(), after.mtime_nsec()),
            (before.ino(), before.mtime(), before.mtime_nsec()),
            "the cache file was written again"
        );

        // Another profile (here: the same one for a container with CAP_SYS_ADMIN) has its own.
        let mut caps = default_capabilities();
        caps.push("CAP_SYS_ADMIN".into());
        let admin = Seccomp::Builtin.to_oci(false, &caps).unwrap().unwrap();
        let (_, origin) = cache.filter(&serde_json::to_value(admin).unwrap()).unwrap();
        assert_eq!(origin, Origin::Compiled);
        assert_eq!(cache_files(root.path()).len(), 2);

        // A damaged file is compiled again, and replaced.
        let mut data = fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        fs::write(&path, &data).unwrap();
        let (third, origin) = cache.filter(&profile).unwrap();
        assert_eq!(origin, Origin::Compiled);
        assert_eq!(third.program().to_bytes(), first.program().to_bytes());
        assert_eq!(cache.filter(&profile).unwrap().1, Origin::Cache);
        assert_eq!(cache_files(root.path()).len(), 2, "temp files left behind");
    }

    #[test]
    fn the_cache_is_the_exec_roots() {
        let c = Cache::for_runtime_root(Path::new("/run/pouch/runtime/builtin"));
        assert_eq!(c.dir, Path::new("/run/pouch/seccomp"));
    }

    #[test]
    fn an_unwritable_cache_still_gives_the_filter() {
        let root = tempfile::tempdir().unwrap();
        // The cache directory's place is taken by a file.
        fs::write(root.path().join("seccomp"), "").unwrap();
        let cache = Cache::new(root.path().join("seccomp"));
        for _ in 0..2 {
            let (f, origin) = cache.filter(&deny_getcwd()).unwrap();
            assert_eq!(origin, Origin::Compiled);
            assert!(f.program().len() > 3);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn programs_check_the_architecture_first() {
        let root = tempfile::tempdir().unwrap();
        let (f, _) = Cache::new(root.path().join("seccomp"))
            .filter(&docker_default())
            .unwrap();
        let insns: Vec<_> = f.program().instructions().collect();
        // ld [4]: seccomp_data.arch, before any syscall number is looked at.
        assert_eq!(insns[0], (0x20, 0, 0, 4));
        let compares = |arch: u32| {
            insns
                .iter()
                .any(|&(code, _, _, k)| code == 0x15 && k == arch)
        };
        assert!(compares(0xc000_003e), "AUDIT_ARCH_X86_64");
        assert!(
            compares(0x4000_0003),
            "AUDIT_ARCH_I386 (the profile lists SCMP_ARCH_X86)"
        );
        assert!(insns.len() > 100, "{} instructions", insns.len());
    }

    #[test]
    fn profiles_the_runtime_cannot_honour_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::new(root.path().join("seccomp"));
        let notify = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
        });
        let e = cache.filter(&notify).unwrap_err();
        assert!(format!("{e:#}").contains("SCMP_ACT_NOTIFY"), "{e:#}");
        let bad_flag =
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]});
        assert!(cache.filter(&bad_flag).is_err());
        let flagged = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        });
        let (f, _) = cache.filter(&flagged).unwrap();
        assert_eq!(f.flags, flags::LOG | flags::SPEC_ALLOW);
    }

    fn root_process() -> Value {
        let caps = json!(["CAP_CHOWN", "CAP_KILL"]);
        json!({
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps,
                             "inheritable": [], "ambient": []},
        })
    }

    #[test]
    fn sys_admin_is_lent_only_where_it_is_needed() {
        let mut p = root_process();
        assert!(lend_sys_admin(&mut p));
        let caps = &p["capabilities"];
        for (set, want) in [
            ("effective", true),
            ("permitted", true),
            ("bounding", false),
            ("inheritable", false),
            ("ambient", false),
        ] {
            let has = caps[set].as_array().unwrap().iter().any(|c| c == SYS_ADMIN);
            assert_eq!(has, want, "{set}: {caps}");
        }
        // Lending twice adds nothing.
        assert!(!lend_sys_admin(&mut p));
        assert_eq!(p["capabilities"]["effective"].as_array().unwrap().len(), 3);

        // no_new_privs lets the process install the filter by itself.
        let mut p = root_process();
        p["noNewPrivileges"] = json!(true);
        assert!(!lend_sys_admin(&mut p));
        // Explicitly false does not.
        p["noNewPrivileges"] = json!(false);
        assert!(lend_sys_admin(&mut p));
        // A non-root user with no capabilities at all.
        let mut p =
            json!({"capabilities": {"bounding": ["CAP_KILL"], "effective": [], "permitted": []}});
        assert!(lend_sys_admin(&mut p));
        assert_eq!(p["capabilities"]["permitted"], json!([SYS_ADMIN]));
        // A process the runtime leaves every capability.
        assert!(!lend_sys_admin(&mut json!({"user": {"uid": 0}})));
    }

    #[test]
    fn prepare_takes_the_profile_out_of_the_config() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::new(root.path().join("seccomp"));
        let mut config = json!({
            "process": root_process(),
            "linux": {"seccomp": deny_getcwd(), "namespaces": [{"type": "pid"}]},
        });
        let install = prepare(&mut config, &cache).unwrap().unwrap();
        assert!(install.lent);
        assert_eq!(config["linux"], json!({"namespaces": [{"type": "pid"}]}));
        assert!(
            config["process"]["capabilities"]["effective"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == SYS_ADMIN)
        );
        // Unfiltered: nothing to do, nothing changed.
        let mut config = json!({"process": root_process(), "linux": {}});
        let before = config.clone();
        assert!(prepare(&mut config, &cache).unwrap().is_none());
        assert_eq!(config, before);
    }

    /// Runs `checks` in a forked child (a filter cannot be removed again): each names what it
    /// checked and whether it held.
    fn in_child(checks: impl FnOnce() -> Vec<(&'static str, bool)> + std::panic::UnwindSafe) {
        libcontainer::test_utils::test_in_child_process(|| {
            let failed: Vec<&str> = checks()
                .into_iter()
                .filter(|(_, ok)| !ok)
                .map(|(what, _)| what)
                .collect();
            if failed.is_empty() {
                Ok(())
            } else {
                Err(format!("failed in the child: {failed:?}").into())
            }
        })
        .unwrap();
    }

    fn getcwd_errno() -> Option<nix::errno::Errno> {
        nix::unistd::getcwd().err()
    }

    #[test]
    fn an_installed_filter_filters_the_process() {
        let root = tempfile::tempdir().unwrap();
        let (filter, _) = Cache::new(root.path().join("seccomp"))
            .filter(&deny_getcwd())
            .unwrap();
        let install = Install {
            filter,
            lent: false,
        };
        in_child(move || {
            vec![
                ("no_new_privs", nix::sys::prctl::set_no_new_privs().is_ok()),
                ("install", install.run().is_ok()),
                ("getcwd", getcwd_errno() == Some(nix::errno::Errno::EAGAIN)),
                ("Seccomp", status_field("Seccomp") == "2"),
                ("Seccomp_filters", status_field("Seccomp_filters") == "1"),
            ]
        });
        assert!(getcwd_errno().is_none(), "the test process was filtered");
    }

    fn status_field(name: &str) -> String {
        fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{name}:"))
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_default()
    }

    /// What the init of a default container goes through: capabilities already dropped to a set
    /// with a lent CAP_SYS_ADMIN, no no_new_privs; afterwards the filter is in, the capability
    /// gone and no_new_privs still unset.
    #[test]
    fn a_lent_capability_is_given_back_after_installing() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root (CAP_SYS_ADMIN)");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let (filter, _) = Cache::new(root.path().join("seccomp"))
            .filter(&deny_getcwd())
            .unwrap();
        let install = Install { filter, lent: true };
        use caps::{CapSet, Capability};
        in_child(move || {
            let lent: caps::CapsHashSet = [Capability::CAP_KILL, Capability::CAP_SYS_ADMIN].into();
            let kill: caps::CapsHashSet = [Capability::CAP_KILL].into();
            let dropped = caps::set(None, CapSet::Effective, &lent)
                .and_then(|()| caps::set(None, CapSet::Permitted, &lent))
                .is_ok();
            vec![
                ("drop to the lent set", dropped),
                ("install", install.run().is_ok()),
                ("getcwd", getcwd_errno() == Some(nix::errno::Errno::EAGAIN)),
                (
                    "effective",
                    caps::read(None, CapSet::Effective).ok() == Some(kill.clone()),
                ),
                (
                    "permitted",
                    caps::read(None, CapSet::Permitted).ok() == Some(kill),
                ),
                ("NoNewPrivs", status_field("NoNewPrivs") == "0"),
                ("Seccomp_filters", status_field("Seccomp_filters") == "1"),
            ]
        });
    }
}
