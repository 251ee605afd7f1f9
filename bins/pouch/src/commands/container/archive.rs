//! The local half of `cp`: the path-stat header, docker's copy rules (`PrepareArchiveCopy`),
//! and tar archives built and unpacked while they stream.

use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

/// Go's `os.ModeDir` and `os.ModeSymlink` bits in the stat's `mode`.
const MODE_DIR: u64 = 1 << 31;
const MODE_SYMLINK: u64 = 1 << 27;

/// A container path's `X-Docker-Container-Path-Stat`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub mode: u64,
    pub link_target: String,
}

impl PathStat {
    pub fn is_dir(&self) -> bool {
        self.mode & MODE_DIR != 0
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & MODE_SYMLINK != 0
    }

    /// Decodes the header value: base64 of a JSON object.
    pub fn from_header(value: &str) -> Result<PathStat> {
        let raw = base64_decode(value.trim()).ok_or_else(|| anyhow!("invalid path stat header"))?;
        let v: Value = serde_json::from_slice(&raw)?;
        Ok(PathStat {
            name: v["name"].as_str().unwrap_or_default().to_owned(),
            mode: v["mode"].as_u64().unwrap_or(0),
            link_target: v["linkTarget"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

/// Standard base64 (with or without padding).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|&b| b != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..=n]);
    }
    Some(out)
}

/// docker's `SplitPathDirEntry`: the parent and the last element, ignoring a trailing `/`
/// (`/a/b/` → `/a`, `b`; `/a/.` → `/a`, `.`).
pub fn split_dir_entry(path: &str) -> (String, String) {
    let cleaned = path.trim_end_matches('/');
    let cleaned = if cleaned.is_empty() { "/" } else { cleaned };
    match cleaned.rsplit_once('/') {
        Some(("", base)) => ("/".to_owned(), base.to_owned()),
        Some((dir, base)) => (dir.to_owned(), base.to_owned()),
        None => (".".to_owned(), cleaned.to_owned()),
    }
}

/// True when the path says it must be a directory (`dir/` or `dir/.`).
fn asserts_directory(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.")
}

/// Where an archive of `src` is extracted and what its top entry is renamed to, given what is
/// at the destination (docker's `PrepareArchiveCopy`): into an existing directory as is;
/// otherwise into the destination's parent, renamed to the destination's name.
pub fn prepare_copy(
    src_base: &str,
    src_is_dir: bool,
    dst: &str,
    dst_exists: bool,
    dst_is_dir: bool,
) -> Result<(String, Option<(String, String)>)> {
    let (dst_dir, dst_base) = split_dir_entry(dst);
    if dst_exists && dst_is_dir {
        return Ok((dst.to_owned(), None));
    }
    if dst_exists && src_is_dir {
        bail!("cannot copy directory");
    }
    if !dst_exists && !src_is_dir && asserts_directory(dst) {
        bail!("no such directory");
    }
    Ok((dst_dir, Some((src_base.to_owned(), dst_base))))
}

/// docker's `RebaseArchiveEntries` for one name: `old` (or `old/…`) becomes `new` (`new/…`).
pub fn rebase(name: &str, old: &str, new: &str) -> String {
    let trimmed = name.trim_start_matches("./");
    let old_trimmed = old.trim_start_matches("./");
    if old == "." {
        return match name.strip_prefix("./") {
            Some(rest) => format!("{new}/{rest}"),
            None if name == "." => new.to_owned(),
            None => name.to_owned(),
        };
    }
    if trimmed == old_trimmed {
        return new.to_owned();
    }
    match trimmed.strip_prefix(&format!("{old_trimmed}/")) {
        Some(rest) => format!("{new}/{rest}"),
        None => name.to_owned(),
    }
}

/// A relative path that stays inside the extraction directory, or `None`.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Reads chunks from an async producer on a blocking thread.
pub struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        ChannelReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.current = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Unpacks a tar read from `reader` into `dir`, renaming the top entry per `rename`; entries
/// that would land outside `dir` are refused.
pub fn unpack(reader: impl Read, dir: &Path, rename: Option<&(String, String)>) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let name = match rename {
            Some((old, new)) => rebase(&name, old, new),
            None => name,
        };
        let rel = safe_relative(&name).ok_or_else(|| anyhow!("invalid archive entry {name:?}"))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = dir.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        entry.unpack(&target)?;
    }
    Ok(())
}

/// Writes into a channel from a blocking thread (the tar builder's output).
pub struct ChannelWriter(pub mpsc::Sender<io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes a tar of `src` (a file or a directory tree, symlinks kept as links) whose top entry
/// is `root`.
pub fn build(src: &Path, root: &str, out: impl Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let meta = std::fs::symlink_metadata(src)?;
    if meta.is_dir() {
        builder.append_dir_all(root, src)?;
    } else {
        builder.append_path_with_name(src, root)?;
    }
    builder.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_stat_headers() {
        // base64 of {"name":"hosts","size":174,"mode":420,"mtime":"…","linkTarget":""}
        let header = "eyJuYW1lIjoiaG9zdHMiLCJzaXplIjoxNzQsIm1vZGUiOjQyMCwibXRpbWUiOiIyMDI0LTAxLTAxVDAwOjAwOjAwWiIsImxpbmtUYXJnZXQiOiIifQ==";
        let st = PathStat::from_header(header).unwrap();
        assert_eq!(st.name, "hosts");
        assert!(!st.is_dir() && !st.is_symlink());
        assert_eq!(base64_decode("aGk").unwrap(), b"hi");
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("a*b=").is_none());
        let dir = PathStat {
            mode: MODE_DIR | 0o755,
            ..PathStat::default()
        };
        assert!(dir.is_dir());
    }

    #[test]
    fn copy_rules_like_docker() {
        assert_eq!(split_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a"), ("/".into(), "a".into()));
        assert_eq!(split_dir_entry("rel"), (".".into(), "rel".into()));
        assert_eq!(split_dir_entry("/a/."), ("/a".into(), ".".into()));
        // Into an existing directory: unchanged.
        assert_eq!(
            prepare_copy("etc", true, "/tmp", true, true).unwrap(),
            ("/tmp".into(), None)
        );
        // To a new name: the parent, renamed.
        assert_eq!(
            prepare_copy("etc", true, "/tmp/new", false, false).unwrap(),
            ("/tmp".into(), Some(("etc".into(), "new".into())))
        );
        assert_eq!(
            prepare_copy("hosts", false, "/tmp/h", true, false).unwrap(),
            ("/tmp".into(), Some(("hosts".into(), "h".into())))
        );
        assert_eq!(
            prepare_copy("etc", true, "/tmp/f", true, false)
                .unwrap_err()
                .to_string(),
            "cannot copy directory"
        );
        assert_eq!(
            prepare_copy("hosts", false, "/tmp/nodir/", false, false)
                .unwrap_err()
                .to_string(),
            "no such directory"
        );
    }

    #[test]
    fn rebases_names() {
        assert_eq!(rebase("etc", "etc", "new"), "new");
        assert_eq!(rebase("etc/passwd", "etc", "new"), "new/passwd");
        assert_eq!(rebase("./etc/passwd", "etc", "new"), "new/passwd");
        assert_eq!(rebase("etcetera", "etc", "new"), "etcetera");
        assert_eq!(rebase("./a", ".", "new"), "new/a");
        assert!(safe_relative("../x").is_none());
        assert!(safe_relative("/abs").is_none());
        assert_eq!(safe_relative("./a/b").unwrap(), PathBuf::from("a/b"));
    }

    #[test]
    fn builds_and_unpacks_with_renames() {
        let tmp = std::env::temp_dir().join(format!("pouch-cp-test-{}", std::process::id()));
        let src = tmp.join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f.txt"), b"hello").unwrap();
        std::os::unix::fs::symlink("sub/f.txt", src.join("link")).unwrap();
        let mut tar = Vec::new();
        build(&src, "src", &mut tar).unwrap();
        let dst = tmp.join("dst");
        std::fs::create_dir_all(&dst).unwrap();
        unpack(&tar[..], &dst, Some(&("src".into(), "copy".into()))).unwrap();
        assert_eq!(std::fs::read(dst.join("copy/sub/f.txt")).unwrap(), b"hello");
        assert_eq!(
            std::fs::read_link(dst.join("copy/link")).unwrap(),
            PathBuf::from("sub/f.txt")
        );
        // A hostile entry is refused.
        let mut evil = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        let name = b"../escape";
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        evil.append(&h, &b"x"[..]).unwrap();
        let evil = evil.into_inner().unwrap();
        assert!(unpack(&evil[..], &dst, None).is_err());
        assert!(!tmp.join("escape").exists());
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
