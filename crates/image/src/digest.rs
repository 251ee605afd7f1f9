//! Content digests. Only sha256 is accepted: it is what every registry, docker and containerd
//! produce, and refusing the rest keeps blob paths and comparisons trivially canonical.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

const PREFIX: &str = "sha256:";

/// A validated `sha256:<64 lowercase hex>` digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`; anything else (other algorithms, upper case, wrong
    /// length) is rejected so that two equal blobs always have equal digest strings.
    pub fn parse(s: &str) -> Result<Digest> {
        let hex = s.strip_prefix(PREFIX).ok_or_else(|| {
            Error::InvalidReference(format!(
                "unsupported digest {s:?}: only sha256 is supported"
            ))
        })?;
        if !is_sha256_hex(hex) {
            return Err(Error::InvalidReference(format!("invalid digest {s:?}")));
        }
        Ok(Digest(s.to_owned()))
    }

    /// Builds a digest from 64 lowercase hex characters (a blob file name, an image id).
    pub fn from_hex(hex: &str) -> Result<Digest> {
        Digest::parse(&format!("{PREFIX}{hex}"))
    }

    /// The 64 hex characters, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::new_with_prefix(bytes))
    }

    /// Finalizes a running hash into a digest.
    pub fn from_sha256(h: Sha256) -> Digest {
        Digest(format!("{PREFIX}{}", hex::encode(h.finalize())))
    }
}

/// True for exactly 64 lowercase hex characters.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The digests named by the entries of `dir` (files or dirs called `<64 hex>`), sorted; other
/// names (temp files, staging dirs) are skipped.
pub(crate) fn list_dir(dir: &std::path::Path) -> Result<Vec<Digest>> {
    let err = |e| Error::io(format!("list {}", dir.display()), e);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let name = entry.map_err(err)?.file_name();
        if let Some(d) = name.to_str().and_then(|n| Digest::from_hex(n).ok()) {
            out.push(d);
        }
    }
    out.sort();
    Ok(out)
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Digest> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hashes_and_parses() {
        let d = Digest::sha256_of(b"");
        assert_eq!(d.as_str(), EMPTY);
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.hex(), &EMPTY[7..]);
        assert_eq!(Digest::parse(EMPTY).unwrap(), d);
        assert_eq!(Digest::from_hex(d.hex()).unwrap(), d);
    }

    #[test]
    fn rejects_non_canonical() {
        for bad in [
            "",
            "sha256:",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_validates() {
        let d: Digest = serde_json::from_str(&format!("\"{EMPTY}\"")).unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{EMPTY}\""));
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
