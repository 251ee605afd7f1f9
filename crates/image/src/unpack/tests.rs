use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::*;
use crate::testutil::{MTIME, TarBuf, gzip};

/// A scratch root with `dest` (extraction target) and `sentinel` (must never change) side by side.
struct Scratch {
    _dir: tempfile::TempDir,
    dest: PathBuf,
    sentinel: PathBuf,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("dest");
    let sentinel = dir.path().join("sentinel");
    fs::create_dir(&dest).unwrap();
    fs::create_dir(&sentinel).unwrap();
    fs::write(sentinel.join("secret"), b"secret").unwrap();
    Scratch {
        _dir: dir,
        dest,
        sentinel,
    }
}

impl Scratch {
    fn apply(&self, tar: &[u8]) -> Result<u64> {
        apply_layer(tar, &self.dest, &UnpackOptions::default())
    }

    /// Asserts the failure is an unsafe-layer error naming `entry` and that nothing escaped.
    fn assert_rejected(&self, tar: &[u8], entry: &str) {
        let err = self.apply(tar).unwrap_err();
        assert!(matches!(err, Error::UnsafeLayer(_)), "{entry}: {err:?}");
        assert!(
            err.to_string().contains(entry),
            "{err} does not name {entry}"
        );
        self.assert_untouched();
    }

    fn assert_untouched(&self) {
        let names: Vec<_> = fs::read_dir(&self.sentinel)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsStr::new("secret")]);
        assert_eq!(fs::read(self.sentinel.join("secret")).unwrap(), b"secret");
        assert_eq!(
            fs::metadata(self.sentinel.join("secret")).unwrap().nlink(),
            1
        );
        let parent = self.dest.parent().unwrap();
        let mut top: Vec<_> = fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        top.sort();
        assert_eq!(top, vec![OsStr::new("dest"), OsStr::new("sentinel")]);
    }
}

fn lmeta(p: &Path) -> fs::Metadata {
    fs::symlink_metadata(p).unwrap()
}

