//! The container process: command, environment, working directory, user, capabilities and
//! process limits.

use oci_spec::runtime::{
    PosixRlimit, PosixRlimitBuilder, PosixRlimitType, Process, User as OciUser, UserBuilder,
};

use super::mounts::INIT_PATH;
use super::{ContainerSpec, Rlimit, SpecError, caps};

/// Docker's default `PATH` for Linux containers.
pub(super) const DEFAULT_PATH: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub(super) fn build(c: &ContainerSpec) -> Result<Process, SpecError> {
    if c.args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    let mut args = Vec::with_capacity(c.args.len() + 2);
    if c.init_path.is_some() {
        args.extend([INIT_PATH.to_string(), "--".to_string()]);
    }
    args.extend(c.args.iter().cloned());

    let cwd = if c.cwd.is_empty() {
        "/"
    } else {
        c.cwd.as_str()
    };
    if !cwd.starts_with('/') {
        return Err(SpecError::NotAbsolute {
            what: "working directory",
            path: cwd.into(),
        });
    }
    if let Some(adj) = c.oom_score_adj.filter(|a| !(-1000..=1000).contains(a)) {
        return Err(SpecError::OomScoreAdj(adj));
    }

    let names = caps::effective_capability_names(c.privileged, &c.cap_add, &c.cap_drop)?;
    let mut p = Process::default();
    p.set_terminal(Some(c.terminal))
        .set_console_size(None)
        .set_user(user(c)?)
        .set_args(Some(args))
        .set_env(Some(env(c)))
        .set_cwd(cwd.into())
        .set_capabilities(Some(caps::build(&names, c.user.uid)?))
        .set_rlimits(rlimits(&c.rlimits)?)
        // Omitted rather than `false`: libcontainer 0.7.0 tests `is_some()`, and with the field
        // present it loads seccomp after dropping capabilities, where loading needs NNP.
        .set_no_new_privileges(c.no_new_privileges.then_some(true))
        .set_oom_score_adj(c.oom_score_adj);
    Ok(p)
}

fn user(c: &ContainerSpec) -> Result<OciUser, SpecError> {
    let mut b = UserBuilder::default().uid(c.user.uid).gid(c.user.gid);
    if !c.user.additional_gids.is_empty() {
        b = b.additional_gids(c.user.additional_gids.clone());
    }
    Ok(b.build()?)
}

/// Docker's environment: `PATH`, `HOSTNAME` and (with a terminal) `TERM=xterm` first, then the
/// container's own entries, which replace defaults of the same name. A bare `NAME` removes the
/// default (moby's `ReplaceOrAppendEnvValues`); later duplicates replace earlier ones.
pub(super) fn env(c: &ContainerSpec) -> Vec<String> {
    let mut env = vec![DEFAULT_PATH.to_string()];
    if !c.hostname.is_empty() {
        env.push(format!("HOSTNAME={}", c.hostname));
    }
    if c.terminal {
        env.push("TERM=xterm".to_string());
    }
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    for entry in &c.env {
        let name = key(entry);
        let existing = env.iter().position(|e| key(e) == name);
        match (entry.contains('='), existing) {
            (true, Some(i)) => env[i] = entry.clone(),
            (true, None) => env.push(entry.clone()),
            (false, Some(i)) => {
                env.remove(i);
            }
            (false, None) => {}
        }
    }
    env
}

/// Process limits; none at all when none are asked for, so the container inherits the runtime's
/// (and never gets more open files than the host's hard limit allows).
fn rlimits(limits: &[Rlimit]) -> Result<Option<Vec<PosixRlimit>>, SpecError> {
    if limits.is_empty() {
        return Ok(None);
    }
    let mut out: Vec<PosixRlimit> = Vec::with_capacity(limits.len());
    for l in limits {
        let typ = rlimit_type(&l.name).ok_or_else(|| SpecError::UnknownRlimit(l.name.clone()))?;
        if l.soft > l.hard {
            return Err(SpecError::RlimitSoftAboveHard {
                name: l.name.clone(),
                soft: l.soft,
                hard: l.hard,
            });
        }
        out.retain(|r| r.typ() != typ);
        out.push(
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(l.soft)
                .hard(l.hard)
                .build()?,
        );
    }
    Ok(Some(out))
}

