//! Populates a new volume from the image, as docker does for a volume mounted over a directory
//! that has content: files, directories and symlinks with owners, modes and times. Symlinks are
//! copied as links, never followed, so an image cannot make pouchd read host files.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use pouch_sys::fs::{lchown, set_times_nofollow};

/// True when `dir` has no entries (a missing directory counts as empty).
pub fn is_empty(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut rd) => rd.next().is_none(),
        Err(_) => true,
    }
}

/// Copies the content of `src` (a real directory, checked by the caller) into `dst`, and gives
/// `dst` the owner and mode of `src`.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let m = std::fs::symlink_metadata(src)?;
    if !m.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let m = std::fs::symlink_metadata(&from)?;
        let ft = m.file_type();
        if ft.is_symlink() {
            symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_dir() {
            std::fs::create_dir(&to)?;
            copy_tree(&from, &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
        } else {
            // Devices, fifos and sockets are not volume content.
            continue;
        }
        lchown(&to, m.uid(), m.gid())?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        }
        let _ = set_times_nofollow(&to, m.mtime(), m.mtime_nsec());
    }
    lchown(dst, m.uid(), m.gid())?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_without_following_links() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), b"hello").unwrap();
        symlink("/etc/passwd", src.join("link")).unwrap();
        let dst = t.path().join("dst");
        assert!(is_empty(&dst));
        copy_tree(&src, &dst).unwrap();
        assert_eq!(std::fs::read(dst.join("sub/f")).unwrap(), b"hello");
        assert_eq!(
            std::fs::read_link(dst.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(!is_empty(&dst));
    }
}
