//! The container archive API (`docker cp`): stat a path, read it as a tar, extract a tar into a
//! directory, all inside the container's rootfs.
//!
//! Every path the client names is resolved with `openat2(RESOLVE_IN_ROOT)` against a descriptor
//! of the rootfs, so symlinks are interpreted as if the rootfs were `/` (like a chroot) and
//! nothing outside it can be reached, even while a running container swaps components under us.
//! Below the resolved path, everything is done relative to directory descriptors with
//! `O_NOFOLLOW`, so a symlink is copied as a link and never traversed.
//!
//! The `*at` syscalls are in `pouch_sys::at`.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use pouch_image::unpack::tar_name_components as components;
use pouch_sys::at::*;

use crate::Containers;
use crate::error::{Error, Result};
use crate::store::ContainerRecord;

/// What `HEAD /containers/{id}/archive` reports (`X-Docker-Container-Path-Stat`). Fields in
/// wire order (sorted, as docker's header has them).
#[derive(Debug, Clone, serde::Serialize)]
struct PathStat {
    #[serde(rename = "linkTarget")]
    link_target: String,
    /// Go `os.FileMode` bits.
    mode: u32,
    mtime: String,
    name: String,
    size: i64,
}

impl PathStat {
    /// The header value: base64 of the JSON docker sends.
    fn header_value(&self) -> String {
        let j = serde_json::to_vec(self).unwrap_or_default();
        base64(&j)
    }
}

/// Options of `PUT /containers/{id}/archive`.
#[derive(Debug, Clone, Copy, Default)]
struct ExtractOptions {
    no_overwrite_dir_non_dir: bool,
    copy_uid_gid: bool,
}

impl Containers {
    /// `HEAD /containers/{id}/archive?path=P`: the `X-Docker-Container-Path-Stat` value.
    pub async fn container_path_stat(&self, name: &str, path: &str) -> Result<String> {
        let path = path.to_string();
        self.with_rootfs(name, move |_, c, root| {
            let t = resolve(root, &path, c)?;
            stat_of(root, &t).map(|s| s.header_value())
        })
        .await
    }

    /// `GET /containers/{id}/archive?path=P`: writes a tar of P to `out`.
    pub async fn container_archive(
        &self,
        name: &str,
        path: &str,
        out: Box<dyn Write + Send>,
    ) -> Result<()> {
        let path = path.to_string();
        self.with_rootfs(name, move |_, c, root| {
            let t = resolve(root, &path, c)?;
            let mut b = tar::Builder::new(out);
            let st = fstat(t.fd.as_fd()).map_err(io_err)?;
            // The root has no base name: its tar is its contents.
            let base = if t.base == "/" {
                ".".to_string()
            } else {
                t.base.clone()
            };
            write_node(&mut b, &t, &st, &base).map_err(io_err)?;
            b.into_inner().and_then(|mut w| w.flush()).map_err(io_err)?;
            Ok(())
        })
        .await
    }

    /// `PUT /containers/{id}/archive?path=DIR`: extracts `body` (a tar) into DIR.
    pub async fn extract_to_container(
        &self,
        name: &str,
        path: &str,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
        body: Box<dyn Read + Send>,
    ) -> Result<()> {
        let path = path.to_string();
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir,
            copy_uid_gid,
        };
        self.with_rootfs(name, move |_, c, root| {
            let owner = if opts.copy_uid_gid {
                container_user(&c.config.user)
            } else {
                None
            };
            let dest = open_in_root(
                root,
                &container_path(&path),
                libc::O_RDONLY | libc::O_DIRECTORY,
            )
            .map_err(|err| match err.raw_os_error() {
                Some(libc::ENOENT) => not_found(&path, c),
                Some(libc::ENOTDIR) => Error::invalid("extraction point is not a directory"),
                _ => io_err(err),
            })?;
            let mut body = body;
            let r = extract(root, &dest, &container_path(&path), opts, owner, &mut body);
            // Read what follows the end-of-archive blocks (padding), so that the client is not
            // cut off mid-write and sees the answer; after an error, only a bounded amount.
            let limit = if r.is_ok() { u64::MAX } else { 64 << 20 };
            let _ = io::copy(&mut (&mut body).take(limit), &mut io::sink());
            r
        })
        .await
    }

    /// Runs `f` (blocking) with a descriptor of the container's mounted rootfs, mounting it for
    /// the duration when the container is stopped. Serialised with start/stop like export.
    async fn with_rootfs<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce(&Containers, &ContainerRecord, BorrowedFd<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.with_mounted_rootfs(name, move |e, c, rootfs| {
            let root = open_path(rootfs, libc::O_PATH | libc::O_DIRECTORY)
                .map_err(|err| Error::internal(format!("opening container rootfs: {err}")))?;
            f(e, c, root.as_fd())
        })
        .await
    }
}

