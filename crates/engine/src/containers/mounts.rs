//! A container's mounts: `-v`/`Binds`, `--mount`/`Mounts`, `--tmpfs`, `--volumes-from` and the
//! image's `VOLUME`s, decided at create time (volumes are created then) and realised at each start
//! (volumes mounted through their driver, populated from the image on first use).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use pouch_api::types::{ContainerConfig, HostConfig, MountPoint, MountSpec};
use pouch_runtime::spec;

use crate::Containers;
use crate::error::{Error, Result};
use crate::store::{ContainerRecord, MountRecord};
use crate::volumes::NewVolume;

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// One `-v` entry before volumes exist.
#[derive(Debug, PartialEq)]
pub(crate) struct BindSpec {
    pub source: String,
    pub destination: String,
    pub rw: bool,
    pub mode: String,
    pub propagation: String,
    pub nocopy: bool,
}

fn check_destination(kind: &str, dest: &str) -> Result<()> {
    if dest.is_empty() {
        return Err(Error::invalid(format!(
            "invalid mount config for type \"{kind}\": field Target must not be empty"
        )));
    }
    if !dest.starts_with('/') {
        return Err(Error::invalid(format!(
            "invalid mount config for type \"{kind}\": invalid mount path: '{dest}' mount path \
             must be absolute"
        )));
    }
    if Path::new(dest)
        .components()
        .all(|c| c == Component::RootDir)
    {
        return Err(Error::invalid(format!(
            "invalid mount config for type \"{kind}\": invalid specification: destination can't \
             be '/'"
        )));
    }
    Ok(())
}

/// Parses docker's `-v` syntax: `[source:]destination[:mode]`.
pub(crate) fn parse_bind(spec: &str) -> Result<BindSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => {
            return Err(Error::invalid(format!(
                "invalid volume specification: '{spec}': use [source:]destination[:mode]"
            )));
        }
    };
    if spec.is_empty() {
        return Err(Error::invalid("invalid volume specification: ''"));
    }
    let bind = source.starts_with('/');
    let kind = if bind { "bind" } else { "volume" };
    check_destination(kind, destination)?;
    if !source.is_empty() && !bind {
        pouch_volume::validate_name(source).map_err(|e| Error::invalid(e.to_string()))?;
    }
    let mut rw = None;
    let mut propagation = String::new();
    let mut nocopy = false;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" | "rw" if rw.is_none() => rw = Some(m == "rw"),
            "z" | "Z" | "consistent" | "cached" | "delegated" => {}
            "nocopy" if !bind => nocopy = true,
            p if PROPAGATIONS.contains(&p) && bind && propagation.is_empty() => {
                propagation = p.to_string();
            }
            _ => {
                return Err(Error::invalid(format!(
                    "invalid mode: {mode} (in volume specification '{spec}')"
                )));
            }
        }
    }
    Ok(BindSpec {
        source: source.to_string(),
        destination: clean(destination),
        rw: rw.unwrap_or(true),
        mode: mode.to_string(),
        propagation: if bind && propagation.is_empty() {
            "rprivate".into()
        } else {
            propagation
        },
        nocopy,
    })
}

/// Lexically cleaned absolute path (`/a/./b/` → `/a/b`), as docker compares destinations.
fn clean(p: &str) -> String {
    let mut out = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    format!("/{}", out.join("/"))
}

impl Containers {
    /// Decides every mount of a new container and creates the volumes it needs. On error, the
    /// anonymous volumes made so far are removed again.
    pub(crate) fn plan_mounts(
        &self,
        config: &ContainerConfig,
        hc: &HostConfig,
        image_volumes: &[String],
    ) -> Result<Vec<MountRecord>> {
        let mut made = Vec::new();
        let res = self.plan_mounts_inner(config, hc, image_volumes, &mut made);
        if res.is_err() {
            for name in made {
                let _ = self.volumes.remove_volume_blocking(&name, true);
            }
        }
        res
    }

