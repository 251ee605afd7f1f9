//! Image rows: an image (keyed by its config digest), its ordered layers and the names (tags and
//! digest references) that point at it.

use std::collections::{BTreeMap, HashSet};

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::Store;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the config blob.
    pub id: String,
    pub manifest_digest: Option<String>,
    /// Unix seconds from the image config's `created`.
    pub created: i64,
    /// Sum of the unpacked layer sizes.
    pub size: i64,
    pub labels: BTreeMap<String, String>,
    /// Unix nanoseconds when this engine first stored the image.
    pub added_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LayerRecord {
    pub chain_id: String,
    pub diff_id: String,
    pub blob: String,
    pub media_type: String,
    pub blob_size: i64,
    pub size: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefRecord {
    /// Full normalized reference, `docker.io/library/busybox:latest`.
    pub name: String,
    pub image_id: String,
    /// Unix nanoseconds of the last (re)tag.
    pub updated_at: i64,
}

fn image_row(r: &Row<'_>) -> rusqlite::Result<ImageRecord> {
    let labels: String = r.get(4)?;
    Ok(ImageRecord {
        id: r.get(0)?,
        manifest_digest: r.get(1)?,
        created: r.get(2)?,
        size: r.get(3)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        added_at: r.get(5)?,
    })
}

const IMAGE_COLS: &str = "id, manifest_digest, created, size, labels, added_at";

impl Store {
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!("SELECT {IMAGE_COLS} FROM images"))?;
        let rows = st
            .query_map([], image_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn image(&self, id: &str) -> Result<Option<ImageRecord>> {
        let conn = self.conn();
        let q = format!("SELECT {IMAGE_COLS} FROM images WHERE id = ?1");
        Ok(conn.query_row(&q, [id], image_row).optional()?)
    }

    /// Ids starting with `sha256:<prefix>`.
    pub fn image_ids_with_prefix(&self, hex_prefix: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT id FROM images WHERE substr(id, 1, ?2) = ?1")?;
        let p = format!("sha256:{hex_prefix}");
        let rows = st
            .query_map(params![p, p.len() as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rows)
    }

    pub fn images_by_manifest(&self, digest: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT id FROM images WHERE manifest_digest = ?1")?;
        let rows = st
            .query_map([digest], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn layers(&self, image_id: &str) -> Result<Vec<LayerRecord>> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT chain_id, diff_id, blob, media_type, blob_size, size FROM image_layers \
             WHERE image_id = ?1 ORDER BY idx",
        )?;
        let rows = st
            .query_map([image_id], |r| {
                Ok(LayerRecord {
                    chain_id: r.get(0)?,
                    diff_id: r.get(1)?,
                    blob: r.get(2)?,
                    media_type: r.get(3)?,
                    blob_size: r.get(4)?,
                    size: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn refs(&self) -> Result<Vec<RefRecord>> {
        self.query_refs(
            "SELECT name, image_id, updated_at FROM image_refs ORDER BY name",
            [],
        )
    }

    pub fn refs_of(&self, image_id: &str) -> Result<Vec<RefRecord>> {
        self.query_refs(
            "SELECT name, image_id, updated_at FROM image_refs WHERE image_id = ?1 ORDER BY name",
            [image_id],
        )
    }

    fn query_refs<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<Vec<RefRecord>> {
        let conn = self.conn();
        let mut st = conn.prepare(sql)?;
        let rows = st
            .query_map(p, |r| {
                Ok(RefRecord {
                    name: r.get(0)?,
                    image_id: r.get(1)?,
                    updated_at: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn ref_target(&self, name: &str) -> Result<Option<String>> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT image_id FROM image_refs WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every chain id and blob digest that some image still needs.
    pub fn referenced_content(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        let conn = self.conn();
        let mut chains = HashSet::new();
        let mut blobs = HashSet::new();
        let mut st = conn.prepare("SELECT chain_id, blob FROM image_layers")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            chains.insert(r.get(0)?);
            blobs.insert(r.get(1)?);
        }
        let mut st = conn.prepare("SELECT id, manifest_digest FROM images")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            blobs.insert(r.get(0)?);
            if let Some(m) = r.get::<_, Option<String>>(1)? {
                blobs.insert(m);
            }
        }
        Ok((chains, blobs))
    }
}

/// Inserts an image and its layers; an image that is already stored is left as it is.
pub fn insert_image(tx: &Transaction<'_>, img: &ImageRecord, layers: &[LayerRecord]) -> Result<()> {
    let n = tx.execute(
        "INSERT OR IGNORE INTO images (id, manifest_digest, created, size, labels, added_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            img.id,
            img.manifest_digest,
            img.created,
            img.size,
            serde_json::to_string(&img.labels)?,
            img.added_at
        ],
    )?;
    if n == 0 {
        return Ok(());
    }
    let mut st = tx.prepare(
        "INSERT INTO image_layers (image_id, idx, chain_id, diff_id, blob, media_type, blob_size, size) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (i, l) in layers.iter().enumerate() {
        st.execute(params![
            img.id,
            i as i64,
            l.chain_id,
            l.diff_id,
            l.blob,
            l.media_type,
            l.blob_size,
            l.size
        ])?;
    }
    Ok(())
}

/// Points `name` at `image_id`; returns the image it pointed at before, if that was another one.
pub fn set_ref(
    tx: &Transaction<'_>,
    name: &str,
    image_id: &str,
    now: i64,
) -> Result<Option<String>> {
    let prev: Option<String> = tx
        .query_row(
            "SELECT image_id FROM image_refs WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "INSERT INTO image_refs (name, image_id, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, updated_at = excluded.updated_at",
        params![name, image_id, now],
    )?;
    Ok(prev.filter(|p| p != image_id))
}

pub fn delete_ref(tx: &Transaction<'_>, name: &str) -> Result<bool> {
    Ok(tx.execute("DELETE FROM image_refs WHERE name = ?1", [name])? > 0)
}

pub fn delete_image(tx: &Transaction<'_>, id: &str) -> Result<()> {
    tx.execute("DELETE FROM image_refs WHERE image_id = ?1", [id])?;
    tx.execute("DELETE FROM image_layers WHERE image_id = ?1", [id])?;
    tx.execute("DELETE FROM images WHERE id = ?1", [id])?;
    Ok(())
}