fn io_err(e: io::Error) -> Error {
    Error::internal(e.to_string())
}

fn not_found(path: &str, c: &ContainerRecord) -> Error {
    Error::not_found(format!(
        "Could not find the file {path} in container {}",
        c.name.trim_start_matches('/')
    ))
}

/// The client's path as an absolute container path (relative ones are taken from `/`).
fn container_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// A resolved client path.
struct Target {
    /// `O_PATH` descriptor of the object (the link itself when the last component is a symlink
    /// that is not followed).
    fd: OwnedFd,
    /// The name docker uses for it: the base name (`.` for `dir/.`).
    base: String,
    /// The path inside the container, for `linkTarget`.
    abs: String,
}

/// Resolves `path` inside the rootfs. The last component is not followed when it is a symlink,
/// unless the path ends with `/` or `/.`.
fn resolve(root: BorrowedFd<'_>, path: &str, c: &ContainerRecord) -> Result<Target> {
    if path.is_empty() {
        return Err(Error::invalid("Path cannot be empty"));
    }
    let abs = container_path(path);
    let follow = abs.ends_with('/') || abs.ends_with("/.");
    let trimmed = abs.trim_end_matches('/');
    let (parent, last) = match trimmed.rsplit_once('/') {
        Some((p, l)) => (if p.is_empty() { "/" } else { p }, l),
        None => ("/", ""),
    };
    let base = if last.is_empty() { "/" } else { last }.to_string();
    let nf = |e: io::Error| match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP) => not_found(path, c),
        _ => io_err(e),
    };
    let fd = if follow || last.is_empty() || last == ".." || last == "." {
        open_in_root(root, &abs, libc::O_PATH).map_err(nf)?
    } else {
        let dir = open_in_root(root, parent, libc::O_PATH | libc::O_DIRECTORY).map_err(nf)?;
        openat(
            dir.as_fd(),
            OsStr::new(last),
            libc::O_PATH | libc::O_NOFOLLOW,
            0,
        )
        .map_err(nf)?
    };
    Ok(Target { fd, base, abs })
}

/// The stat docker reports for a resolved path.
fn stat_of(root: BorrowedFd<'_>, t: &Target) -> Result<PathStat> {
    let st = fstat(t.fd.as_fd()).map_err(io_err)?;
    let link_target = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        // Where the link leads inside the container, as docker reports it.
        match open_in_root(root, &t.abs, libc::O_PATH) {
            Ok(fd) => in_root_path(root, fd.as_fd()).unwrap_or_default(),
            Err(_) => {
                let l = readlinkat(t.fd.as_fd(), OsStr::new("")).unwrap_or_default();
                l.to_string_lossy().into_owned()
            }
        }
    } else {
        String::new()
    };
    Ok(PathStat {
        name: t.base.clone(),
        size: st.st_size,
        mode: go_mode(st.st_mode),
        mtime: rfc3339(st.st_mtime, st.st_mtime_nsec),
        link_target,
    })
}

