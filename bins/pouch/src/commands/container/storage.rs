//! Storage flags of `run`/`create`: `--mount`, `--tmpfs`, `--volumes-from`, `--volume-driver` and
//! PouchContainer's `--disk-quota`, turned into the API's `HostConfig.Mounts`, `Tmpfs`,
//! `VolumesFrom`, `VolumeDriver` and `Config.DiskQuota` as the docker CLI does.

use anyhow::{Result, anyhow, bail};
use clap::Args;
use serde_json::{Map, Value, json};

use super::parse::ram_in_bytes;

#[derive(Debug, Clone, Default, Args)]
pub struct StorageOptions {
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,source=…,target=…)
    #[arg(long = "mount", value_name = "MOUNT")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory (PATH[:OPTIONS], e.g. /run:size=64m,mode=1777)
    #[arg(long = "tmpfs", value_name = "TMPFS")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|rw])
    #[arg(long = "volumes-from", value_name = "CONTAINER")]
    pub volumes_from: Vec<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver", value_name = "DRIVER")]
    pub volume_driver: Option<String>,
    /// Disk quota: SIZE for the rootfs, or PATH=SIZE for a volume (e.g. 10g, /data=5g)
    #[arg(long = "disk-quota", value_name = "QUOTA")]
    pub disk_quota: Vec<String>,
}

/// Adds the storage settings to the request's `Config` and `HostConfig`.
pub fn apply(
    o: &StorageOptions,
    config: &mut Map<String, Value>,
    host: &mut Map<String, Value>,
) -> Result<()> {
    if !o.mount.is_empty() {
        let mounts = o
            .mount
            .iter()
            .map(|m| {
                parse_mount(m)
                    .map_err(|e| anyhow!("invalid argument \"{m}\" for \"--mount\" flag: {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        host.insert("Mounts".into(), json!(mounts));
    }
    if !o.tmpfs.is_empty() {
        let mut t = Map::new();
        for spec in &o.tmpfs {
            let (dest, opts) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
            if !dest.starts_with('/') {
                bail!(
                    "invalid argument \"{spec}\" for \"--tmpfs\" flag: the path must be absolute"
                );
            }
            t.insert(dest.to_string(), json!(opts));
        }
        host.insert("Tmpfs".into(), Value::Object(t));
    }
    if !o.volumes_from.is_empty() {
        host.insert("VolumesFrom".into(), json!(o.volumes_from));
    }
    if let Some(d) = &o.volume_driver {
        host.insert("VolumeDriver".into(), json!(d));
    }
    if !o.disk_quota.is_empty() {
        config.insert(
            "DiskQuota".into(),
            Value::Object(disk_quota(&o.disk_quota)?),
        );
    }
    Ok(())
}

/// `--disk-quota` values: `SIZE` (the rootfs) or `/path=SIZE`.
pub fn disk_quota(values: &[String]) -> Result<Map<String, Value>> {
    let mut q = Map::new();
    for d in values {
        let (path, size) = match d.split_once('=') {
            Some((p, s)) => (p, s),
            None => ("/", d.as_str()),
        };
        if !path.starts_with('/') {
            bail!("invalid argument \"{d}\" for \"--disk-quota\" flag: use SIZE or /path=SIZE");
        }
        ram_in_bytes(size)
            .map_err(|e| anyhow!("invalid argument \"{d}\" for \"--disk-quota\" flag: {e}"))?;
        q.insert(path.to_string(), json!(size));
    }
    Ok(q)
}

fn parse_bool(key: &str, v: Option<&str>) -> Result<bool> {
    match v {
        None | Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(v) => bail!("invalid value for {key}: {v}"),
    }
}

/// docker's `--mount` CSV syntax.
pub fn parse_mount(spec: &str) -> Result<Value> {
    let mut kind = "volume".to_string();
    let mut m = Map::new();
    let mut bind = Map::new();
    let mut volume = Map::new();
    let mut labels = Map::new();
    let mut driver = Map::new();
    let mut driver_opts = Map::new();
    let mut tmpfs = Map::new();
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need =
            || value.ok_or_else(|| anyhow!("invalid field '{field}' must be a key=value pair"));
        match key.as_str() {
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(parse_bool(&key, value)?));
            }
            "volume-nocopy" => {
                volume.insert("NoCopy".into(), json!(parse_bool(&key, value)?));
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(parse_bool(&key, value)?));
            }
            "type" => kind = need()?.to_string(),
            "source" | "src" => {
                m.insert("Source".into(), json!(need()?));
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), json!(need()?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(need()?));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(need()?));
            }
            "volume-driver" => {
                driver.insert("Name".into(), json!(need()?));
            }
            "volume-subpath" => {
                volume.insert("Subpath".into(), json!(need()?));
            }
            "volume-label" => {
                let v = need()?;
                let (k, val) = v.split_once('=').unwrap_or((v, ""));
                labels.insert(k.into(), json!(val));
            }
            "volume-opt" => {
                let v = need()?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| anyhow!("invalid volume-opt '{v}': use key=value"))?;
                driver_opts.insert(k.into(), json!(val));
            }
            "tmpfs-size" => {
                tmpfs.insert("SizeBytes".into(), json!(ram_in_bytes(need()?)?));
            }
            "tmpfs-mode" => {
                let v = need()?;
                let mode = u32::from_str_radix(v, 8)
                    .map_err(|_| anyhow!("invalid value for tmpfs-mode: {v} (use octal)"))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            _ => bail!("unexpected key '{key}' in '{field}'"),
        }
    }
    if !m.contains_key("Target") {
        bail!("target is required");
    }
    m.insert("Type".into(), json!(kind));
    if !bind.is_empty() {
        m.insert("BindOptions".into(), Value::Object(bind));
    }
    if !driver_opts.is_empty() {
        driver.insert("Options".into(), Value::Object(driver_opts));
    }
    if !driver.is_empty() {
        volume.insert("DriverConfig".into(), Value::Object(driver));
    }
    if !labels.is_empty() {
        volume.insert("Labels".into(), Value::Object(labels));
    }
    if !volume.is_empty() {
        m.insert("VolumeOptions".into(), Value::Object(volume));
    }
    if !tmpfs.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_like_docker() {
        let v = parse_mount("type=bind,src=/h,dst=/c,readonly,bind-propagation=rshared").unwrap();
        assert_eq!(
            v,
            json!({"Type": "bind", "Source": "/h", "Target": "/c", "ReadOnly": true,
                   "BindOptions": {"Propagation": "rshared"}})
        );
        let v = parse_mount(
            "source=data,target=/d,volume-nocopy,volume-opt=size=1g,volume-driver=local",
        )
        .unwrap();
        assert_eq!(v["Type"], "volume");
        assert_eq!(v["VolumeOptions"]["NoCopy"], true);
        assert_eq!(v["VolumeOptions"]["DriverConfig"]["Options"]["size"], "1g");
        let v = parse_mount("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
        assert_eq!(
            v["TmpfsOptions"],
            json!({"SizeBytes": 64 << 20, "Mode": 0o1770})
        );
        assert!(parse_mount("type=bind,src=/h").is_err());
        assert!(parse_mount("type=bind,colour=red,target=/c").is_err());
        assert!(parse_mount("target").is_err());
    }
}