/// Docker's ulimit names (`nofile`, …); `RLIMIT_NOFILE` is accepted too.
fn rlimit_type(name: &str) -> Option<PosixRlimitType> {
    let lower = name.to_ascii_lowercase();
    let short = lower.strip_prefix("rlimit_").unwrap_or(&lower);
    use PosixRlimitType::*;
    Some(match short {
        "as" => RlimitAs,
        "core" => RlimitCore,
        "cpu" => RlimitCpu,
        "data" => RlimitData,
        "fsize" => RlimitFsize,
        "locks" => RlimitLocks,
        "memlock" => RlimitMemlock,
        "msgqueue" => RlimitMsgqueue,
        "nice" => RlimitNice,
        "nofile" => RlimitNofile,
        "nproc" => RlimitNproc,
        "rss" => RlimitRss,
        "rtprio" => RlimitRtprio,
        "rttime" => RlimitRttime,
        "sigpending" => RlimitSigpending,
        "stack" => RlimitStack,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn env_gets_docker_defaults() {
        let mut c = sample();
        c.env = vec!["FOO=bar".into()];
        assert_eq!(env(&c), [DEFAULT_PATH, "HOSTNAME=c1host", "FOO=bar"]);
        c.terminal = true;
        assert_eq!(env(&c)[2], "TERM=xterm");
    }

    #[test]
    fn container_env_overrides_and_unsets_defaults() {
        let mut c = sample();
        c.terminal = true;
        c.env = vec![
            "PATH=/opt/bin".into(),
            "TERM".into(),
            "A=1".into(),
            "A=2".into(),
            "UNSET_UNKNOWN".into(),
            "EMPTY=".into(),
        ];
        assert_eq!(
            env(&c),
            ["PATH=/opt/bin", "HOSTNAME=c1host", "A=2", "EMPTY="]
        );
    }

    #[test]
    fn no_hostname_means_no_hostname_variable() {
        let mut c = sample();
        c.hostname.clear();
        assert_eq!(env(&c), [DEFAULT_PATH]);
    }

    #[test]
    fn init_is_prepended_and_cwd_defaults_to_root() {
        let mut c = sample();
        c.init_path = Some("/usr/lib/pouch/init".into());
        let p = build(&c).unwrap();
        assert_eq!(
            p.args().as_ref().unwrap(),
            &["/sbin/docker-init", "--", "sh", "-c", "true"]
        );
        assert_eq!(p.cwd().to_str(), Some("/"));
        c.cwd = "work".into();
        assert!(matches!(build(&c), Err(SpecError::NotAbsolute { .. })));
        c.cwd = "/work".into();
        assert_eq!(build(&c).unwrap().cwd().to_str(), Some("/work"));
    }

    #[test]
    fn empty_command_is_refused() {
        let mut c = sample();
        c.args.clear();
        assert_eq!(build(&c).unwrap_err().to_string(), "no command specified");
    }

    #[test]
    fn user_and_flags_are_copied() {
        let mut c = sample();
        c.user.uid = 1000;
        c.user.gid = 100;
        c.user.additional_gids = vec![10, 20];
        c.terminal = true;
        c.no_new_privileges = true;
        c.oom_score_adj = Some(500);
        let p = build(&c).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 100));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[10, 20][..]));
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(p.oom_score_adj(), Some(500));
        c.oom_score_adj = Some(1001);
        assert!(matches!(build(&c), Err(SpecError::OomScoreAdj(1001))));
    }

    #[test]
    fn rlimits_are_unset_unless_asked_for() {
        let c = sample();
        assert_eq!(build(&c).unwrap().rlimits(), &None);
        let got = rlimits(&[
            Rlimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            },
            Rlimit {
                name: "NPROC".into(),
                soft: 10,
                hard: 10,
            },
            Rlimit {
                name: "nofile".into(),
                soft: 4096,
                hard: 4096,
            },
        ])
        .unwrap()
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].typ(), PosixRlimitType::RlimitNproc);
        assert_eq!(
            (got[1].typ(), got[1].soft()),
            (PosixRlimitType::RlimitNofile, 4096)
        );
    }

    #[test]
    fn bad_rlimits_are_refused() {
        let bad = |name: &str, soft, hard| {
            rlimits(&[Rlimit {
                name: name.into(),
                soft,
                hard,
            }])
            .unwrap_err()
        };
        assert!(matches!(bad("files", 1, 1), SpecError::UnknownRlimit(_)));
        assert!(matches!(
            bad("nofile", 10, 5),
            SpecError::RlimitSoftAboveHard { .. }
        ));
    }
}
