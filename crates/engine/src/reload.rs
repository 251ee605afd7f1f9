//! Reloading the daemon config while it runs (pouchd's SIGHUP): the keys of [`Reloadable`] take
//! effect for the next operation, and a `daemon` `reload` event says what the daemon now runs
//! with, as dockerd's does.

use std::collections::BTreeMap;

use crate::Engine;
use crate::config::{ReloadReport, Reloadable};

impl Engine {
    /// Replaces the reloadable part of the running config with `new` and emits docker's
    /// `reload` event (type `daemon`, the daemon's ID as actor, the reloadable values and the
    /// host name as attributes). Everything else in the daemon config needs a restart; pouchd
    /// says which of its keys changed.
    pub fn reload(&self, new: Reloadable) -> ReloadReport {
        let ctx = &self.system().ctx;
        let changed = {
            let mut live = ctx.live.write().unwrap_or_else(|p| p.into_inner());
            let changed = live.changed_keys(&new);
            *live = new.clone();
            changed
        };
        ctx.emit("daemon", "reload", &ctx.id, event_attributes(&new));
        ReloadReport { changed }
    }
}

/// The attributes of a `reload` event, spelled as dockerd's: booleans as `true`/`false`, lists
/// as JSON arrays. `registry-mirrors` is docker's list (Docker Hub's mirrors); mirrors of other
/// registries show in `/info`'s `RegistryConfig.IndexConfigs`.
fn event_attributes(live: &Reloadable) -> BTreeMap<String, String> {
    let list = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let hub_mirrors = live
        .registry_mirrors
        .get("docker.io")
        .map(Vec::as_slice)
        .unwrap_or_default();
    BTreeMap::from([
        ("debug".to_string(), live.debug.to_string()),
        ("labels".to_string(), list(&live.labels)),
        (
            "insecure-registries".to_string(),
            list(&live.insecure_registries),
        ),
        ("registry-mirrors".to_string(), list(hub_mirrors)),
        // pouchd always restores running containers (docs/ARCHITECTURE.md).
        ("live-restore".to_string(), "true".to_string()),
        ("name".to_string(), pouch_sys::host::hostname()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_spelled_as_dockerds() {
        let live = Reloadable {
            debug: true,
            labels: vec!["a=b".into()],
            insecure_registries: vec![],
            registry_mirrors: BTreeMap::from([(
                "docker.io".to_string(),
                vec!["http://m:5000".to_string()],
            )]),
        };
        let a = event_attributes(&live);
        assert_eq!(a["debug"], "true");
        assert_eq!(a["labels"], r#"["a=b"]"#);
        assert_eq!(a["insecure-registries"], "[]");
        assert_eq!(a["registry-mirrors"], r#"["http://m:5000"]"#);
    }

    #[test]
    fn changed_keys_name_the_config_file_keys() {
        let a = Reloadable::default();
        let mut b = a.clone();
        assert!(a.changed_keys(&b).is_empty());
        b.debug = true;
        b.insecure_registries.push("10.0.0.0/8".into());
        assert_eq!(a.changed_keys(&b), ["debug", "insecure-registries"]);
    }
}