/// The container path of an object, from its descriptor's `/proc/self/fd` name.
fn in_root_path(root: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Option<String> {
    let r = std::fs::read_link(format!("/proc/self/fd/{}", root.as_raw_fd())).ok()?;
    let p = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let rel = p.strip_prefix(&r).ok()?;
    Some(Path::new("/").join(rel).display().to_string())
}

/// Go's `os.FileMode` for a `st_mode`.
fn go_mode(m: u32) -> u32 {
    let mut out = m & 0o777;
    match m & libc::S_IFMT {
        libc::S_IFDIR => out |= 1 << 31,
        libc::S_IFLNK => out |= 1 << 27,
        libc::S_IFIFO => out |= 1 << 25,
        libc::S_IFSOCK => out |= 1 << 24,
        libc::S_IFCHR => out |= (1 << 26) | (1 << 21),
        libc::S_IFBLK => out |= 1 << 26,
        _ => {}
    }
    if m & libc::S_ISUID != 0 {
        out |= 1 << 23;
    }
    if m & libc::S_ISGID != 0 {
        out |= 1 << 22;
    }
    if m & libc::S_ISVTX != 0 {
        out |= 1 << 20;
    }
    out
}

fn rfc3339(secs: i64, nsec: i64) -> String {
    let nanos = i128::from(secs) * 1_000_000_000 + i128::from(nsec);
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for ch in data.chunks(3) {
        let b = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= ch.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---- reading: a tar of a resolved path, never following symlinks below it ----

fn header_for(st: &libc::stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(0);
    h
}

/// Appends the object `t` (already opened, `O_PATH`) named `name`, recursing into directories.
fn write_node<W: Write>(
    b: &mut tar::Builder<W>,
    t: &Target,
    st: &libc::stat,
    name: &str,
) -> io::Result<()> {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            let dir = openat(
                t.fd.as_fd(),
                OsStr::new("."),
                libc::O_RDONLY | libc::O_DIRECTORY,
                0,
            )?;
            let st = fstat(dir.as_fd())?;
            write_dir(b, dir, &st, name)
        }
        libc::S_IFLNK => {
            let target = readlinkat(t.fd.as_fd(), OsStr::new(""))?;
            let mut h = header_for(st, tar::EntryType::Symlink);
            b.append_link(&mut h, name, Path::new(&target))
        }
        libc::S_IFREG => {
            // Reopen through the O_PATH descriptor: it names this very inode.
            let f = std::fs::File::open(format!("/proc/self/fd/{}", t.fd.as_raw_fd()))?;
            let st = fstat(f.as_fd())?;
            append_file(b, f, &st, name)
        }
        _ => append_special(b, st, name),
    }
}

fn append_file<W: Write>(
    b: &mut tar::Builder<W>,
    f: std::fs::File,
    st: &libc::stat,
    name: &str,
) -> io::Result<()> {
    let mut h = header_for(st, tar::EntryType::Regular);
    let size = u64::try_from(st.st_size).unwrap_or(0);
    h.set_size(size);
    // Never send more or less than the header promises, even if the file changes meanwhile.
    let r = f.take(size).chain(io::repeat(0).take(size));
    b.append_data(&mut h, name, r.take(size))
}

fn append_special<W: Write>(
    b: &mut tar::Builder<W>,
    st: &libc::stat,
    name: &str,
) -> io::Result<()> {
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => tar::EntryType::Fifo,
        libc::S_IFCHR => tar::EntryType::Char,
        libc::S_IFBLK => tar::EntryType::Block,
        _ => return Ok(()), // sockets have no tar form
    };
    let mut h = header_for(st, kind);
    h.set_device_major(libc::major(st.st_rdev))?;
    h.set_device_minor(libc::minor(st.st_rdev))?;
    b.append_data(&mut h, name, io::empty())
}

