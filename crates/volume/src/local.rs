//! The `local` driver: a directory `<root>/volumes/<name>/_data`, or, with the `type`/`device`/`o`
//! options of docker's local driver, a filesystem mounted there while a container uses it. The
//! option `size` limits the volume with a project quota.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pouch_sys::mount::{is_mounted, mount_with_options, unmount};

use crate::quota::{parse_size, set_quota};
use crate::{Driver, Result, VolumeError, VolumeInfo, validate_name};

const OPTS_FILE: &str = "opts.json";
const VALID_OPTS: [&str; 4] = ["type", "device", "o", "size"];

pub struct LocalDriver {
    root: PathBuf,
    /// Containers that have each device-backed volume mounted.
    users: Mutex<HashMap<String, HashSet<String>>>,
}

impl LocalDriver {
    /// `root` is `<pouch root>/volumes`.
    pub fn new(root: PathBuf) -> Result<LocalDriver> {
        std::fs::create_dir_all(&root)
            .map_err(|e| VolumeError::Driver(format!("create {}: {e}", root.display())))?;
        Ok(LocalDriver {
            root,
            users: Mutex::new(HashMap::new()),
        })
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn data(&self, name: &str) -> PathBuf {
        self.dir(name).join("_data")
    }

    fn opts(&self, name: &str) -> Result<BTreeMap<String, String>> {
        match std::fs::read(self.dir(name).join(OPTS_FILE)) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| VolumeError::Driver(format!("volume {name}: bad {OPTS_FILE}: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(VolumeError::Driver(format!("volume {name}: {e}"))),
        }
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Checks the options as docker's local driver does, plus `size`.
pub fn validate_opts(opts: &BTreeMap<String, String>) -> Result<()> {
    for k in opts.keys() {
        if !VALID_OPTS.contains(&k.as_str()) {
            return Err(VolumeError::Invalid(format!(
                "invalid option key: {k:?} (the local driver takes type, device, o and size)"
            )));
        }
    }
    let has = |k: &str| opts.get(k).is_some_and(|v| !v.is_empty());
    if has("type") != has("device") && !(has("type") && opts["type"] == "tmpfs") {
        return Err(VolumeError::Invalid(
            "the local driver needs both 'type' and 'device' to mount a filesystem".into(),
        ));
    }
    if has("o") && !has("type") {
        return Err(VolumeError::Invalid(
            "the local driver's 'o' option needs 'type' and 'device'".into(),
        ));
    }
    if let Some(s) = opts.get("size") {
        parse_size(s)?;
    }
    Ok(())
}

impl Driver for LocalDriver {
    fn name(&self) -> &str {
        "local"
    }

    fn create(&self, name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
        validate_name(name)?;
        validate_opts(opts)?;
        let dir = self.dir(name);
        let data = self.data(name);
        let io = |e: std::io::Error| VolumeError::Driver(format!("create volume {name}: {e}"));
        std::fs::create_dir_all(&data).map_err(io)?;
        let write = || -> std::io::Result<()> {
            let tmp = dir.join(".opts.tmp");
            std::fs::write(&tmp, serde_json::to_vec(opts).unwrap_or_default())?;
            std::fs::rename(&tmp, dir.join(OPTS_FILE))
        };
        write().map_err(io)?;
        if let Some(size) = opts.get("size") {
            if let Err(e) = set_quota(&[&data], parse_size(size)?) {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<()> {
        let data = self.data(name);
        if self.users().get(name).is_some_and(|u| !u.is_empty()) || is_mounted(&data) {
            return Err(VolumeError::InUse(format!(
                "volume {name} is still mounted"
            )));
        }
        match std::fs::remove_dir_all(self.dir(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(VolumeError::Driver(format!("remove volume {name}: {e}"))),
        }
    }

    fn get(&self, name: &str) -> Result<VolumeInfo> {
        if !self.dir(name).is_dir() {
            return Err(VolumeError::NotFound(format!("no such volume: {name}")));
        }
        Ok(VolumeInfo {
            name: name.into(),
            mountpoint: self.data(name),
            status: None,
        })
    }

    fn mount(&self, name: &str, caller: &str) -> Result<PathBuf> {
        let data = self.data(name);
        let opts = self.opts(name)?;
        let Some(kind) = opts.get("type").filter(|t| !t.is_empty()) else {
            if !data.is_dir() {
                return Err(VolumeError::NotFound(format!(
                    "volume {name}: data directory {} is missing",
                    data.display()
                )));
            }
            return Ok(data);
        };
        let mut users = self.users();
        let set = users.entry(name.to_string()).or_default();
        if set.is_empty() && !is_mounted(&data) {
            let device = opts.get("device").map(String::as_str).unwrap_or(kind);
            let o = opts.get("o").map(String::as_str).unwrap_or("");
            mount_with_options(device, &data, kind, o)
                .map_err(|e| VolumeError::Driver(format!("volume {name}: {e}")))?;
        }
        set.insert(caller.to_string());
        Ok(data)
    }

    fn unmount(&self, name: &str, caller: &str) -> Result<()> {
        let opts = self.opts(name)?;
        if opts.get("type").is_none_or(|t| t.is_empty()) {
            return Ok(());
        }
        let mut users = self.users();
        let set = users.entry(name.to_string()).or_default();
        set.remove(caller);
        if set.is_empty() {
            users.remove(name);
            unmount(&self.data(name))
                .map_err(|e| VolumeError::Driver(format!("volume {name}: {e}")))?;
        }
        Ok(())
    }
}

/// Size in bytes of the files below `dir` (apparent sizes, hard links counted once per walk).
pub fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut seen = HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.nlink() <= 1 || seen.insert(m.ino()) {
                total += m.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_get_remove() {
        let t = tempfile::tempdir().unwrap();
        let d = LocalDriver::new(t.path().join("volumes")).unwrap();
        d.create("data1", &BTreeMap::new()).unwrap();
        let info = d.get("data1").unwrap();
        assert!(info.mountpoint.ends_with("data1/_data"));
        assert_eq!(d.mount("data1", "c1").unwrap(), info.mountpoint);
        d.unmount("data1", "c1").unwrap();
        std::fs::write(info.mountpoint.join("f"), b"x").unwrap();
        d.remove("data1").unwrap();
        assert!(matches!(d.get("data1"), Err(VolumeError::NotFound(_))));
    }

    #[test]
    fn options_checked() {
        let o = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert!(validate_opts(&o(&[("type", "tmpfs"), ("device", "tmpfs")])).is_ok());
        assert!(validate_opts(&o(&[("type", "tmpfs"), ("o", "size=1m")])).is_ok());
        assert!(validate_opts(&o(&[("colour", "red")])).is_err());
        assert!(validate_opts(&o(&[("device", "/dev/sdz")])).is_err());
        assert!(validate_opts(&o(&[("o", "size=1m")])).is_err());
        assert!(validate_opts(&o(&[("size", "big")])).is_err());
    }
}
