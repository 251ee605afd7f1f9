//! The outer tar of `docker load` unpacked into a scratch directory: regular files only, with
//! in-archive symlinks and hardlinks kept as a lexical map instead of being created.
//!
//! Archives reference their files through links (docker's legacy layout points `<id>/layer.tar`
//! at `../<other id>/layer.tar`), but nothing in an archive may make the loader read outside it,
//! so links are resolved by name inside the archive and never touch the host filesystem.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use tar::EntryType;

use crate::error::{Error, IoContext, Result};
use crate::hashio::copy_entry;

/// Symlink hops followed before giving up on a loop.
const MAX_HOPS: usize = 40;
const BUF_SIZE: usize = 128 * 1024;

pub(crate) struct Staging {
    root: PathBuf,
    /// Link path → target path, both as normalized archive-relative components.
    links: HashMap<Vec<String>, Vec<String>>,
}

fn invalid(msg: String) -> Error {
    Error::InvalidArchive(msg)
}

/// Splits an archive-relative name into components; `..` and absolute names are refused so every
/// name stays inside the archive.
fn split(name: &str) -> Result<Vec<String>> {
    if name.starts_with('/') {
        return Err(invalid(format!("{name}: absolute path in archive")));
    }
    let mut out = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(invalid(format!("{name}: '..' in archive path"))),
            c => out.push(c.to_owned()),
        }
    }
    Ok(out)
}

impl Staging {
    /// Streams the archive into `root` (an existing empty directory).
    pub(crate) fn extract(r: impl Read, root: &Path) -> Result<Staging> {
        let mut st = Staging {
            root: root.to_path_buf(),
            links: HashMap::new(),
        };
        let mut archive = tar::Archive::new(BufReader::with_capacity(BUF_SIZE, r));
        let mut buf = vec![0u8; BUF_SIZE];
        let corrupt = |e: io::Error| invalid(format!("corrupt archive: {e}"));
        for entry in archive.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            let name = String::from_utf8(entry.path_bytes().into_owned())
                .map_err(|_| invalid("archive path is not utf-8".into()))?;
            let comps = split(&name)?;
            match entry.header().entry_type() {
                EntryType::Regular | EntryType::Continuous => {
                    if comps.is_empty() {
                        return Err(invalid(format!("{name}: file without a name")));
                    }
                    st.links.remove(&comps);
                    let path = st.file_path(&comps)?;
                    let want = entry.size();
                    let got = st.write_file(&mut entry, &path, &mut buf)?;
                    if got != want {
                        return Err(invalid(format!(
                            "{name}: archive is truncated: got {got} of {want} bytes"
                        )));
                    }
                }
                kind @ (EntryType::Symlink | EntryType::Link) => {
                    let target = entry
                        .link_name_bytes()
                        .ok_or_else(|| invalid(format!("{name}: link without target")))?;
                    let target = std::str::from_utf8(&target)
                        .map_err(|_| invalid(format!("{name}: link target is not utf-8")))?;
                    let resolved = if kind == EntryType::Link {
                        split(target)?
                    } else {
                        lexical_join(&comps, target).ok_or_else(|| {
                            invalid(format!("{name}: link {target:?} leaves the archive"))
                        })?
                    };
                    st.links.insert(comps, resolved);
                }
                // Directories are implied by the files in them; nothing else matters to a loader.
                _ => {}
            }
        }
        Ok(st)
    }

    fn write_file(&self, r: &mut impl Read, path: &Path, buf: &mut [u8]) -> Result<u64> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| invalid(format!("{}: {e}", parent.display())))?;
        }
        if fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            fs::remove_file(path).ctx(|| format!("replace {}", path.display()))?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        copy_entry(r, &mut file, path, buf, |e| {
            invalid(format!("corrupt archive: {e}"))
        })
    }

    /// Where a regular file named `comps` is stored: its parent resolved through links, so a file
    /// written "into" a linked directory lands where reads will look for it.
    fn file_path(&self, comps: &[String]) -> Result<PathBuf> {
        let (last, parent) = comps.split_last().expect("non-empty");
        let mut real = self.resolve_comps(parent)?;
        real.push(last.clone());
        Ok(self.root.join(real.join("/")))
    }

    fn resolve_comps(&self, comps: &[String]) -> Result<Vec<String>> {
        let mut hops = 0;
        let mut cur: Vec<String> = Vec::new();
        let mut pending: Vec<String> = comps.iter().rev().cloned().collect();
        while let Some(c) = pending.pop() {
            cur.push(c);
            if let Some(target) = self.links.get(&cur) {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(invalid(format!(
                        "too many links resolving {}",
                        comps.join("/")
                    )));
                }
                pending.extend(target.iter().rev().cloned());
                cur.clear();
            }
        }
        Ok(cur)
    }

    /// The on-disk path of the regular file `name` refers to, or `None` if the archive lacks it.
    pub(crate) fn find(&self, name: &str) -> Result<Option<PathBuf>> {
        let comps = self.resolve_comps(&split(name)?)?;
        if comps.is_empty() {
            return Ok(None);
        }
        let path = self.root.join(comps.join("/"));
        Ok(fs::symlink_metadata(&path)
            .is_ok_and(|m| m.is_file())
            .then_some(path))
    }

    pub(crate) fn exists(&self, name: &str) -> bool {
        matches!(self.find(name), Ok(Some(_)))
    }

    /// Opens `name`, failing with [`Error::MissingBlob`] that says who referenced it.
    pub(crate) fn open(&self, name: &str, referrer: &str) -> Result<File> {
        let path = self.find(name)?.ok_or_else(|| missing(name, referrer))?;
        File::open(&path).ctx(|| format!("open {}", path.display()))
    }

    /// Reads a small metadata file (config, manifest, index) whole.
    pub(crate) fn read(&self, name: &str, referrer: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(name, referrer)?
            .read_to_end(&mut bytes)
            .ctx(|| format!("read {name} from archive"))?;
        Ok(bytes)
    }
}