    fn plan_mounts_inner(
        &self,
        config: &ContainerConfig,
        hc: &HostConfig,
        image_volumes: &[String],
        made: &mut Vec<String>,
    ) -> Result<Vec<MountRecord>> {
        let mut out: Vec<MountRecord> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut add = |m: MountRecord, out: &mut Vec<MountRecord>| -> Result<()> {
            if !seen.insert(m.destination.clone()) {
                return Err(Error::invalid(format!(
                    "Duplicate mount point: {}",
                    m.destination
                )));
            }
            out.push(m);
            Ok(())
        };
        // Explicit mounts first; --volumes-from entries yield to them, image VOLUMEs to all.
        for b in &hc.binds {
            let b = parse_bind(b)?;
            let m = if b.source.starts_with('/') {
                let src = Path::new(&b.source);
                if !src.exists() {
                    // `-v` creates a missing bind source as docker does.
                    std::fs::create_dir_all(src).map_err(|e| {
                        Error::invalid(format!(
                            "error while creating mount source path '{}': {e}",
                            b.source
                        ))
                    })?;
                }
                MountRecord {
                    kind: "bind".into(),
                    source: b.source,
                    destination: b.destination,
                    rw: b.rw,
                    mode: b.mode,
                    propagation: b.propagation,
                    ..Default::default()
                }
            } else {
                let v = self.ensure_volume(
                    &b.source,
                    &hc.volume_driver,
                    BTreeMap::new(),
                    BTreeMap::new(),
                    made,
                )?;
                MountRecord {
                    kind: "volume".into(),
                    anonymous: v.anonymous,
                    name: v.name,
                    driver: v.driver,
                    destination: b.destination,
                    rw: b.rw,
                    mode: b.mode,
                    copy_data: !b.nocopy,
                    ..Default::default()
                }
            };
            add(m, &mut out)?;
        }
        for raw in hc.mounts.iter().flatten() {
            let ms: MountSpec = serde_json::from_value(raw.clone())
                .map_err(|e| Error::invalid(format!("invalid mount config: {e}")))?;
            let m = self.plan_mount_spec(ms, hc, made)?;
            add(m, &mut out)?;
        }
        for (dest, opts) in hc.tmpfs.iter().flatten() {
            check_destination("tmpfs", dest)?;
            let mut options = Vec::new();
            let mut rw = true;
            for o in opts.split(',').filter(|o| !o.is_empty()) {
                match o {
                    "ro" => rw = false,
                    "rw" => rw = true,
                    o => options.push(o.to_string()),
                }
            }
            add(
                MountRecord {
                    kind: "tmpfs".into(),
                    destination: clean(dest),
                    rw,
                    mode: opts.clone(),
                    options,
                    hidden: true,
                    ..Default::default()
                },
                &mut out,
            )?;
        }
        for from in &hc.volumes_from {
            let (id, mode) = match from.rsplit_once(':') {
                Some((c, m)) if m == "ro" || m == "rw" => (c, Some(m == "rw")),
                Some((_, m)) => {
                    return Err(Error::invalid(format!(
                        "invalid mode for --volumes-from: {m} (use ro or rw)"
                    )));
                }
                None => (from.as_str(), None),
            };
            let other = self.ctx.resolve_container(id)?;
            for m in other.mounts.iter().filter(|m| m.kind != "tmpfs") {
                if out.iter().any(|o| o.destination == m.destination) {
                    continue;
                }
                let mut m = m.clone();
                m.anonymous = false;
                m.copy_data = false;
                if let Some(rw) = mode {
                    m.rw = rw;
                }
                add(m, &mut out)?;
            }
        }
        let declared: BTreeSet<String> = image_volumes
            .iter()
            .cloned()
            .chain(config.volumes.iter().flatten().map(|(k, _)| k.clone()))
            .collect();
        for dest in declared {
            check_destination("volume", &dest)?;
            let dest = clean(&dest);
            if out.iter().any(|o| o.destination == dest) {
                continue;
            }
            let v = self.ensure_volume(
                "",
                &hc.volume_driver,
                BTreeMap::new(),
                BTreeMap::new(),
                made,
            )?;
            add(
                MountRecord {
                    kind: "volume".into(),
                    name: v.name,
                    driver: v.driver,
                    destination: dest,
                    rw: true,
                    copy_data: true,
                    anonymous: true,
                    ..Default::default()
                },
                &mut out,
            )?;
        }
        Ok(out)
    }

