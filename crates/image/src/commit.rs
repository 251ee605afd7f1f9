//! `docker commit`: a container's writable overlay layer becomes a new image layer on top of its
//! image.
//!
//! The upper dir is turned into an OCI layer tar (overlay whiteouts — 0:0 character devices —
//! become `.wh.<name>` entries, opaque directories get a `.wh..wh..opq` entry, other overlayfs
//! xattrs are dropped). The tar is stored uncompressed, so its blob digest is its diff id, and the
//! new snapshot is extracted from that stored blob, so layer and snapshot always agree.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use pouch_sys::fs as sysfs;
use tar::{Builder, EntryType, Header, HeaderMode};

use crate::archive::{LoadedImage, LoadedLayer};
use crate::content::ContentStore;
use crate::error::{Error, Result};
use crate::new_image::{uncompressed_layer, with_undo};
use crate::oci::{History, ImageConfig};
use crate::snapshot::{Snapshotter, chain_id};
use crate::unpack::{UnpackOptions, apply_layer};

const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What goes into the committed image besides the layer.
#[derive(Clone, Debug, Default)]
pub struct CommitSpec {
    /// The new image config without the new layer: the parent's config with `config` (the run
    /// config), `author`, `created` and extra fields already set. Its `rootfs.diff_ids` must be the
    /// parent's; the new diff id and a history entry are appended here.
    pub config: ImageConfig,
    /// The parent image's layers, bottom first.
    pub parent_layers: Vec<LoadedLayer>,
    /// History entry of the new layer (its `created` is set to the config's `created` if absent).
    pub history: History,
}

/// Writes the layer tar of `upper` to the content store, extracts it as a snapshot on top of the
/// parent chain, stores the new config and returns the image (untagged). On error nothing this
/// call created is left behind.
pub fn commit(
    upper: &Path,
    spec: CommitSpec,
    content: &ContentStore,
    snaps: &Snapshotter,
    opts: &UnpackOptions,
) -> Result<LoadedImage> {
    let mut writer = content.writer()?;
    {
        let mut b = Builder::new(&mut writer);
        b.follow_symlinks(false);
        let mut w = LayerWriter {
            builder: &mut b,
            links: HashMap::new(),
        };
        w.walk(upper, Path::new(""))
            .map_err(|e| Error::io(format!("archive {}", upper.display()), e))?;
        b.finish().map_err(|e| Error::io("finish layer tar", e))?;
    }
    if let Some(e) = writer.write_error() {
        return Err(Error::io("write layer blob", e));
    }
    let layer = writer.commit_new(None)?;
    let diff_id = layer.digest.clone();

    let parent_chain = spec.parent_layers.last().map(|l| l.chain_id.clone());
    let chain = chain_id(parent_chain.as_ref(), &diff_id);

    with_undo(content, snaps, "commit", &layer, |undo| {
        if !snaps.has(&chain) {
            let staged = snaps.prepare()?;
            let blob = content.open_blob(&diff_id)?;
            let size = apply_layer(blob, &staged.fs(), opts)?;
            if staged.commit(&chain, size)? {
                undo.snapshot = Some(chain.clone());
            }
        }
        let size = snaps.size(&chain)?;

        let mut config = spec.config;
        config.rootfs.diff_ids = spec
            .parent_layers
            .iter()
            .map(|l| l.diff_id.clone())
            .collect();
        config.rootfs.diff_ids.push(diff_id.clone());
        let mut history = spec.history;
        if history.created.is_none() {
            history.created = config.created.clone();
        }
        config.history.push(history);

        let mut layers = spec.parent_layers;
        layers.push(uncompressed_layer(&layer, chain.clone(), size));
        undo.image(config, layers)
    })
}

/// Writes the tar of an overlay upper dir.
struct LayerWriter<'a, W: Write> {
    builder: &'a mut Builder<W>,
    /// (dev, inode) of multiply-linked non-directories already written → their tar path.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> LayerWriter<'_, W> {
    fn walk(&mut self, dir: &Path, rel: &Path) -> io::Result<()> {
        let mut names: Vec<_> = fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let rel = rel.join(&name);
            let meta = fs::symlink_metadata(&path)?;
            self.entry(&path, &rel, &name, &meta)?;
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, rel: &Path, name: &OsStr, meta: &Metadata) -> io::Result<()> {
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            // An overlay whiteout: the name is deleted from the lower layers.
            let mut wh = OsStr::new(".wh.").to_os_string();
            wh.push(name);
            let wh_path = rel.with_file_name(wh);
            return self.empty_file(&wh_path, meta);
        }
        if ft.is_socket() || ft.is_char_device() || ft.is_block_device() {
            // Sockets cannot be archived; device nodes are refused by the unpacker anyway.
            tracing::debug!(path = %rel.display(), "commit: skipping special file");
            return Ok(());
        }

        let mut header = Header::new_gnu();
        header.set_metadata_in_mode(meta, HeaderMode::Complete);
        if !ft.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(target) = self.links.get(&key).cloned() {
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                return self.builder.append_link(&mut header, rel, target);
            }
            self.links.insert(key, rel.to_path_buf());
        }
        self.xattrs(path)?;
        if ft.is_dir() {
            header.set_size(0);
            self.builder.append_data(&mut header, rel, io::empty())?;
            if sysfs::lgetxattr(path, OsStr::new(OPAQUE_XATTR))?.as_deref() == Some(b"y") {
                self.empty_file(&rel.join(".wh..wh..opq"), meta)?;
            }
            self.walk(path, rel)
        } else if ft.is_symlink() {
            header.set_size(0);
            let target = fs::read_link(path)?;
            self.builder.append_link(&mut header, rel, target)
        } else if ft.is_file() {
            let f = File::open(path)?;
            // The size from metadata: a file growing while we read must not corrupt the tar.
            self.builder
                .append_data(&mut header, rel, io::Read::take(f, meta.len()))
        } else {
            // FIFO.
            header.set_size(0);
            self.builder.append_data(&mut header, rel, io::empty())
        }
    }

    fn empty_file(&mut self, rel: &Path, meta: &Metadata) -> io::Result<()> {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_size(0);
        h.set_mode(0o600);
        h.set_uid(meta.uid().into());
        h.set_gid(meta.gid().into());
        h.set_mtime(meta.mtime().max(0) as u64);
        self.builder.append_data(&mut h, rel, io::empty())
    }

    /// Writes a PAX header with the non-overlay xattrs of `path`, if it has any; it applies to the
    /// entry appended next.
    fn xattrs(&mut self, path: &Path) -> io::Result<()> {
        let names = match sysfs::llistxattr(path) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut exts: Vec<(String, Vec<u8>)> = Vec::new();
        for n in names {
            if n.as_bytes().starts_with(OVERLAY_XATTR_PREFIX.as_bytes()) {
                continue;
            }
            let Some(key) = n.to_str() else { continue };
            if let Some(v) = sysfs::lgetxattr(path, &n)? {
                exts.push((format!("SCHILY.xattr.{key}"), v));
            }
        }
        if exts.is_empty() {
            return Ok(());
        }
        self.builder
            .append_pax_extensions(exts.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
    }
}
