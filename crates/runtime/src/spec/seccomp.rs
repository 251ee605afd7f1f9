//! Seccomp: Docker's default profile, profiles in Docker's format (`--security-opt
//! seccomp=<file>`), and their conversion to OCI `linux.seccomp` for this machine.
//!
//! The default profile is moby's `profiles/seccomp/default.json` (Apache-2.0), kept as data in
//! `seccomp_default.json`. Conversion follows moby's `profiles/seccomp` `setupSeccomp`: only the
//! native architecture's `archMap` entry is used, and a rule applies when its `includes`
//! (architectures, capabilities, minimum kernel) hold and its `excludes` do not, so that, for
//! example, `unshare` and `mount` are allowed only with `CAP_SYS_ADMIN`, and `clone3` answers
//! ENOSYS without it (libc falls back to `clone`, whose namespace flags are then filtered).

use oci_spec::runtime::LinuxSeccomp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::SpecError;

/// Docker's default profile, as Docker ships it.
const DEFAULT_PROFILE: &str = include_str!("seccomp_default.json");

/// Which seccomp filter a container runs under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// Docker's default profile (none at all for a privileged container, as with Docker).
    #[default]
    Builtin,
    /// `--security-opt seccomp=unconfined`.
    Unconfined,
    /// A profile in Docker's JSON format; applies to privileged containers too.
    Profile(String),
}

impl Seccomp {
    /// The OCI `linux.seccomp` this mode gives a container holding `caps`, as the spec
    /// generator writes it; `None` when the container runs unfiltered.
    pub fn to_oci(
        &self,
        privileged: bool,
        caps: &[String],
    ) -> Result<Option<LinuxSeccomp>, SpecError> {
        build(self, privileged, caps)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    syscalls: Vec<Rule>,
    #[serde(default)]
    flags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    /// Docker's old single-name form.
    name: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<Arg>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    min_kernel: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

/// What the conversion needs to know about the machine and the container.
#[derive(Debug, Clone, Copy)]
pub(super) struct Target<'a> {
    /// Go's name of the architecture (`amd64`, `arm64`, …), which profiles use in `arches`.
    pub goarch: &'a str,
    /// libseccomp's name of the native architecture (`SCMP_ARCH_X86_64`, …).
    pub scmp_arch: &'a str,
    /// `(major, minor)` of the running kernel.
    pub kernel: (u32, u32),
}

impl Target<'static> {
    pub(super) fn host() -> Target<'static> {
        let (goarch, scmp_arch) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
            "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
            "x86" => ("386", "SCMP_ARCH_X86"),
            "arm" => ("arm", "SCMP_ARCH_ARM"),
            "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
            "s390x" => ("s390x", "SCMP_ARCH_S390X"),
            "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
            "mips64" => ("mips64", "SCMP_ARCH_MIPS64"),
            other => (other, ""),
        };
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|r| parse_kernel(&r))
            .unwrap_or((0, 0));
        Target {
            goarch,
            scmp_arch,
            kernel,
        }
    }
}

