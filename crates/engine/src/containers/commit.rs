//! `POST /commit`: a container's writable layer becomes a new image on top of its image.

use pouch_api::types::ContainerConfig;
use pouch_image::oci::{History, RunConfig};
use pouch_image::{Digest, LoadedLayer};
use serde_json::{Map, Value};

use super::ContainerStatus;
use crate::Containers;
use crate::context::Blocking;
use crate::error::{Error, Result};
use crate::images::rfc3339_now;
use crate::images::tag::parse_tag_target;

/// What `docker commit` asks for besides the container.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Dockerfile instructions applied to the container's config.
    pub changes: Vec<String>,
    /// Pause a running container while its layer is read.
    pub pause: bool,
    /// A container config (JSON object) whose set fields override the result.
    pub config: Option<Value>,
}

/// Run-config fields a commit body may override.
const OVERRIDABLE: &[&str] = &[
    "Cmd",
    "Entrypoint",
    "Env",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "OnBuild",
    "Healthcheck",
];

impl Containers {
    /// Commits the container `name` and returns the new image id (`sha256:…`).
    pub async fn commit_container(&self, name: &str, opts: CommitOptions) -> Result<String> {
        let c = self.ctx.resolve_container(name)?;
        let target = match opts.repo.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => Some(parse_tag_target(r, opts.tag.as_deref().unwrap_or(""))?),
            None if opts.tag.as_deref().is_some_and(|t| !t.is_empty()) => {
                return Err(Error::invalid("tag given without a repository name"));
            }
            None => None,
        };
        let paused = opts.pause && c.state.status == ContainerStatus::Running && {
            match self.pause_container(&c.id, true).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(container = %c.id, error = %e, "commit: cannot pause");
                    false
                }
            }
        };
        let result = {
            let _guard = self.images.lock.lock().await;
            self.blocking(move |e| e.commit_blocking(c, opts, target))
                .await
        };
        if paused && let Err(e) = self.pause_container(name, false).await {
            tracing::warn!(container = name, error = %e, "commit: cannot unpause");
        }
        result
    }

    fn commit_blocking(
        &self,
        c: crate::store::ContainerRecord,
        opts: CommitOptions,
        target: Option<pouch_image::Reference>,
    ) -> Result<String> {
        let i = &self.ctx;
        let mut config = self.images.image_config(&c.image_id)?;
        let parent_layers: Vec<LoadedLayer> = i
            .store
            .layers(&c.image_id)?
            .into_iter()
            .map(|l| {
                Ok(LoadedLayer {
                    blob: Digest::parse(&l.blob)?,
                    media_type: l.media_type,
                    blob_size: l.blob_size as u64,
                    diff_id: Digest::parse(&l.diff_id)?,
                    chain_id: Digest::parse(&l.chain_id)?,
                    size: l.size as u64,
                })
            })
            .collect::<std::result::Result<_, pouch_image::Error>>()?;

        let mut run = run_config(config.config.take().unwrap_or_default(), &c.config);
        pouch_image::import::apply_changes(&mut run, &opts.changes)?;
        if let Some(body) = &opts.config {
            run = override_run(run, body)?;
        }
        let created = rfc3339_now();
        config.config = Some(run);
        config.created = Some(created.clone());
        if let Some(a) = opts.author.as_ref().filter(|a| !a.is_empty()) {
            config.author = Some(a.clone());
        }
        config
            .extra
            .insert("container".to_owned(), Value::String(c.id.clone()));
        let created_by = c
            .config
            .entrypoint
            .iter()
            .flatten()
            .chain(c.config.cmd.iter().flatten())
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let spec = pouch_image::commit::CommitSpec {
            config,
            parent_layers,
            history: History {
                created: Some(created),
                created_by: Some(created_by),
                author: opts.author.filter(|a| !a.is_empty()),
                comment: opts.comment.filter(|m| !m.is_empty()),
                empty_layer: None,
            },
        };
        let upper = self.ctx.container_dir(&c.id).join("rw/upper");
        let mut img = pouch_image::commit::commit(&upper, spec, &i.content, &i.snaps, &i.unpack)
            .map_err(|err| Error::from(err).context("committing container"))?;
        img.repo_tags = target.into_iter().collect();
        self.images.record_loaded(std::slice::from_ref(&img))?;
        Ok(img.config_digest.to_string())
    }
}

/// The image's run config with the fields a container carries replaced by the container's.
fn run_config(mut run: RunConfig, c: &ContainerConfig) -> RunConfig {
    let set = |m: &Option<std::collections::BTreeMap<String, Value>>| {
        m.as_ref()
            .filter(|m| !m.is_empty())
            .map(|m| m.keys().map(|k| (k.clone(), Map::new())).collect())
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    run.cmd = c.cmd.clone();
    run.entrypoint = c.entrypoint.clone();
    run.env = (!c.env.is_empty()).then(|| c.env.clone());
    run.working_dir = non_empty(&c.working_dir);
    run.user = non_empty(&c.user);
    run.labels = (!c.labels.is_empty()).then(|| c.labels.clone());
    run.exposed_ports = set(&c.exposed_ports);
    run.volumes = set(&c.volumes);
    run.stop_signal = c.stop_signal.clone().filter(|s| !s.is_empty());
    run.on_build = (!c.on_build.is_empty()).then(|| c.on_build.clone());
    if c.healthcheck.is_some() {
        run.healthcheck = c.healthcheck.clone();
    }
    run
}

/// Applies the set fields of a commit request body (a container config) to `run`.
fn override_run(run: RunConfig, body: &Value) -> Result<RunConfig> {
    let Some(body) = body.as_object() else {
        return Ok(run);
    };
    let mut v = serde_json::to_value(&run)?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| Error::internal("run config is not an object"))?;
    for key in OVERRIDABLE {
        let Some(val) = body.get(*key) else { continue };
        let set = match val {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        };
        if !set {
            continue;
        }
        let val = match (*key, val) {
            // A string command is one argument, as docker's strslice reads it.
            ("Cmd" | "Entrypoint", Value::String(s)) => Value::Array(vec![s.clone().into()]),
            _ => val.clone(),
        };
        obj.insert((*key).to_owned(), val);
    }
    serde_json::from_value(v).map_err(|e| Error::invalid(format!("invalid commit config: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_overrides_only_set_fields() {
        let run = RunConfig {
            cmd: Some(vec!["sh".into()]),
            user: Some("1".into()),
            ..RunConfig::default()
        };
        let body: Value =
            serde_json::from_str(r#"{"Cmd": "true", "User": "", "Env": ["A=1"], "Labels": null}"#)
                .unwrap();
        let out = override_run(run, &body).unwrap();
        assert_eq!(out.cmd, Some(vec!["true".to_owned()]));
        assert_eq!(out.user.as_deref(), Some("1"));
        assert_eq!(out.env, Some(vec!["A=1".to_owned()]));
    }
}