    fn plan_mount_spec(
        &self,
        ms: MountSpec,
        hc: &HostConfig,
        made: &mut Vec<String>,
    ) -> Result<MountRecord> {
        let kind = ms.kind.as_str();
        let bad = |what: &str| {
            Error::invalid(format!("invalid mount config for type \"{kind}\": {what}"))
        };
        if !matches!(kind, "bind" | "volume" | "tmpfs") {
            return Err(Error::invalid(format!(
                "invalid mount config: mount type unknown: {kind:?} (use bind, volume or tmpfs)"
            )));
        }
        check_destination(kind, &ms.target)?;
        if kind != "bind" && ms.bind_options.is_some() {
            return Err(bad("field BindOptions must not be specified"));
        }
        if kind != "volume" && ms.volume_options.is_some() {
            return Err(bad("field VolumeOptions must not be specified"));
        }
        if kind != "tmpfs" && ms.tmpfs_options.is_some() {
            return Err(bad("field TmpfsOptions must not be specified"));
        }
        let dest = clean(&ms.target);
        Ok(match kind {
            "bind" => {
                if ms.source.is_empty() {
                    return Err(bad("field Source must not be empty"));
                }
                if !ms.source.starts_with('/') {
                    return Err(bad(&format!(
                        "invalid mount path: '{}' mount path must be absolute",
                        ms.source
                    )));
                }
                let bo = ms.bind_options.unwrap_or_default();
                if !Path::new(&ms.source).exists() {
                    if bo.create_mountpoint {
                        std::fs::create_dir_all(&ms.source).map_err(|e| {
                            bad(&format!("cannot create bind source {}: {e}", ms.source))
                        })?;
                    } else {
                        return Err(bad(&format!(
                            "bind source path does not exist: {}",
                            ms.source
                        )));
                    }
                }
                if !bo.propagation.is_empty() && !PROPAGATIONS.contains(&bo.propagation.as_str()) {
                    return Err(bad(&format!(
                        "invalid propagation mode: {}",
                        bo.propagation
                    )));
                }
                MountRecord {
                    kind: "bind".into(),
                    source: ms.source,
                    destination: dest,
                    rw: !ms.read_only,
                    propagation: if bo.propagation.is_empty() {
                        "rprivate".into()
                    } else {
                        bo.propagation
                    },
                    non_recursive: bo.non_recursive,
                    ..Default::default()
                }
            }
            "volume" => {
                let vo = ms.volume_options.unwrap_or_default();
                let (driver, opts) = match vo.driver_config {
                    Some(d) => (d.name, d.options),
                    None => (hc.volume_driver.clone(), BTreeMap::new()),
                };
                if !vo.subpath.is_empty() {
                    return Err(bad("volume subpaths are not supported"));
                }
                let v = self.ensure_volume(&ms.source, &driver, opts, vo.labels, made)?;
                MountRecord {
                    kind: "volume".into(),
                    anonymous: v.anonymous,
                    name: v.name,
                    driver: v.driver,
                    destination: dest,
                    rw: !ms.read_only,
                    copy_data: !vo.no_copy,
                    ..Default::default()
                }
            }
            _ => {
                if !ms.source.is_empty() {
                    return Err(bad("field Source must not be specified"));
                }
                let mut options = Vec::new();
                let to = ms.tmpfs_options.unwrap_or_default();
                if to.size_bytes < 0 {
                    return Err(bad("tmpfs size must not be negative"));
                }
                if to.size_bytes > 0 {
                    options.push(format!("size={}", to.size_bytes));
                }
                if to.mode != 0 {
                    options.push(format!("mode={:o}", to.mode & 0o7777));
                }
                MountRecord {
                    kind: "tmpfs".into(),
                    destination: dest,
                    rw: !ms.read_only,
                    options,
                    ..Default::default()
                }
            }
        })
    }

    /// The named volume, created if missing; an empty name makes an anonymous one.
    fn ensure_volume(
        &self,
        name: &str,
        driver: &str,
        options: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
        made: &mut Vec<String>,
    ) -> Result<crate::store::VolumeRecord> {
        if !name.is_empty() {
            if let Some(v) = self.ctx.store.volume(name)? {
                return Ok(v);
            }
        }
        let v = self.volumes.create_volume_blocking(NewVolume {
            name: name.to_string(),
            driver: driver.to_string(),
            options,
            labels,
            anonymous: name.is_empty(),
        })?;
        if v.anonymous {
            made.push(v.name.clone());
        }
        Ok(v)
    }

