//! Layer extraction: applies one image layer (a tar, optionally gzipped) to an empty directory
//! that becomes an overlayfs lowerdir.
//!
//! This is the code that handles untrusted input with root privileges, so it does its own path
//! handling instead of `tar::Entry::unpack_in`: every name is checked lexically, every parent is
//! walked without following symlinks, hardlinks must point at something this layer created, device
//! nodes are refused unless allowed, and a layer may not forge overlayfs metadata. OCI whiteouts are
//! translated to overlayfs' format on the way (`.wh.x` → 0:0 char device `x`, `.wh..wh..opq` →
//! `trusted.overlay.opaque=y`).

mod path;

pub use path::components as tar_name_components;
#[cfg(test)]
mod tests;

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pouch_sys::fs::{self as sysfs, NodeKind};
use tar::EntryType;

use crate::error::{Error, IoContext, Result};
use crate::hashio::{copy_entry, decompress};
use path::{components, ensure_dir, existing_target, unsafe_entry};

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const XATTR_PAX_PREFIX: &str = "SCHILY.xattr.";
const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
const BUF_SIZE: usize = 128 * 1024;

/// What a layer may contain beyond files, directories, links and fifos.
#[derive(Clone, Debug, Default)]
pub struct UnpackOptions {
    /// Create character and block device nodes. Off by default: image layers have no business
    /// shipping devices, and a device node in a rootfs is a way around the device cgroup.
    pub allow_devices: bool,
}

/// Extracts the layer read from `r` into `dest` (an existing, empty directory) and returns the sum
/// of the sizes of its regular files.
///
/// Fails with [`Error::UnsafeLayer`] for hostile entries, [`Error::InvalidArchive`] for a corrupt or
/// truncated tar, [`Error::Unsupported`] for bzip2 and xz. On error `dest` holds a partial tree that the
/// caller must delete. Reading stops at the tar end marker; callers that hash the stream drain the
/// rest themselves. Like docker, an archive cut exactly at an entry boundary is not detectable and
/// is accepted; a cut inside an entry or a header is not.
pub fn apply_layer(r: impl Read, dest: &Path, opts: &UnpackOptions) -> Result<u64> {
    // Buffered so tar's 512-byte header reads do not each become a read(2) on a raw file. Bytes
    // read ahead past the end marker still come out of `r`, so hashing wrappers see them.
    let (_, r) = decompress(BufReader::with_capacity(BUF_SIZE, r))?;
    let mut archive = tar::Archive::new(r);
    let entries = archive.entries().map_err(corrupt)?;
    let mut ex = Extractor {
        root: dest,
        opts,
        dirs: Vec::new(),
        size: 0,
        buf: vec![0; BUF_SIZE],
    };
    for entry in entries {
        let mut entry = entry.map_err(corrupt)?;
        ex.entry(&mut entry)?;
    }
    ex.finish()
}

fn corrupt(e: io::Error) -> Error {
    Error::InvalidArchive(format!("corrupt layer tar: {e}"))
}

/// Metadata of an entry gathered from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    xattrs: Vec<(OsString, Vec<u8>)>,
}

struct Extractor<'a> {
    root: &'a Path,
    opts: &'a UnpackOptions,
    /// Directory mtimes, applied once every entry is in place (adding entries changes them).
    dirs: Vec<(PathBuf, (i64, i64))>,
    size: u64,
    /// Copy buffer shared by all file entries.
    buf: Vec<u8>,
}