/// `6.18.44-fc` → `(6, 18)`.
fn parse_kernel(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The seccomp section of the spec, or `None` for no filter.
pub(super) fn build(
    mode: &Seccomp,
    privileged: bool,
    caps: &[String],
) -> Result<Option<LinuxSeccomp>, SpecError> {
    let text = match mode {
        Seccomp::Unconfined => return Ok(None),
        Seccomp::Builtin if privileged => return Ok(None),
        Seccomp::Builtin => DEFAULT_PROFILE,
        Seccomp::Profile(p) => p.as_str(),
    };
    convert(text, caps, Target::host()).map(Some)
}

fn invalid(m: impl std::fmt::Display) -> SpecError {
    SpecError::Seccomp(m.to_string())
}

/// Docker's profile format to OCI `linux.seccomp` for `target` and a container holding `caps`.
pub(super) fn convert(
    text: &str,
    caps: &[String],
    target: Target<'_>,
) -> Result<LinuxSeccomp, SpecError> {
    let p: Profile = serde_json::from_str(text).map_err(|e| invalid(format!("decoding: {e}")))?;
    if !p.architectures.is_empty() && !p.arch_map.is_empty() {
        return Err(invalid(
            "use either 'architectures' or 'archMap' in the profile, not both",
        ));
    }
    let mut arches = p.architectures.clone();
    for a in &p.arch_map {
        if a.architecture == target.scmp_arch {
            arches.push(a.architecture.clone());
            arches.extend(a.sub_architectures.iter().flatten().cloned());
        }
    }
    let has_cap = |c: &String| caps.iter().any(|have| have.eq_ignore_ascii_case(c));
    let mut rules = Vec::new();
    for r in &p.syscalls {
        let inc = &r.includes;
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == target.goarch) {
            continue;
        }
        if !inc.caps.is_empty() && !inc.caps.iter().all(has_cap) {
            continue;
        }
        if let Some(min) = &inc.min_kernel {
            let min =
                parse_kernel(min).ok_or_else(|| invalid(format!("invalid minKernel {min:?}")))?;
            if target.kernel < min {
                continue;
            }
        }
        let exc = &r.excludes;
        if exc.arches.iter().any(|a| a == target.goarch) || exc.caps.iter().any(has_cap) {
            continue;
        }
        if exc.min_kernel.is_some() {
            return Err(invalid("excludes.minKernel is not supported"));
        }
        let names: Vec<&String> = r.name.iter().chain(&r.names).collect();
        if names.is_empty() {
            return Err(invalid("a syscall rule names no syscall"));
        }
        let mut rule = json!({ "names": names, "action": r.action });
        if let Some(e) = r.errno_ret {
            rule["errnoRet"] = json!(e);
        }
        if !r.args.is_empty() {
            rule["args"] = Value::Array(
                r.args
                    .iter()
                    .map(|a| {
                        json!({"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op})
                    })
                    .collect(),
            );
        }
        rules.push(rule);
    }
    let mut out = json!({
        "defaultAction": p.default_action,
        "architectures": arches,
        "syscalls": rules,
    });
    if let Some(e) = p.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    if !p.flags.is_empty() {
        out["flags"] = json!(p.flags);
    }
    serde_json::from_value(out).map_err(|e| invalid(format!("converting: {e}")))
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompOperator};

    use super::*;

    const X86: Target<'static> = Target {
        goarch: "amd64",
        scmp_arch: "SCMP_ARCH_X86_64",
        kernel: (6, 1),
    };

    fn default_caps() -> Vec<String> {
        super::super::caps::default_capabilities()
    }

    fn allowed(s: &LinuxSeccomp, name: &str) -> Vec<oci_spec::runtime::LinuxSyscall> {
        s.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.names().iter().any(|n| n == name))
            .cloned()
            .collect()
    }

    #[test]
    fn default_profile_for_a_default_container() {
        let s = convert(DEFAULT_PROFILE, &default_caps(), X86).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        let arches: Vec<String> = s
            .architectures()
            .iter()
            .flatten()
            .map(|a| {
                serde_json::to_value(a)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            arches,
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        );
        // The big allow list, the socket/personality/clone filters, clone3's ENOSYS.
        assert!(!allowed(&s, "read").is_empty());
        assert!(allowed(&s, "unshare").is_empty());
        assert!(allowed(&s, "mount").is_empty());
        assert!(allowed(&s, "kexec_load").is_empty());
        assert!(allowed(&s, "ptrace").len() == 1, "minKernel 4.8 rule");
        assert!(!allowed(&s, "arch_prctl").is_empty());
        assert!(allowed(&s, "s390_runtime_instr").is_empty());
        let socket = &allowed(&s, "socket")[0];
        let arg = &socket.args().as_ref().unwrap()[0];
        assert_eq!((arg.index(), arg.value()), (0, 40));
        assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpNe);
        assert_eq!(allowed(&s, "personality").len(), 5);
        let clone = allowed(&s, "clone");
        assert_eq!(clone.len(), 1);
        let arg = &clone[0].args().as_ref().unwrap()[0];
        assert_eq!((arg.index(), arg.value()), (0, 2_114_060_288));
        assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        let clone3 = &allowed(&s, "clone3")[0];
        assert_eq!(clone3.action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3.errno_ret(), Some(38));
        assert!(
            !allowed(&s, "chroot").is_empty(),
            "CAP_SYS_CHROOT is a default"
        );
        assert!(allowed(&s, "reboot").is_empty());
    }

    #[test]
    fn capabilities_open_their_syscalls() {
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".into());
        caps.push("CAP_SYS_TIME".into());
        let s = convert(DEFAULT_PROFILE, &caps, X86).unwrap();
        assert!(!allowed(&s, "unshare").is_empty());
        assert!(!allowed(&s, "mount").is_empty());
        assert!(!allowed(&s, "settimeofday").is_empty());
        // With CAP_SYS_ADMIN clone is allowed whole and clone3 no longer answers ENOSYS.
        let clone = allowed(&s, "clone");
        assert!(clone.iter().all(|r| r.args().is_none()));
        assert!(
            allowed(&s, "clone3")
                .iter()
                .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow)
        );
    }

    #[test]
    fn old_kernels_and_other_arches() {
        let old = Target {
            kernel: (4, 4),
            ..X86
        };
        let s = convert(DEFAULT_PROFILE, &default_caps(), old).unwrap();
        assert!(allowed(&s, "ptrace").is_empty());
        let arm = Target {
            goarch: "arm64",
            scmp_arch: "SCMP_ARCH_AARCH64",
            kernel: (6, 1),
        };
        let s = convert(DEFAULT_PROFILE, &default_caps(), arm).unwrap();
        assert!(allowed(&s, "arch_prctl").is_empty());
        assert!(!allowed(&s, "set_tls").is_empty());
        assert_eq!(s.architectures().as_ref().unwrap().len(), 2);
    }

    #[test]
    fn custom_profiles_in_dockers_format() {
        let p = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":13},
                        {"names":["chmod","fchmodat"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let s = convert(p, &[], X86).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(allowed(&s, "mkdir")[0].errno_ret(), Some(13));
        assert_eq!(allowed(&s, "fchmodat").len(), 1);
        for bad in [
            "not json",
            r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}"#,
        ] {
            let err = convert(bad, &[], X86).unwrap_err();
            assert!(err.is_invalid_argument(), "{err}");
        }
    }

    #[test]
    fn modes() {
        assert!(build(&Seccomp::Unconfined, false, &[]).unwrap().is_none());
        assert!(build(&Seccomp::Builtin, true, &[]).unwrap().is_none());
        assert!(build(&Seccomp::Builtin, false, &[]).unwrap().is_some());
        let p = r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#.to_string();
        assert!(build(&Seccomp::Profile(p), true, &[]).unwrap().is_some());
        assert_eq!(parse_kernel("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
    }
}
