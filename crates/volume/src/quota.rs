//! Disk quota through filesystem project quotas (ext4 with `prjquota`, xfs with `pquota`), set
//! from Rust without quota-tools. A directory's project id is its own inode number: unique on its
//! filesystem for as long as the directory exists, so no id bookkeeping can go stale.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use pouch_sys::mount::mount_of;
use pouch_sys::quota;

use crate::{Result, VolumeError};

/// The block device of the filesystem holding `dir`, checked for project quota accounting.
pub fn quota_device(dir: &Path) -> Result<PathBuf> {
    let m = mount_of(dir)
        .map_err(|e| VolumeError::Driver(format!("disk quota: {}: {e}", dir.display())))?;
    let unsupported = |why: &str| {
        VolumeError::Invalid(format!(
            "disk quota needs project quotas on the filesystem holding {} ({} on {}, mounted at \
             {}): {why}. Use an ext4 filesystem with the project feature mounted with -o prjquota, \
             or xfs mounted with -o pquota",
            dir.display(),
            m.fstype,
            m.source,
            m.mount_point.display()
        ))
    };
    if !matches!(m.fstype.as_str(), "ext4" | "xfs") {
        return Err(unsupported("only ext4 and xfs have project quotas"));
    }
    let dev = PathBuf::from(&m.source);
    match quota::project_quota_enabled(&dev) {
        Ok(true) => Ok(dev),
        Ok(false) => Err(unsupported("project quota is not enabled")),
        Err(e) => Err(unsupported(&format!("cannot query quota state: {e}"))),
    }
}

/// Puts each of `dirs` (all on one filesystem) in the project of the first and limits it to
/// `bytes` (0 lifts the limit). Returns the project id.
pub fn set_quota(dirs: &[&Path], bytes: u64) -> Result<u32> {
    let first = dirs
        .first()
        .ok_or_else(|| VolumeError::Invalid("no directory for the disk quota".into()))?;
    let dev = quota_device(first)?;
    let io = |p: &Path, e: std::io::Error| {
        VolumeError::Driver(format!("disk quota on {}: {e}", p.display()))
    };
    let ino = std::fs::metadata(first).map_err(|e| io(first, e))?.ino();
    let id = u32::try_from(ino).map_err(|_| {
        VolumeError::Driver(format!(
            "disk quota on {}: inode number {ino} does not fit a project id",
            first.display()
        ))
    })?;
    for d in dirs {
        let f = std::fs::File::open(d).map_err(|e| io(d, e))?;
        quota::set_project_id(f.as_fd(), id).map_err(|e| io(d, e))?;
    }
    quota::set_project_limit(&dev, id, bytes).map_err(|e| io(first, e))?;
    Ok(id)
}

/// Parses docker/PouchContainer sizes: `10g`, `512m`, `1.5G`, `100kb`, plain bytes.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        VolumeError::Invalid(format!(
            "invalid size {s:?}: use a number with an optional unit (k, m, g, t)"
        ))
    })?;
    if v.is_nan() || v < 0.0 || !v.is_finite() {
        return Err(VolumeError::Invalid(format!("invalid size {s:?}")));
    }
    Ok((v * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10g").unwrap(), 10 << 30);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("100kb").unwrap(), 100 << 10);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("-1g").is_err());
    }
}