pub(crate) fn missing(name: &str, referrer: &str) -> Error {
    let name = match name.strip_prefix("blobs/sha256/") {
        Some(hex) => format!("blob sha256:{hex}"),
        None => name.to_owned(),
    };
    Error::MissingBlob(format!(
        "{name} referenced by {referrer} is not in the archive"
    ))
}

/// Resolves symlink `target` relative to the directory of the link `link`, purely by name.
/// `None` if it climbs out of the archive root or is absolute.
fn lexical_join(link: &[String], target: &str) -> Option<Vec<String>> {
    if target.starts_with('/') {
        return None;
    }
    let mut out: Vec<String> = link[..link.len().saturating_sub(1)].to_vec();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c.to_owned()),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TarBuf;

    #[test]
    fn resolves_links_inside_the_archive() {
        let tar = TarBuf::new()
            .file("a/layer.tar", b"L", 0o644)
            .symlink("b/layer.tar", "../a/layer.tar")
            .symlink("c", "a")
            .hardlink("d/layer.tar", "a/layer.tar")
            .symlink("loop1", "loop2")
            .symlink("loop2", "loop1")
            .finish();
        let dir = tempfile::tempdir().unwrap();
        let st = Staging::extract(&tar[..], dir.path()).unwrap();
        for name in [
            "a/layer.tar",
            "b/layer.tar",
            "c/layer.tar",
            "d/layer.tar",
            "./c/./layer.tar",
        ] {
            assert_eq!(st.read(name, "test").unwrap(), b"L", "{name}");
        }
        assert!(st.find("loop1").is_err());
        assert!(matches!(
            st.open("nope", "manifest.json"),
            Err(Error::MissingBlob(_))
        ));
        assert!(!dir.path().join("b").exists());
    }

    #[test]
    fn refuses_escapes() {
        for tar in [
            TarBuf::new().symlink("x", "../../etc").finish(),
            TarBuf::new().symlink("x", "/etc").finish(),
            TarBuf::new()
                .raw(b"../x", EntryType::Regular, b"1", b"")
                .finish(),
            TarBuf::new()
                .raw(b"/x", EntryType::Regular, b"1", b"")
                .finish(),
            TarBuf::new()
                .raw(b"x", EntryType::Link, b"", b"../etc/passwd")
                .finish(),
        ] {
            let dir = tempfile::tempdir().unwrap();
            assert!(matches!(
                Staging::extract(&tar[..], dir.path()),
                Err(Error::InvalidArchive(_))
            ));
        }
    }
}