fn write_dir<W: Write>(
    b: &mut tar::Builder<W>,
    dir: OwnedFd,
    st: &libc::stat,
    name: &str,
) -> io::Result<()> {
    let mut h = header_for(st, tar::EntryType::Directory);
    let dname = if name.ends_with('/') {
        name.to_string()
    } else {
        format!("{name}/")
    };
    b.append_data(&mut h, &dname, io::empty())?;
    let mut names: Vec<OsString> = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for n in names {
        let child = format!("{dname}{}", n.to_string_lossy());
        let cst = match fstatat(dir.as_fd(), &n, libc::AT_SYMLINK_NOFOLLOW) {
            Ok(s) => s,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        match cst.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                let sub = match openat(
                    dir.as_fd(),
                    &n,
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                ) {
                    Ok(f) => f,
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::ENOENT | libc::ELOOP | libc::ENOTDIR)
                        ) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let sst = fstat(sub.as_fd())?;
                write_dir(b, sub, &sst, &child)?;
            }
            libc::S_IFLNK => {
                let target = match readlinkat(dir.as_fd(), &n) {
                    Ok(t) => t,
                    Err(_) => continue,
                };
                let mut h = header_for(&cst, tar::EntryType::Symlink);
                b.append_link(&mut h, &child, Path::new(&target))?;
            }
            libc::S_IFREG => {
                let fd = match openat(
                    dir.as_fd(),
                    &n,
                    libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
                    0,
                ) {
                    Ok(f) => f,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ELOOP)) => {
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let fst = fstat(fd.as_fd())?;
                if fst.st_mode & libc::S_IFMT != libc::S_IFREG {
                    continue;
                }
                append_file(b, std::fs::File::from(fd), &fst, &child)?;
            }
            _ => append_special(b, &cst, &child)?,
        }
    }
    Ok(())
}

// ---- writing: extraction into a resolved directory ----

/// The numeric `uid[:gid]` of the container's configured user, for `copyUIDGID`. Named users
/// are not looked up in the container's /etc/passwd: they fall back to the tar's ids.
fn container_user(user: &str) -> Option<(u32, u32)> {
    if user.is_empty() {
        return Some((0, 0));
    }
    let (u, g) = user.split_once(':').unwrap_or((user, ""));
    let uid: u32 = u.parse().ok()?;
    let gid: u32 = if g.is_empty() { uid } else { g.parse().ok()? };
    Some((uid, gid))
}

fn bad_entry(name: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("refusing archive entry {name:?}: {why}"))
}

fn extract(
    root: BorrowedFd<'_>,
    dest: &OwnedFd,
    dest_path: &str,
    opts: ExtractOptions,
    owner: Option<(u32, u32)>,
    body: &mut dyn Read,
) -> Result<()> {
    let mut ar = tar::Archive::new(body);
    // Symlinks this archive created: no later entry may pass through one.
    let mut links: HashSet<Vec<OsString>> = HashSet::new();
    let entries = ar
        .entries()
        .map_err(|e| Error::invalid(format!("reading archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::invalid(format!("reading archive: {e}")))?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let comps = components(&raw).map_err(|why| bad_entry(&shown, why))?;
        let kind = entry.header().entry_type();
        let Some((last, parents)) = comps.split_last() else {
            continue; // the extraction point itself
        };
        for i in 1..=parents.len() {
            if links.contains(&comps[..i]) {
                return Err(bad_entry(
                    &shown,
                    "it passes through a symlink in the archive",
                ));
            }
        }
        let dir = walk_dirs(root, dest, dest_path, parents).map_err(|e| bad_entry(&shown, e))?;
        let h = entry.header();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let (uid, gid) =
            owner.unwrap_or((h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32));
        let mtime = h.mtime().unwrap_or(0) as i64;
        let existing = fstatat(dir.as_fd(), last, libc::AT_SYMLINK_NOFOLLOW).ok();
        let exists_dir = existing
            .as_ref()
            .is_some_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR);
        if kind.is_dir() {
            if existing.is_some() && !exists_dir {
                if opts.no_overwrite_dir_non_dir {
                    return Err(Error::invalid(format!(
                        "cannot overwrite non-directory \"{dest_path}/{shown}\" with directory"
                    )));
                }
                unlinkat(dir.as_fd(), last, 0).map_err(io_err)?;
            }
            if !exists_dir {
                mkdirat(dir.as_fd(), last, mode).map_err(io_err)?;
            }
            let d = openat(
                dir.as_fd(),
                last,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )
            .map_err(io_err)?;
            chown_chmod(d.as_fd(), uid, gid, mode).map_err(io_err)?;
            continue;
        }
        if exists_dir {
            // Replacing a directory with a non-directory is refused outright: docker's
            // CLI always asks for that, and removing a whole tree is not what cp is for.
            return Err(Error::invalid(format!(
                "cannot overwrite directory \"{dest_path}/{shown}\" with non-directory"
            )));
        }
        if existing.is_some() {
            unlinkat(dir.as_fd(), last, 0).map_err(io_err)?;
        }
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let fd = openat(
                    dir.as_fd(),
                    last,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                    0o600,
                )
                .map_err(io_err)?;
                let mut f = std::fs::File::from(fd);
                io::copy(&mut entry, &mut f).map_err(io_err)?;
                chown_chmod(f.as_fd(), uid, gid, mode).map_err(io_err)?;
                set_mtime(dir.as_fd(), last, mtime);
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad_entry(&shown, "symlink without a target"))?
                    .into_owned();
                symlinkat(&target, dir.as_fd(), last).map_err(io_err)?;
                let _ = fchownat(dir.as_fd(), last, uid, gid);
                set_mtime(dir.as_fd(), last, mtime);
                links.insert(comps.clone());
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad_entry(&shown, "hardlink without a target"))?
                    .into_owned();
                let tcomps = components(&target).map_err(|why| bad_entry(&shown, why))?;
                let Some((tlast, tparents)) = tcomps.split_last() else {
                    return Err(bad_entry(&shown, "hardlink to the extraction point"));
                };
                for i in 1..=tparents.len() {
                    if links.contains(&tcomps[..i]) {
                        return Err(bad_entry(
                            &shown,
                            "hardlink target passes through a symlink",
                        ));
                    }
                }
                let tdir =
                    walk_dirs(root, dest, dest_path, tparents).map_err(|e| bad_entry(&shown, e))?;
                linkat(tdir.as_fd(), tlast, dir.as_fd(), last).map_err(io_err)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let t = match kind {
                    tar::EntryType::Char => libc::S_IFCHR,
                    tar::EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let dev = libc::makedev(
                    h_u32(entry.header().device_major()),
                    h_u32(entry.header().device_minor()),
                );
                mknodat(dir.as_fd(), last, t | mode, dev).map_err(io_err)?;
                let _ = fchownat(dir.as_fd(), last, uid, gid);
            }
            _ => {} // pax/GNU metadata is consumed by the tar reader; others are ignored
        }
    }
    Ok(())
}

