//! SIGHUP: pouchd re-reads its config file and applies what can change while it runs (the
//! engine's `Reloadable` keys: debug, labels, insecure-registries, registry-mirrors), as
//! dockerd does. A file that does not parse or validate is reported and the running config
//! kept; changed keys that need a restart are named in the log. SIGHUP never stops pouchd.

use crate::Flags;
use crate::config;
use crate::logging::LogLevel;

/// The config file keys a reload applies.
const RELOADABLE: &[&str] = &["debug", "labels", "insecure-registries", "registry-mirrors"];

pub struct Reloader {
    pub flags: Flags,
    /// The config file's keys as the daemon started with them: a key that differs from them
    /// and is not reloadable is reported at every reload until pouchd restarts.
    pub started: serde_json::Value,
    pub log: LogLevel,
    pub engine: pouch_engine::Engine,
}

impl Reloader {
    pub fn reload(&self) {
        let file = self
            .flags
            .config
            .clone()
            .unwrap_or_else(|| config::DEFAULT_CONFIG.into());
        tracing::info!(config_file = %file.display(), "got SIGHUP: reloading the configuration");
        let new = match config::resolve(&self.flags) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    config_file = %file.display(),
                    "cannot reload the configuration, keeping the running one: {e:#}"
                );
                return;
            }
        };
        let live = new.engine.reloadable();
        let debug = live.debug;
        let report = self.engine.reload(live);
        if report.changed.contains(&"debug") && !self.log.set_debug(debug) {
            tracing::info!("POUCHD_LOG sets the log filter: debug changes only what /info reports");
        }
        tracing::info!(reloaded = ?report.changed, "reloaded the configuration");
        let restart = needs_restart(&self.started, &new.file);
        if !restart.is_empty() {
            tracing::warn!(
                keys = ?restart,
                "these config keys changed but take effect only when pouchd restarts"
            );
        }
    }
}

/// Keys whose values differ between the two files and that a reload cannot apply.
fn needs_restart(started: &serde_json::Value, now: &serde_json::Value) -> Vec<String> {
    let keys = |v: &serde_json::Value| {
        v.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let mut all = keys(started);
    all.extend(keys(now));
    all.sort();
    all.dedup();
    all.into_iter()
        .filter(|k| !RELOADABLE.contains(&k.as_str()) && started.get(k) != now.get(k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_keys_that_cannot_reload_need_a_restart() {
        let a = serde_json::json!({"debug": false, "bridge": "b0", "mtu": 1500});
        let b = serde_json::json!({"debug": true, "bridge": "b1", "labels": ["x=y"], "bip": "10.0.0.1/24"});
        assert_eq!(needs_restart(&a, &b), ["bip", "bridge", "mtu"]);
        assert!(needs_restart(&a, &a).is_empty());
    }
}