    /// The OCI mounts for a start: volumes mounted through their drivers (and populated from the
    /// rootfs on first use), binds checked, tmpfs options completed. Returns the mounts and the
    /// rootfs propagation the binds need.
    pub(crate) fn realise_mounts(
        &self,
        c: &mut ContainerRecord,
        rootfs: &Path,
    ) -> Result<(Vec<spec::Mount>, Option<String>)> {
        let mut out = Vec::new();
        let mut changed = false;
        let mut mounted: Vec<(String, String)> = Vec::new();
        let mut propagation: Option<String> = None;
        let res = (|| -> Result<()> {
            for m in c.mounts.iter_mut() {
                let access = if m.rw { "rw" } else { "ro" };
                match m.kind.as_str() {
                    "volume" => {
                        let driver = self.volumes.volume_driver(&m.driver)?;
                        let path = driver.mount(&m.name, &c.id)?;
                        mounted.push((m.driver.clone(), m.name.clone()));
                        if m.copy_data {
                            populate(rootfs, &m.destination, &path);
                            m.copy_data = false;
                            changed = true;
                        }
                        out.push(spec::Mount {
                            destination: m.destination.clone(),
                            source: path.display().to_string(),
                            kind: "bind".into(),
                            options: vec!["rbind".into(), "rprivate".into(), access.into()],
                        });
                    }
                    "bind" => {
                        if !Path::new(&m.source).exists() {
                            return Err(Error::invalid(format!(
                                "invalid mount config for type \"bind\": bind source path does \
                                 not exist: {}",
                                m.source
                            )));
                        }
                        let p = m.propagation.as_str();
                        if matches!(p, "shared" | "rshared" | "slave" | "rslave") {
                            ensure_shared(&m.source, p.ends_with("shared"))?;
                            let root = if p.ends_with("shared") {
                                "shared"
                            } else {
                                "slave"
                            };
                            if propagation.as_deref() != Some("shared") {
                                propagation = Some(root.into());
                            }
                        }
                        let mut options = vec![
                            if m.non_recursive { "bind" } else { "rbind" }.to_string(),
                            if p.is_empty() {
                                "rprivate".into()
                            } else {
                                p.to_string()
                            },
                            access.into(),
                        ];
                        options.extend(m.options.iter().cloned());
                        out.push(spec::Mount {
                            destination: m.destination.clone(),
                            source: m.source.clone(),
                            kind: "bind".into(),
                            options,
                        });
                    }
                    _ => {
                        let mut options: Vec<String> =
                            ["nosuid", "nodev", "noexec"].map(String::from).to_vec();
                        for o in &m.options {
                            let drop = match o.as_str() {
                                "exec" => Some("noexec"),
                                "suid" => Some("nosuid"),
                                "dev" => Some("nodev"),
                                _ => None,
                            };
                            if let Some(d) = drop {
                                options.retain(|x| x != d);
                            }
                            options.push(o.clone());
                        }
                        options.push(access.into());
                        out.push(spec::Mount {
                            destination: m.destination.clone(),
                            source: "tmpfs".into(),
                            kind: "tmpfs".into(),
                            options,
                        });
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = res {
            for (driver, name) in mounted {
                if let Ok(d) = self.volumes.volume_driver(&driver) {
                    let _ = d.unmount(&name, &c.id);
                }
            }
            return Err(e);
        }
        if changed {
            self.ctx.store.update_container_mounts(&c.id, &c.mounts)?;
        }
        Ok((out, propagation))
    }

    /// Tells each volume's driver the container no longer uses it (after an exit or failed start).
    pub(crate) fn release_mounts(&self, c: &ContainerRecord) {
        self.ctx.release_userns(&c.id);
        for m in c.mounts.iter().filter(|m| m.kind == "volume") {
            match self.volumes.volume_driver(&m.driver) {
                Ok(d) => {
                    if let Err(e) = d.unmount(&m.name, &c.id) {
                        tracing::warn!(container = %c.id, volume = m.name, "unmount: {e}");
                    }
                }
                Err(e) => tracing::warn!(container = %c.id, volume = m.name, "{}", e.message),
            }
        }
    }

    /// After a daemon restart, tells the local driver which running containers use its volumes,
    /// so a device-backed volume stays mounted until the last of them exits.
    pub(crate) fn adopt_mounts(&self, c: &ContainerRecord) {
        use pouch_volume::Driver;
        for m in c
            .mounts
            .iter()
            .filter(|m| m.kind == "volume" && m.driver == "local")
        {
            if let Err(e) = self.volumes.drivers.local.mount(&m.name, &c.id) {
                tracing::warn!(container = %c.id, volume = m.name, "re-adopt: {e}");
            }
        }
    }

    /// Removes the anonymous volumes of a removed container that nothing else uses.
    pub(crate) fn remove_anonymous_volumes(&self, c: &ContainerRecord) {
        for m in c
            .mounts
            .iter()
            .filter(|m| m.kind == "volume" && m.anonymous)
        {
            if let Err(e) = self.volumes.remove_volume_blocking(&m.name, true) {
                tracing::warn!(container = %c.id, volume = m.name, "not removed: {}", e.message);
            }
        }
    }

    /// Inspect's `Mounts`.
    pub(crate) fn mount_points(&self, c: &ContainerRecord) -> Vec<MountPoint> {
        c.mounts
            .iter()
            .filter(|m| !m.hidden)
            .map(|m| MountPoint {
                kind: m.kind.clone(),
                name: m.name.clone(),
                source: match m.kind.as_str() {
                    "volume" if m.driver == "local" => self
                        .volumes
                        .drivers
                        .local
                        .data(&m.name)
                        .display()
                        .to_string(),
                    "bind" => m.source.clone(),
                    _ => String::new(),
                },
                destination: m.destination.clone(),
                driver: m.driver.clone(),
                mode: m.mode.clone(),
                rw: m.rw,
                propagation: m.propagation.clone(),
            })
            .collect()
    }
}

/// Copies the image's content at `dest` into an empty volume. A destination whose path crosses a
/// symlink in the rootfs is not followed (the image could point it anywhere on the host).
fn populate(rootfs: &Path, dest: &str, volume: &Path) {
    if !pouch_volume::copy::is_empty(volume) {
        return;
    }
    let mut src = rootfs.to_path_buf();
    for c in Path::new(dest).components() {
        if let Component::Normal(n) = c {
            src.push(n);
            match std::fs::symlink_metadata(&src) {
                Ok(m) if m.file_type().is_symlink() => {
                    tracing::warn!(dest, "volume not populated: the image path is a symlink");
                    return;
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }
    if let Err(e) = pouch_volume::copy::copy_tree(&src, volume) {
        tracing::warn!(dest, "volume not fully populated from the image: {e}");
    }
}

/// Shared propagation needs the source's mount to be shared on the host (slave: shared or slave).
fn ensure_shared(source: &str, need_shared: bool) -> Result<()> {
    let m = pouch_sys::mount::mount_of(Path::new(source))
        .map_err(|e| Error::internal(format!("bind source {source}: {e}")))?;
    let shared = m.propagation.iter().any(|p| p.starts_with("shared:"));
    let slave = m.propagation.iter().any(|p| p.starts_with("master:"));
    if shared || (!need_shared && slave) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "path {source} is mounted on {} but it is not a {} mount; run `mount --make-shared {}` \
         first",
        m.mount_point.display(),
        if need_shared {
            "shared"
        } else {
            "shared or slave"
        },
        m.mount_point.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_syntax() {
        let b = parse_bind("/host:/ctr:ro,Z").unwrap();
        assert_eq!(
            (b.source.as_str(), b.destination.as_str(), b.rw),
            ("/host", "/ctr", false)
        );
        assert_eq!(b.propagation, "rprivate");
        let b = parse_bind("data:/var/lib/x/:nocopy").unwrap();
        assert_eq!(
            (b.source.as_str(), b.destination.as_str(), b.nocopy),
            ("data", "/var/lib/x", true)
        );
        let b = parse_bind("/anon").unwrap();
        assert_eq!(b.source, "");
        assert_eq!(parse_bind("/h:/c:rshared").unwrap().propagation, "rshared");
        for bad in [
            "",
            "./rel:/c",
            "/h:rel",
            "/h:/",
            "/h:/c:bogus",
            "/h:/c:ro,rw",
            "v:/c:shared",
            "a:b:c:d",
            "x/y:/c",
        ] {
            assert!(parse_bind(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cleans_paths() {
        assert_eq!(clean("/a/./b/"), "/a/b");
        assert_eq!(clean("/a/../b"), "/b");
    }
}