impl Extractor<'_> {
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<()> {
        let kind = e.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let raw_name = e.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        let comps = components(&raw_name).map_err(|why| unsafe_entry(&name, why))?;
        let meta = read_meta(e, &name)?;

        let Some((last, parents)) = comps.split_last() else {
            // `./`: the layer's own root directory.
            if !kind.is_dir() {
                return Err(unsafe_entry(&name, "the layer root must be a directory"));
            }
            let root = self.root.to_path_buf();
            return self.apply_meta(&root, &meta, Kind::Dir, &name);
        };

        let base = last.as_bytes();
        if base.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(parents, base, &meta, &name);
        }

        let parent = ensure_dir(self.root, parents, &name)?;
        let path = parent.join(last);
        match kind {
            EntryType::Directory => {
                let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
                if !is_dir {
                    clear(&path)?;
                    fs::create_dir(&path).ctx(|| format!("create {}", path.display()))?;
                }
                self.apply_meta(&path, &meta, Kind::Dir, &name)
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                clear(&path)?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .ctx(|| format!("create {}", path.display()))?;
                let want = e.size();
                let got = copy_entry(e, &mut file, &path, &mut self.buf, corrupt)?;
                if got != want {
                    return Err(Error::InvalidArchive(format!(
                        "{name}: truncated layer: got {got} of {want} bytes"
                    )));
                }
                self.size += got;
                apply_file_meta(&file, &path, &meta)?;
                drop(file);
                self.apply_meta(&path, &meta, Kind::File, &name)
            }
            EntryType::Symlink => {
                let target = e.link_name_bytes().ok_or_else(|| {
                    Error::InvalidArchive(format!("{name}: symlink without target"))
                })?;
                if target.is_empty() || target.contains(&0) {
                    return Err(unsafe_entry(&name, "invalid symlink target"));
                }
                clear(&path)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path)
                    .ctx(|| format!("symlink {}", path.display()))?;
                self.apply_meta(&path, &meta, Kind::Symlink, &name)
            }
            EntryType::Link => {
                let target = e.link_name_bytes().ok_or_else(|| {
                    Error::InvalidArchive(format!("{name}: hardlink without target"))
                })?;
                let target = existing_target(self.root, &target, &name)?;
                if target == path {
                    return Ok(());
                }
                clear(&path)?;
                // std's hard_link is linkat(2) without AT_SYMLINK_FOLLOW: a symlink target is
                // linked itself, never followed.
                fs::hard_link(&target, &path).ctx(|| format!("link {}", path.display()))
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let node = match kind {
                    EntryType::Char => NodeKind::Char,
                    EntryType::Block => NodeKind::Block,
                    _ => NodeKind::Fifo,
                };
                if node != NodeKind::Fifo && !self.opts.allow_devices {
                    return Err(unsafe_entry(
                        &name,
                        "device nodes are not allowed in layers",
                    ));
                }
                let major = e.header().device_major().map_err(corrupt)?.unwrap_or(0);
                let minor = e.header().device_minor().map_err(corrupt)?.unwrap_or(0);
                clear(&path)?;
                sysfs::mknod(&path, node, 0o600, major.into(), minor.into())
                    .ctx(|| format!("mknod {}", path.display()))?;
                self.apply_meta(&path, &meta, Kind::Node, &name)
            }
            other => Err(Error::InvalidArchive(format!(
                "{name}: unsupported tar entry type {:?}",
                other.as_byte() as char
            ))),
        }
    }

    /// `.wh..wh..opq` makes its directory opaque; `.wh.<x>` becomes an overlay whiteout for `x`;
    /// other `.wh..wh.` names are aufs bookkeeping and are skipped, as docker does.
    fn whiteout(
        &mut self,
        parents: &[OsString],
        base: &[u8],
        meta: &Meta,
        name: &str,
    ) -> Result<()> {
        let dir = ensure_dir(self.root, parents, name)?;
        if base == OPAQUE_WHITEOUT.as_bytes() {
            return sysfs::set_opaque(&dir).ctx(|| format!("mark {} opaque", dir.display()));
        }
        if base.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
            tracing::debug!(entry = name, "skipping aufs metadata entry");
            return Ok(());
        }
        let hidden = &base[WHITEOUT_PREFIX.len()..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(unsafe_entry(name, "whiteout of an invalid name"));
        }
        let path = dir.join(OsStr::from_bytes(hidden));
        clear(&path)?;
        sysfs::create_whiteout(&path).ctx(|| format!("create whiteout {}", path.display()))?;
        sysfs::lchown(&path, meta.uid, meta.gid).ctx(|| format!("chown {}", path.display()))
    }

    /// Applies ownership, mode, xattrs and times to a path this extractor just created (so it is
    /// known not to be a symlink unless `kind` says so).
    fn apply_meta(&mut self, path: &Path, meta: &Meta, kind: Kind, name: &str) -> Result<()> {
        if kind != Kind::File {
            sysfs::lchown(path, meta.uid, meta.gid).ctx(|| format!("chown {}", path.display()))?;
            if kind != Kind::Symlink {
                fs::set_permissions(path, fs::Permissions::from_mode(meta.mode))
                    .ctx(|| format!("chmod {}", path.display()))?;
            }
        }
        // After chown: chown clears security.capability.
        for (key, value) in &meta.xattrs {
            set_xattr(path, key, value, name)?;
        }
        if kind == Kind::Dir {
            self.dirs.push((path.to_path_buf(), meta.mtime));
            return Ok(());
        }
        sysfs::set_times_nofollow(path, meta.mtime.0, meta.mtime.1)
            .ctx(|| format!("set times of {}", path.display()))
    }

    fn finish(self) -> Result<u64> {
        for (dir, (secs, nsecs)) in self.dirs.iter().rev() {
            // A later entry may have replaced the directory; only touch what is still one.
            if fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
                sysfs::set_times_nofollow(dir, *secs, *nsecs)
                    .ctx(|| format!("set times of {}", dir.display()))?;
            }
        }
        Ok(self.size)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Node,
}