fn h_u32(v: io::Result<Option<u32>>) -> u32 {
    v.ok().flatten().unwrap_or(0)
}

/// Opens (creating when missing) the directory `parents` below the extraction point. An
/// existing symlink on the way belongs to the container and is followed the way the container
/// would see it (inside the rootfs); symlinks the archive itself planted are refused earlier.
fn walk_dirs(
    root: BorrowedFd<'_>,
    dest: &OwnedFd,
    dest_path: &str,
    parents: &[OsString],
) -> std::result::Result<OwnedFd, String> {
    let mut cur = dup(dest.as_fd()).map_err(|e| e.to_string())?;
    let mut path = PathBuf::from(dest_path);
    for c in parents {
        path.push(c);
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let next = match openat(cur.as_fd(), c, flags, 0) {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                mkdirat(cur.as_fd(), c, 0o755).map_err(|e| e.to_string())?;
                openat(cur.as_fd(), c, flags, 0).map_err(|e| e.to_string())?
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                let st = fstatat(cur.as_fd(), c, libc::AT_SYMLINK_NOFOLLOW)
                    .map_err(|e| e.to_string())?;
                if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
                    return Err(format!("{} is not a directory", path.display()));
                }
                open_in_root(
                    root,
                    &path.to_string_lossy(),
                    libc::O_RDONLY | libc::O_DIRECTORY,
                )
                .map_err(|e| format!("{}: {e}", path.display()))?
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        cur = next;
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn go_modes() {
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(go_mode(libc::S_IFREG | 0o644), 0o644);
    }

    #[test]
    fn refuses_bad_names() {
        assert!(components(b"../escape").is_err());
        assert!(components(b"/abs").is_err());
        assert!(components(b"a/../../b").is_err());
        assert_eq!(components(b"./a/b/").unwrap(), vec!["a", "b"]);
        assert!(components(b"").is_err());
    }
}
