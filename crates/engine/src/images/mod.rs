//! Image operations: one file per group. Names are resolved here the way docker does it: first as
//! a reference (`busybox`, `busybox:1`, `repo@sha256:…`), then as a full or short image id.

mod gc;
mod glob;
mod progress;
pub(crate) mod pull;
mod push;
mod query;
mod remove;
pub(crate) mod tag;
mod transfer;

pub use transfer::SavePlan;

use pouch_image::{Digest, Reference};

use crate::Images;
use crate::error::{Error, Result};
use crate::store::ImageRecord;

/// A name the user gave, resolved to a stored image.
pub(crate) struct Resolved {
    pub image: ImageRecord,
    /// The reference the name matched, when it was one (not an id).
    pub reference: Option<Reference>,
}

impl Images {
    pub(crate) fn resolve_image(&self, name: &str) -> Result<Resolved> {
        let store = &self.ctx.store;
        let no_such = || Error::not_found(format!("No such image: {name}"));
        if name.is_empty() {
            return Err(Error::invalid("image name must not be empty"));
        }
        // A full id, with its algorithm.
        if let Some(hex) = name.strip_prefix("sha256:") {
            if !is_hex(hex) {
                return Err(Error::invalid(format!("invalid image id {name:?}")));
            }
            return self.by_id_prefix(hex).and_then(|o| o.ok_or_else(no_such));
        }
        if let Ok(r) = Reference::parse_normalized(name) {
            if let Some(d) = &r.digest {
                let ids = store.images_by_manifest(d.as_str())?;
                if let Some(id) = ids.first()
                    && let Some(image) = store.image(id)?
                {
                    return Ok(Resolved {
                        image,
                        reference: Some(r),
                    });
                }
            } else {
                let tagged = r.clone().with_default_tag();
                if let Some(id) = store.ref_target(&tagged.to_string())?
                    && let Some(image) = store.image(&id)?
                {
                    return Ok(Resolved {
                        image,
                        reference: Some(tagged),
                    });
                }
            }
        }
        if is_hex(name) {
            if let Some(r) = self.by_id_prefix(name)? {
                return Ok(r);
            }
        }
        Err(no_such())
    }

    fn by_id_prefix(&self, hex: &str) -> Result<Option<Resolved>> {
        let ids = self.ctx.store.image_ids_with_prefix(hex)?;
        match ids.as_slice() {
            [] => Ok(None),
            [id] => Ok(self.ctx.store.image(id)?.map(|image| Resolved {
                image,
                reference: None,
            })),
            _ => Err(Error::invalid(format!(
                "image id prefix {hex} is ambiguous: it matches {} images; give more characters",
                ids.len()
            ))),
        }
    }

    /// Reads and parses an image's config blob.
    pub(crate) fn image_config(&self, id: &str) -> Result<pouch_image::oci::ImageConfig> {
        let d = Digest::parse(id)?;
        let bytes = self.ctx.content.read(&d)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::internal(format!("image {id}: bad config blob: {e}")))
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True for refs of the form `name@sha256:…`, which docker lists as RepoDigests, not tags.
pub(crate) fn is_digest_ref(name: &str) -> bool {
    name.contains('@')
}

/// The familiar form (`busybox:latest`) of a stored full reference.
pub(crate) fn familiar(name: &str) -> String {
    Reference::parse_normalized(name)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| name.to_string())
}

/// Unix seconds of an RFC 3339 timestamp (0 when absent or malformed).
pub(crate) fn unix_of(ts: Option<&str>) -> i64 {
    ts.and_then(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    })
    .map(|t| t.unix_timestamp())
    .unwrap_or(0)
}

/// RFC 3339 with nanoseconds, UTC, from unix nanoseconds.
pub(crate) fn rfc3339_nanos(nanos: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos as i128)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub(crate) fn rfc3339_now() -> String {
    rfc3339_nanos(crate::now_nanos())
}
