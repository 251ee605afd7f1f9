//! Builders for the tarballs tests feed to the extractor and the archive loader, including
//! hostile ones the `tar` crate's builder refuses to write.

use std::io::Write;

use flate2::{Compression, write::GzEncoder};
use tar::{EntryType, Header};

use crate::digest::Digest;
use crate::oci::{Descriptor, MEDIA_TYPE_OCI_MANIFEST, Platform};

pub(crate) const MTIME: u64 = 1_600_000_000;

/// An index entry: a manifest for linux/`arch` (and `variant`), with a digest made from `n`.
pub(crate) fn platform_manifest(arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
    Descriptor {
        media_type: MEDIA_TYPE_OCI_MANIFEST.into(),
        digest: Digest::sha256_of(&[n]),
        size: 1,
        urls: None,
        annotations: None,
        platform: Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: variant.map(Into::into),
            ..Platform::default()
        }),
    }
}

/// An in-memory tar under construction.
pub(crate) struct TarBuf {
    b: tar::Builder<Vec<u8>>,
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h
}

impl TarBuf {
    pub(crate) fn new() -> TarBuf {
        TarBuf {
            b: tar::Builder::new(Vec::new()),
        }
    }

    pub(crate) fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        let mut h = header(EntryType::Directory, mode, 0);
        self.b.append_data(&mut h, name, &[][..]).unwrap();
        self
    }

    pub(crate) fn file(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Self {
        let mut h = header(EntryType::Regular, mode, data.len() as u64);
        self.b.append_data(&mut h, name, data).unwrap();
        self
    }

    pub(crate) fn owned_file(&mut self, name: &str, data: &[u8], mode: u32, uid: u64) -> &mut Self {
        let mut h = header(EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(uid);
        self.b.append_data(&mut h, name, data).unwrap();
        self
    }

    pub(crate) fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Symlink, 0o777, 0);
        self.b.append_link(&mut h, name, target).unwrap();
        self
    }

    pub(crate) fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Link, 0o644, 0);
        self.b.append_link(&mut h, name, target).unwrap();
        self
    }

    pub(crate) fn node(
        &mut self,
        name: &str,
        kind: EntryType,
        major: u32,
        minor: u32,
    ) -> &mut Self {
        let mut h = header(kind, 0o666, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.b.append_data(&mut h, name, &[][..]).unwrap();
        self
    }

    /// A PAX extended header applying to the next entry.
    pub(crate) fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body_len = 1 + k.len() + 1 + v.len() + 1;
            let mut len = body_len + 1;
            while len.to_string().len() + body_len != len {
                len = len.to_string().len() + body_len;
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        self.raw(b"././@PaxHeader", EntryType::XHeader, &data, b"")
    }

    /// An entry whose name and link name bytes are written as given, unchecked.
    pub(crate) fn raw(
        &mut self,
        name: &[u8],
        kind: EntryType,
        data: &[u8],
        link: &[u8],
    ) -> &mut Self {
        let mut h = header(kind, 0o644, data.len() as u64);
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub(crate) fn finish(&mut self) -> Vec<u8> {
        self.b.finish().unwrap();
        std::mem::take(self.b.get_mut())
    }
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}