#[test]
fn extracts_a_normal_layer() {
    let s = scratch();
    let tar = TarBuf::new()
        .dir("./", 0o755)
        .dir("bin/", 0o750)
        .file("bin/busybox", b"#!elf", 0o4755)
        .symlink("bin/sh", "busybox")
        .hardlink("bin/ls", "bin/busybox")
        .dir("usr/lib", 0o755)
        .symlink("lib", "usr/lib")
        .symlink("abs", "/etc/passwd")
        .symlink("up", "../../..")
        .pax(&[
            ("SCHILY.xattr.user.note", b"hi"),
            ("mtime", b"1600000001.5"),
        ])
        .owned_file("home/u/f", b"data", 0o640, 1000)
        .node("run/fifo", EntryType::Fifo, 0, 0)
        .finish();
    assert_eq!(s.apply(&tar).unwrap(), 9);

    let d = &s.dest;
    let bb = lmeta(&d.join("bin/busybox"));
    assert_eq!(bb.mode() & 0o7777, 0o4755);
    assert_eq!(fs::read(d.join("bin/busybox")).unwrap(), b"#!elf");
    assert_eq!(lmeta(&d.join("bin")).mode() & 0o7777, 0o750);
    assert_eq!(
        fs::read_link(d.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        fs::read_link(d.join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(fs::read_link(d.join("up")).unwrap(), Path::new("../../.."));
    assert_eq!(lmeta(&d.join("bin/ls")).ino(), bb.ino());
    assert!(lmeta(&d.join("run/fifo")).file_type().is_fifo());
    // Parents a layer omits are created 0755.
    assert_eq!(lmeta(&d.join("home/u")).mode() & 0o7777, 0o755);

    let f = lmeta(&d.join("home/u/f"));
    assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (1000, 1000, 0o640));
    assert_eq!((f.mtime(), f.mtime_nsec()), (1_600_000_001, 500_000_000));
    let note = sysfs::lgetxattr(&d.join("home/u/f"), OsStr::new("user.note")).unwrap();
    assert_eq!(note.as_deref(), Some(&b"hi"[..]));

    // Directory and symlink times survive the entries written into/after them.
    assert_eq!(lmeta(&d.join("bin")).mtime(), MTIME as i64);
    assert_eq!(lmeta(d).mtime(), MTIME as i64);
    assert_eq!(lmeta(&d.join("bin/sh")).mtime(), MTIME as i64);
    s.assert_untouched();
}

#[test]
fn gzip_layers_are_detected() {
    let s = scratch();
    let tar = TarBuf::new().file("a", b"xyz", 0o644).finish();
    assert_eq!(
        apply_layer(&gzip(&tar)[..], &s.dest, &UnpackOptions::default()).unwrap(),
        3
    );
    assert_eq!(fs::read(s.dest.join("a")).unwrap(), b"xyz");
}

#[test]
fn translates_whiteouts() {
    let s = scratch();
    let tar = TarBuf::new()
        .file("etc/old", b"x", 0o644)
        .file("etc/.wh.old", b"", 0o644)
        .file(".wh.gone", b"", 0o644)
        .dir("opaque/", 0o755)
        .file("opaque/.wh..wh..opq", b"", 0o644)
        .file("implicit/.wh..wh..opq", b"", 0o644)
        .file(".wh..wh.plnk", b"", 0o644)
        .finish();
    s.apply(&tar).unwrap();
    for wh in ["etc/old", "gone"] {
        let m = lmeta(&s.dest.join(wh));
        assert!(m.file_type().is_char_device(), "{wh}");
        assert_eq!(m.rdev(), 0);
    }
    for dir in ["opaque", "implicit"] {
        let v = sysfs::lgetxattr(&s.dest.join(dir), OsStr::new("trusted.overlay.opaque")).unwrap();
        assert_eq!(v.as_deref(), Some(&b"y"[..]), "{dir}");
    }
    assert!(!s.dest.join(".wh..wh.plnk").exists());
    assert!(!s.dest.join("etc/.wh.old").exists());
}

#[test]
fn later_entries_replace_earlier_ones() {
    let s = scratch();
    let tar = TarBuf::new()
        .file("a/inner", b"1", 0o644)
        .file("a", b"now a file", 0o644)
        .file("b", b"file", 0o644)
        .dir("b", 0o700)
        .symlink("c", "/nowhere")
        .file("c", b"real", 0o644)
        .dir("d", 0o755)
        .dir("d", 0o711)
        .finish();
    s.apply(&tar).unwrap();
    assert_eq!(fs::read(s.dest.join("a")).unwrap(), b"now a file");
    assert!(lmeta(&s.dest.join("b")).is_dir());
    assert_eq!(fs::read(s.dest.join("c")).unwrap(), b"real");
    assert_eq!(lmeta(&s.dest.join("d")).mode() & 0o7777, 0o711);
}

#[test]
fn rejects_dotdot_and_absolute_names() {
    let s = scratch();
    let tar = TarBuf::new()
        .raw(b"../escape", EntryType::Regular, b"x", b"")
        .finish();
    s.assert_rejected(&tar, "../escape");
    let tar = TarBuf::new()
        .raw(b"a/../../escape", EntryType::Directory, b"", b"")
        .finish();
    s.assert_rejected(&tar, "a/../../escape");
    let abs = s.sentinel.join("abs");
    let tar = TarBuf::new()
        .raw(
            abs.as_os_str().as_encoded_bytes(),
            EntryType::Regular,
            b"x",
            b"",
        )
        .finish();
    s.assert_rejected(&tar, &abs.display().to_string());
    let tar = TarBuf::new()
        .raw(b"", EntryType::Regular, b"x", b"")
        .finish();
    s.assert_rejected(&tar, "empty name");
}

#[test]
fn rejects_writes_through_symlinks() {
    let s = scratch();
    let abs_target = s.sentinel.display().to_string();
    for target in [abs_target.as_str(), "../sentinel", "../../../../../../.."] {
        let tar = TarBuf::new()
            .symlink("evil", target)
            .file("evil/pwned", b"x", 0o644)
            .finish();
        s.assert_rejected(&tar, "evil/pwned");
        let tar = TarBuf::new()
            .symlink("evil", target)
            .dir("evil/sub", 0o755)
            .finish();
        s.assert_rejected(&tar, "evil/sub");
        let tar = TarBuf::new()
            .symlink("evil", target)
            .file("evil/.wh.secret", b"", 0o644)
            .finish();
        s.assert_rejected(&tar, "evil/.wh.secret");
    }
    // A symlinked intermediate directory deeper in the path.
    let tar = TarBuf::new()
        .dir("a", 0o755)
        .symlink("a/b", "../../sentinel")
        .file("a/b/c", b"x", 0o644)
        .finish();
    s.assert_rejected(&tar, "a/b/c");
}

#[test]
fn rejects_escaping_hardlinks() {
    let s = scratch();
    let tar = TarBuf::new()
        .raw(b"h", EntryType::Link, b"", b"../../etc/passwd")
        .finish();
    s.assert_rejected(&tar, "h");
    let tar = TarBuf::new()
        .raw(b"h", EntryType::Link, b"", b"/etc/passwd")
        .finish();
    s.assert_rejected(&tar, "h");
    let tar = TarBuf::new().hardlink("h", "not/here").finish();
    s.assert_rejected(&tar, "does not exist");
    let tar = TarBuf::new()
        .symlink("lnk", "../sentinel")
        .hardlink("h", "lnk/secret")
        .finish();
    s.assert_rejected(&tar, "passes through symlink");
    let abs = format!("{}/secret", s.sentinel.display());
    let tar = TarBuf::new()
        .symlink("lnk", &s.sentinel.display().to_string())
        .hardlink("h", "lnk/secret")
        .finish();
    let _ = abs;
    s.assert_rejected(&tar, "passes through symlink");
    let tar = TarBuf::new().dir("d", 0o755).hardlink("h", "d").finish();
    s.assert_rejected(&tar, "is a directory");
}

#[test]
fn hardlink_to_a_symlink_links_the_symlink() {
    let s = scratch();
    let tar = TarBuf::new()
        .symlink("lnk", "../sentinel/secret")
        .hardlink("h", "lnk")
        .finish();
    s.apply(&tar).unwrap();
    assert!(lmeta(&s.dest.join("h")).file_type().is_symlink());
    s.assert_untouched();
}

#[test]
fn devices_need_permission() {
    let s = scratch();
    let tar = TarBuf::new()
        .node("dev/null", EntryType::Char, 1, 3)
        .finish();
    s.assert_rejected(&tar, "dev/null");
    let tar_blk = TarBuf::new()
        .node("dev/sda", EntryType::Block, 8, 0)
        .finish();
    s.assert_rejected(&tar_blk, "dev/sda");

    let opts = UnpackOptions {
        allow_devices: true,
    };
    let s = scratch();
    apply_layer(&tar[..], &s.dest, &opts).unwrap();
    let m = lmeta(&s.dest.join("dev/null"));
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), nix::sys::stat::makedev(1, 3));
}

