//! Readers that hash what flows through them and compression sniffing, so one pass over a layer can
//! digest the blob, decompress it, digest the diff and extract it.

use std::io::{self, Cursor, Read};

use flate2::read::MultiGzDecoder;
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Running sha256 and byte count of a stream, plus the first error the stream's source returned
/// (kept so a host I/O failure is not mistaken for a corrupt archive further up).
#[derive(Default)]
pub(crate) struct Tally {
    sha: Sha256,
    len: u64,
    source_error: Option<io::Error>,
}

impl Tally {
    pub(crate) fn digest(&self) -> Digest {
        Digest::from_sha256(self.sha.clone())
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The error the underlying source failed with, if any.
    pub(crate) fn take_source_error(&mut self) -> Option<io::Error> {
        self.source_error.take()
    }
}

/// Hashes and counts every byte read through it into a borrowed [`Tally`].
pub(crate) struct HashReader<'a, R> {
    inner: R,
    tally: &'a mut Tally,
}

impl<'a, R: Read> HashReader<'a, R> {
    pub(crate) fn new(inner: R, tally: &'a mut Tally) -> Self {
        HashReader { inner, tally }
    }
}

impl<R: Read> Read for HashReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.tally.sha.update(&buf[..n]);
                self.tally.len += n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted && self.tally.source_error.is_none() {
                    self.tally.source_error = Some(io::Error::new(e.kind(), e.to_string()));
                }
                Err(e)
            }
        }
    }
}

/// Copies everything read through it into a writer; a write failure fails the read.
pub(crate) struct TeeReader<'a, R, W> {
    inner: R,
    sink: &'a mut W,
}

impl<'a, R: Read, W: io::Write> TeeReader<'a, R, W> {
    pub(crate) fn new(inner: R, sink: &'a mut W) -> Self {
        TeeReader { inner, sink }
    }
}

impl<R: Read, W: io::Write> Read for TeeReader<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Compression of a layer stream, detected from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Sniffs the stream's magic and returns a reader of the uncompressed bytes (all gzip members, as
/// Go's reader does; all zstd frames). bzip2 and xz are recognised only to give a clear error
/// instead of a confusing tar parse failure.
pub(crate) fn decompress<'a, R: Read + 'a>(mut r: R) -> Result<(Compression, Box<dyn Read + 'a>)> {
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::InvalidArchive(format!("read layer: {e}"))),
        }
    }
    let head = &head[..got];
    let stream = Cursor::new(head.to_vec()).chain(r);
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok((Compression::Gzip, Box::new(MultiGzDecoder::new(stream))));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = zstd::stream::read::Decoder::new(stream)
            .map_err(|e| Error::InvalidArchive(format!("zstd layer: {e}")))?;
        return Ok((Compression::Zstd, Box::new(d)));
    }
    if head.starts_with(b"BZh") || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(Error::Unsupported(
            "bzip2 and xz layers are not supported".into(),
        ));
    }
    Ok((Compression::None, Box::new(stream)))
}

/// Copies a tar entry's data into `w` through `buf`. Read failures mean a corrupt archive and are
/// mapped by `corrupt`; write failures are host errors naming `path`.
pub(crate) fn copy_entry(
    r: &mut impl Read,
    w: &mut impl io::Write,
    path: &std::path::Path,
    buf: &mut [u8],
    corrupt: impl Fn(io::Error) -> Error,
) -> Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match r.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(e)),
        };
        w.write_all(&buf[..n])
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        total += n as u64;
    }
}

/// Reads `r` to its end, discarding the bytes (so hashers wrapped around it see the whole stream).
pub(crate) fn drain(mut r: impl Read) -> io::Result<u64> {
    io::copy(&mut r, &mut io::sink())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression as Level, write::GzEncoder};
    use std::io::Write;

    #[test]
    fn hashes_through_gzip() {
        let mut gz = GzEncoder::new(Vec::new(), Level::default());
        gz.write_all(b"hello world").unwrap();
        let packed = gz.finish().unwrap();

        let (mut raw, mut plain) = (Tally::default(), Tally::default());
        let mut copy = Vec::new();
        {
            let (c, r) = decompress(HashReader::new(&packed[..], &mut raw)).unwrap();
            assert_eq!(c, Compression::Gzip);
            let mut r = TeeReader::new(HashReader::new(r, &mut plain), &mut copy);
            drain(&mut r).unwrap();
        }
        assert_eq!(copy, b"hello world");
        assert_eq!(raw.digest(), Digest::sha256_of(&packed));
        assert_eq!(raw.len(), packed.len() as u64);
        assert_eq!(plain.digest(), Digest::sha256_of(b"hello world"));
    }

    #[test]
    fn sniffs_plain_short_and_zstd() {
        let (c, mut r) = decompress(&b"ab"[..]).unwrap();
        assert_eq!(c, Compression::None);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "ab");
        let packed = zstd::encode_all(&b"zstd layer"[..], 3).unwrap();
        let (c, mut r) = decompress(&packed[..]).unwrap();
        assert_eq!(c, Compression::Zstd);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "zstd layer");
        let err = decompress(&b"BZh91AY"[..]).err().unwrap();
        assert!(matches!(err, Error::Unsupported(_)));
    }
}