/// Ownership and mode through the open handle, in that order (chown clears set-id bits).
fn apply_file_meta(file: &File, path: &Path, meta: &Meta) -> Result<()> {
    std::os::unix::fs::fchown(file, Some(meta.uid), Some(meta.gid))
        .ctx(|| format!("chown {}", path.display()))?;
    file.set_permissions(fs::Permissions::from_mode(meta.mode))
        .ctx(|| format!("chmod {}", path.display()))
}

fn set_xattr(path: &Path, key: &OsStr, value: &[u8], name: &str) -> Result<()> {
    match sysfs::lsetxattr(path, key, value) {
        Ok(()) => Ok(()),
        // Like containerd: a filesystem that cannot store an xattr (or a symlink that may not
        // carry a user.* one) loses it with a warning rather than failing the whole image.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => {
            tracing::warn!(entry = name, xattr = ?key, error = %e, "ignoring xattr from layer");
            Ok(())
        }
        Err(e) => Err(Error::io(
            format!("set xattr {key:?} on {}", path.display()),
            e,
        )),
    }
}

/// Removes whatever is at `path` so a later entry replaces an earlier one (a file replacing a
/// directory removes the whole directory, as docker does). `path`'s parent is symlink-free, and
/// neither removal follows a symlink at `path` itself.
fn clear(path: &Path) -> Result<()> {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    res.ctx(|| format!("replace {}", path.display()))
}

fn read_meta<R: Read>(e: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta> {
    let h = e.header();
    let mode = h.mode().map_err(corrupt)? & 0o7777;
    let uid = u32::try_from(h.uid().map_err(corrupt)?)
        .map_err(|_| Error::InvalidArchive(format!("{name}: uid out of range")))?;
    let gid = u32::try_from(h.gid().map_err(corrupt)?)
        .map_err(|_| Error::InvalidArchive(format!("{name}: gid out of range")))?;
    let mut mtime = (
        i64::try_from(h.mtime().map_err(corrupt)?).unwrap_or(i64::MAX),
        0,
    );
    let mut xattrs = Vec::new();
    if let Some(pax) = e.pax_extensions().map_err(corrupt)? {
        for ext in pax {
            let ext = ext.map_err(corrupt)?;
            let Ok(key) = ext.key() else { continue };
            if let Some(attr) = key.strip_prefix(XATTR_PAX_PREFIX) {
                if attr.starts_with(OVERLAY_XATTR_PREFIX) || attr == "trusted.overlay" {
                    return Err(unsafe_entry(
                        name,
                        format!("layer sets overlayfs xattr {attr}"),
                    ));
                }
                xattrs.push((OsString::from(attr), ext.value_bytes().to_vec()));
            } else if key == "mtime"
                && let Some(t) = ext.value().ok().and_then(parse_pax_time)
            {
                mtime = t;
            }
        }
    }
    Ok(Meta {
        mode,
        uid,
        gid,
        mtime,
        xattrs,
    })
}

/// Parses a PAX time (`1700000000.123456789`, possibly negative) into seconds and nanoseconds.
fn parse_pax_time(s: &str) -> Option<(i64, i64)> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    if frac.is_empty() {
        return Some((secs, 0));
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: i64 = digits.parse().ok()?;
    // -1.5 means 1.5 s before the epoch: -2 s plus 0.5 s.
    if s.starts_with('-') && nanos > 0 {
        Some((secs - 1, 1_000_000_000 - nanos))
    } else {
        Some((secs, nanos))
    }
}
