//! `HostConfig.SecurityOpt` entries that shape the spec beyond `no-new-privileges`.

use pouch_runtime::spec::Seccomp;

/// The seccomp mode from `--security-opt seccomp=…` (or Docker's legacy `seccomp:…`): the
/// docker CLI sends a profile file's content inline, so anything but `unconfined` or
/// `builtin` is the profile itself.
pub(crate) fn seccomp_mode(opts: &[String]) -> Seccomp {
    let mut mode = Seccomp::Builtin;
    for o in opts {
        let Some(value) = o
            .strip_prefix("seccomp=")
            .or_else(|| o.strip_prefix("seccomp:"))
        else {
            continue;
        };
        mode = match value {
            "unconfined" => Seccomp::Unconfined,
            "builtin" | "default" | "" => Seccomp::Builtin,
            profile => Seccomp::Profile(profile.to_string()),
        };
    }
    mode
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seccomp_options() {
        let s = |v: &[&str]| seccomp_mode(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&[]), Seccomp::Builtin);
        assert_eq!(s(&["no-new-privileges"]), Seccomp::Builtin);
        assert_eq!(s(&["seccomp=unconfined"]), Seccomp::Unconfined);
        assert_eq!(s(&["seccomp:unconfined"]), Seccomp::Unconfined);
        assert_eq!(
            s(&["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]),
            Seccomp::Profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}".into())
        );
    }
}
