//! Entry names and the symlink-free path walk that keeps extraction inside its root.
//!
//! Extraction happens in a private staging directory that only this process writes, one entry at a
//! time, so checking each existing component with lstat right before use is race-free: the only
//! thing that could plant a symlink is an earlier entry of the same layer, and that is what the
//! walk looks for.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Splits a tar name into its components, dropping `.` and empty ones (`./a//b/` is `a/b`).
/// Returns the reason when the name is one a layer must never contain. An empty result is the
/// layer root itself (`./`).
pub fn components(name: &[u8]) -> std::result::Result<Vec<OsString>, &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.contains(&0) {
        return Err("name contains a nul byte");
    }
    if name.starts_with(b"/") {
        return Err("absolute name");
    }
    let mut out = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("name contains a '..' component"),
            _ => out.push(OsStr::from_bytes(c).to_os_string()),
        }
    }
    Ok(out)
}

/// An [`Error::UnsafeLayer`] naming the entry.
pub(super) fn unsafe_entry(entry: &str, reason: impl std::fmt::Display) -> Error {
    Error::UnsafeLayer(format!("{entry}: {reason}"))
}

/// Walks `comps` below `root` and returns the directory they name, creating missing directories
/// (mode 0755, as docker does for parents a layer omits). Fails if any existing component is a
/// symlink or not a directory, so nothing is ever created outside `root`.
pub(super) fn ensure_dir(root: &Path, comps: &[OsString], entry: &str) -> Result<PathBuf> {
    let mut cur = root.to_path_buf();
    for c in comps {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(unsafe_entry(
                    entry,
                    format!("parent {} is a symlink", rel(root, &cur)),
                ));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::InvalidArchive(format!(
                    "{entry}: parent {} is not a directory",
                    rel(root, &cur)
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&cur).ctx(|| format!("create {}", cur.display()))?;
                fs::set_permissions(&cur, fs::Permissions::from_mode(0o755))
                    .ctx(|| format!("chmod {}", cur.display()))?;
            }
            Err(e) => return Err(Error::io(format!("stat {}", cur.display()), e)),
        }
    }
    Ok(cur)
}

/// Resolves an existing hardlink target inside `root` without following any symlink on the way
/// (the target itself may be a symlink: link(2) links the symlink, not what it points to).
pub(super) fn existing_target(root: &Path, name: &[u8], entry: &str) -> Result<PathBuf> {
    let shown = String::from_utf8_lossy(name);
    let comps = components(name)
        .map_err(|why| unsafe_entry(entry, format!("hardlink target {shown:?}: {why}")))?;
    let Some((last, parents)) = comps.split_last() else {
        return Err(unsafe_entry(entry, "hardlink to the layer root"));
    };
    let mut cur = root.to_path_buf();
    for c in parents {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(unsafe_entry(
                    entry,
                    format!(
                        "hardlink target {shown:?} passes through symlink {}",
                        rel(root, &cur)
                    ),
                ));
            }
            _ => return Err(missing_target(entry, &shown)),
        }
    }
    cur.push(last);
    match fs::symlink_metadata(&cur) {
        Ok(m) if m.is_dir() => Err(unsafe_entry(
            entry,
            format!("hardlink target {shown:?} is a directory"),
        )),
        Ok(_) => Ok(cur),
        Err(_) => Err(missing_target(entry, &shown)),
    }
}

fn missing_target(entry: &str, target: &str) -> Error {
    unsafe_entry(
        entry,
        format!("hardlink target {target:?} does not exist in this layer"),
    )
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_rejects_names() {
        assert_eq!(components(b"./a//b/").unwrap(), vec!["a", "b"]);
        assert!(components(b"./").unwrap().is_empty());
        assert!(components(b".").unwrap().is_empty());
        assert!(components(b"").is_err());
        assert!(components(b"/etc/passwd").is_err());
        assert!(components(b"a/../../b").is_err());
        assert!(components(b"..").is_err());
        assert!(components(b"a\0b").is_err());
        assert_eq!(components(b"..a/b..").unwrap(), vec!["..a", "b.."]);
    }
}
