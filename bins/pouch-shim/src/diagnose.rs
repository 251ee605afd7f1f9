//! Second looks at a failed create. Runtimes report some failures without saying what failed
//! (libcontainer 0.7.0 answers a refused `oom_score_adj` write with a bare "io error"); when
//! create fails, the shim re-checks those preconditions itself and, if one explains the
//! failure, reports that instead. This runs only on the failure path: a successful start pays
//! nothing for it.

use std::path::Path;

/// A message that says what failed and what to do, when a checked precondition explains the
/// failure of creating the container of `bundle`.
pub fn explain(bundle: &Path) -> Option<String> {
    let raw = std::fs::read(bundle.join("config.json")).ok()?;
    let spec: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    let adj = spec["process"]["oomScoreAdj"].as_i64()?;
    oom_score_adj(adj)
}

/// The runtime writes the process's `oom_score_adj` through `/proc/self` before it forks, so
/// the shim can try the same write: lowering the score below the shim's own needs
/// `CAP_SYS_RESOURCE`, which pouchd (whose capabilities the shim inherits) may lack.
fn oom_score_adj(adj: i64) -> Option<String> {
    let own = std::fs::read_to_string("/proc/self/oom_score_adj").ok();
    let err = std::fs::write("/proc/self/oom_score_adj", adj.to_string()).err()?;
    let own = own.as_deref().map(str::trim).unwrap_or("?");
    let why = match err.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => format!(
            "permission denied (pouchd lacks CAP_SYS_RESOURCE, which a value below its own \
             score {own} needs: run pouchd with that capability or choose a value of at least \
             {own})"
        ),
        _ => err.to_string(),
    };
    Some(format!("cannot set oom_score_adj {adj}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_explanation_for_a_bundle_without_oom_score_adj() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"process":{"args":["true"]}}"#,
        )
        .unwrap();
        assert_eq!(explain(dir.path()), None);
        assert_eq!(explain(&dir.path().join("missing")), None);
    }

    #[test]
    fn a_permitted_value_is_no_explanation() {
        let own: i64 = std::fs::read_to_string("/proc/self/oom_score_adj")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Raising one's own score is always allowed.
        assert_eq!(oom_score_adj(own.max(0)), None);
    }
}