#[test]
fn rejects_forged_overlay_metadata() {
    let s = scratch();
    let tar = TarBuf::new()
        .pax(&[("SCHILY.xattr.trusted.overlay.opaque", b"y")])
        .dir("d", 0o755)
        .finish();
    s.assert_rejected(&tar, "trusted.overlay.opaque");
    let tar = TarBuf::new()
        .pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")])
        .file("f", b"", 0o644)
        .finish();
    s.assert_rejected(&tar, "trusted.overlay.redirect");
    for bad in [".wh..", ".wh...", ".wh."] {
        let tar = TarBuf::new()
            .raw(bad.as_bytes(), EntryType::Regular, b"", b"")
            .finish();
        s.assert_rejected(&tar, "whiteout of an invalid name");
    }
}

#[test]
fn truncated_or_corrupt_archives_fail() {
    let big = vec![7u8; 4096];
    let tar = TarBuf::new()
        .file("a", b"x", 0o644)
        .file("big", &big, 0o644)
        .finish();
    // Cut in the middle of `big`'s data, inside its header, and inside the gzip stream.
    for cut in [1024 + 512 + 2000, 1024 + 100] {
        let s = scratch();
        let err = s.apply(&tar[..cut]).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArchive(_)),
            "cut {cut}: {err:?}"
        );
    }
    let gz = gzip(&tar);
    let s = scratch();
    let err = s.apply(&gz[..gz.len() / 2]).unwrap_err();
    assert!(matches!(err, Error::InvalidArchive(_)), "{err:?}");

    let mut bad = tar.clone();
    bad[0] ^= 0xff; // breaks the first header's checksum
    let s = scratch();
    assert!(matches!(s.apply(&bad), Err(Error::InvalidArchive(_))));
    assert!(matches!(
        s.apply(&[0xfd, b'7', b'z', b'X', b'Z', 0][..]),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn long_names_and_pax_paths() {
    let s = scratch();
    let long = format!("{}/file", "d".repeat(150));
    let tar = TarBuf::new().file(&long, b"long", 0o644).finish();
    s.apply(&tar).unwrap();
    assert_eq!(fs::read(s.dest.join(&long)).unwrap(), b"long");

    let s = scratch();
    let tar = TarBuf::new()
        .pax(&[("path", b"x/../../escape")])
        .file("innocent", b"x", 0o644)
        .finish();
    s.assert_rejected(&tar, "x/../../escape");
}
