//! `GET /containers/{id}/json` and `GET /containers/json`.

use std::collections::{BTreeMap, HashMap};

use pouch_api::Filters;
use pouch_api::types::{ContainerInspect, ContainerState, ContainerSummary, GraphDriver};

use super::ContainerStatus;
use crate::Containers;
use crate::context::Blocking;
use crate::error::{Error, Result};
use crate::images::rfc3339_nanos;
use crate::now_nanos;
use crate::store::ContainerRecord;

const PS_FILTERS: &[&str] = &[
    "status", "name", "label", "ancestor", "exited", "id", "before", "since", "volume",
];

impl Containers {
    pub async fn inspect_container(&self, name: String) -> Result<ContainerInspect> {
        self.blocking(move |e| {
            let c = e.ctx.resolve_container(&name)?;
            Ok(e.inspect_record(&c))
        })
        .await
    }

    fn inspect_record(&self, c: &ContainerRecord) -> ContainerInspect {
        let dir = self.ctx.container_dir(&c.id);
        let s = &c.state;
        let mut data = BTreeMap::new();
        data.insert(
            "UpperDir".to_string(),
            dir.join("rw/upper").display().to_string(),
        );
        data.insert(
            "WorkDir".to_string(),
            dir.join("rw/work").display().to_string(),
        );
        data.insert(
            "MergedDir".to_string(),
            self.ctx.container_rootfs(&c.id).display().to_string(),
        );
        let mut args = c.config.entrypoint.clone().unwrap_or_default();
        args.extend(c.config.cmd.clone().unwrap_or_default());
        let path = if args.is_empty() {
            String::new()
        } else {
            args.remove(0)
        };
        ContainerInspect {
            id: c.id.clone(),
            created: rfc3339_nanos(c.created),
            path,
            args,
            state: ContainerState {
                status: s.status.as_str().into(),
                running: s.status.is_running(),
                paused: s.status == ContainerStatus::Paused,
                restarting: s.status == ContainerStatus::Restarting,
                oom_killed: s.oom_killed,
                dead: s.status == ContainerStatus::Dead,
                pid: s.pid,
                exit_code: s.exit_code,
                error: s.error.clone(),
                started_at: time_or_zero(s.started_at),
                finished_at: time_or_zero(s.finished_at),
            },
            image: c.image_id.clone(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            log_path: self.ctx.log_path(&c.id).display().to_string(),
            name: format!("/{}", c.name),
            restart_count: s.restart_count,
            driver: "overlay2".into(),
            platform: "linux".into(),
            exec_ids: None,
            host_config: c.host_config.clone(),
            graph_driver: GraphDriver {
                name: "overlay2".into(),
                data,
            },
            mounts: self.mount_points(c),
            config: c.config.clone(),
            network_settings: self.networks.network_settings(c),
            ..Default::default()
        }
    }

    pub async fn list_containers(
        &self,
        all: bool,
        limit: Option<usize>,
        size: bool,
        filters: Filters,
    ) -> Result<Vec<ContainerSummary>> {
        filters.validate(PS_FILTERS).map_err(Error::invalid)?;
        self.blocking(move |e| e.list_blocking(all, limit, size, &filters))
            .await
    }

    pub(crate) fn list_blocking(
        &self,
        all: bool,
        limit: Option<usize>,
        size: bool,
        f: &Filters,
    ) -> Result<Vec<ContainerSummary>> {
        let statuses = f
            .get("status")
            .iter()
            .map(|s| {
                s.parse::<ContainerStatus>()
                    .map_err(|_| Error::invalid(format!("invalid filter 'status={s}'")))
            })
            .collect::<Result<Vec<_>>>()?;
        let ancestors: Vec<String> = f
            .get("ancestor")
            .iter()
            .filter_map(|a| self.images.resolve_image(a).ok().map(|r| r.image.id))
            .collect();
        if !f.get("ancestor").is_empty() && ancestors.is_empty() {
            return Ok(Vec::new());
        }
        // What each image name written in a create means now, asked once per name.
        let mut resolved: HashMap<String, Option<String>> = HashMap::new();
        let now = now_nanos();
        let mut out = Vec::new();
        for c in self.ctx.store.containers()? {
            let running = c.state.status.is_running();
            let explicit = !statuses.is_empty() || f.contains("exited");
            if !all && !running && !explicit && limit.is_none() {
                continue;
            }
            if !statuses.is_empty() && !statuses.contains(&c.state.status) {
                continue;
            }
            if !f.get("exited").is_empty()
                && (c.state.status != ContainerStatus::Exited
                    || !f
                        .get("exited")
                        .iter()
                        .any(|x| x.parse::<i64>().ok() == Some(c.state.exit_code)))
            {
                continue;
            }
            if !f
                .get("name")
                .iter()
                .all(|n| c.name.contains(n.trim_start_matches('/')))
            {
                continue;
            }
            if !f.get("id").iter().all(|i| c.id.starts_with(i.as_str())) {
                continue;
            }
            if !f.match_labels("label", &c.config.labels) {
                continue;
            }
            if !ancestors.is_empty() && !ancestors.contains(&c.image_id) {
                continue;
            }
            // docker: a volume name or a mount destination.
            if !f.get("volume").iter().all(|v| {
                c.mounts
                    .iter()
                    .any(|m| (m.kind == "volume" && m.name == *v) || m.destination == *v)
            }) {
                continue;
            }
            // docker: the image as the user wrote it while that name still means this image,
            // else the image's id (never another of its tags).
            let image = resolved
                .entry(c.config.image.clone())
                .or_insert_with(|| {
                    self.images
                        .resolve_image(&c.config.image)
                        .ok()
                        .map(|r| r.image.id)
                })
                .as_deref()
                .filter(|id| *id == c.image_id)
                .map_or_else(|| c.image_id.clone(), |_| c.config.image.clone());
            let mut args = c.config.entrypoint.clone().unwrap_or_default();
            args.extend(c.config.cmd.clone().unwrap_or_default());
            let mut hc = BTreeMap::new();
            hc.insert(
                "NetworkMode".to_string(),
                c.host_config.network_mode.clone(),
            );
            out.push(ContainerSummary {
                id: c.id.clone(),
                names: vec![format!("/{}", c.name)],
                image,
                image_id: c.image_id.clone(),
                command: args.join(" "),
                created: c.created / 1_000_000_000,
                ports: self.networks.summary_ports(&c),
                size_rw: size.then(|| {
                    super::remove::dir_size(&self.ctx.container_dir(&c.id).join("rw/upper")) as i64
                }),
                size_root_fs: size.then(|| {
                    self.ctx
                        .store
                        .image(&c.image_id)
                        .ok()
                        .flatten()
                        .map(|i| i.size)
                        .unwrap_or(0)
                }),
                labels: c.config.labels.clone(),
                state: c.state.status.as_str().into(),
                status: status_text(&c, now),
                host_config: hc,
                network_settings: self.networks.summary_networks(&c),
                mounts: self.mount_points(&c),
            });
        }
        if let Some(n) = limit.filter(|n| *n > 0) {
            out.truncate(n);
        }
        Ok(out)
    }
}

fn time_or_zero(nanos: i64) -> String {
    if nanos == 0 {
        "0001-01-01T00:00:00Z".to_string()
    } else {
        rfc3339_nanos(nanos)
    }
}

/// docker's `Status` column text.
fn status_text(c: &ContainerRecord, now: i64) -> String {
    let s = &c.state;
    match s.status {
        ContainerStatus::Running => format!("Up {}", human_duration(now - s.started_at)),
        ContainerStatus::Paused => format!("Up {} (Paused)", human_duration(now - s.started_at)),
        ContainerStatus::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            human_duration(now - s.finished_at)
        ),
        ContainerStatus::Created => "Created".to_string(),
        ContainerStatus::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            human_duration(now - s.finished_at)
        ),
        other => other.as_str().to_string(),
    }
}

/// go-units HumanDuration.
pub(crate) fn human_duration(nanos: i64) -> String {
    let secs = nanos.max(0) / 1_000_000_000;
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match secs {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s / 60 == 1 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if (s as f64 / 3600.0).round() == 1.0 => "About an hour".into(),
        s if s < 48 * 3600 => format!("{} hours", (s as f64 / 3600.0).round() as i64),
        s if s < 7 * 24 * 3600 * 2 => plural(s / 86400, "day"),
        s if s < 30 * 24 * 3600 * 2 => plural(s / (7 * 86400), "week"),
        s if s < 365 * 24 * 3600 * 2 => plural(s / (30 * 86400), "month"),
        s => plural(s / (365 * 86400), "year"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_like_go_units() {
        let s = 1_000_000_000;
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5 * s), "5 seconds");
        assert_eq!(human_duration(61 * s), "About a minute");
        assert_eq!(human_duration(5 * 60 * s), "5 minutes");
        assert_eq!(human_duration(3 * 3600 * s), "3 hours");
        assert_eq!(human_duration(3 * 86400 * s), "3 days");
    }
}
