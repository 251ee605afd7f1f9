//! Content GC and the pins that protect a pull's layers from it.
//!
//! A pull stores layers before it records its image, so for a while they are referenced by
//! nothing in the metadata store. Pulls pin the blobs and chain ids they will reference, and
//! `image prune`'s sweep leaves pinned content alone. Layers being stored are also locked per
//! chain id, so two pulls that need the same layer fetch it once.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use crate::Images;
use crate::error::Result;

/// Layers being stored, by snapshot path: a second pull of the same layer waits on the lock and
/// then finds it stored.
pub(super) static IN_FLIGHT: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// Blobs and chain ids a running pull will reference, with a count of pulls; the GC keeps them.
static PINNED: LazyLock<Mutex<HashMap<String, usize>>> = LazyLock::new(Default::default);

/// True while some pull may still publish `digest` (a blob or chain id).
pub(crate) fn in_flight(root: &std::path::Path, digest: &str) -> bool {
    PINNED
        .lock()
        .expect("pinned map")
        .contains_key(&flight_key(root, digest))
}

/// Pins content for the life of a pull.
pub(super) struct Pins(Vec<String>);

impl Pins {
    pub(super) fn new(root: &std::path::Path, digests: impl IntoIterator<Item = String>) -> Pins {
        let keys: Vec<String> = digests.into_iter().map(|d| flight_key(root, &d)).collect();
        let mut map = PINNED.lock().expect("pinned map");
        for k in &keys {
            *map.entry(k.clone()).or_default() += 1;
        }
        Pins(keys)
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let mut map = PINNED.lock().expect("pinned map");
        for k in &self.0 {
            if let Some(n) = map.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    map.remove(k);
                }
            }
        }
    }
}

pub(super) fn flight_key(root: &std::path::Path, digest: &str) -> String {
    format!("{}|{digest}", root.display())
}

impl Images {
    /// Content GC: removes blobs and snapshots no stored image references and no pull in
    /// progress may still publish. Runs under the image lock (from `image prune`). Returns the
    /// bytes given back.
    pub(crate) fn gc_content(&self) -> Result<u64> {
        let i = &self.ctx;
        let root = &i.config.root;
        let (chains, blobs) = i.store.referenced_content()?;
        let mut freed = 0;
        for c in i.snaps.list()? {
            if !chains.contains(c.as_str()) && !in_flight(root, c.as_str()) {
                freed += i.snaps.size(&c).unwrap_or(0);
                i.snaps.remove(&c)?;
            }
        }
        for b in i.content.list()? {
            if !blobs.contains(b.as_str()) && !in_flight(root, b.as_str()) {
                freed += i.content.size(&b).unwrap_or(0);
                i.content.remove(&b)?;
            }
        }
        Ok(freed)
    }
}
