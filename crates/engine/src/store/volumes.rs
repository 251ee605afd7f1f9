//! Volume rows: the engine's record of every volume, whatever its driver.

use std::collections::BTreeMap;

use rusqlite::{Row, params};

use super::Store;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    /// Unix nanoseconds.
    pub created: i64,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// Made for one container (image VOLUME, `-v /path`); `rm -v` and `volume prune` take it.
    pub anonymous: bool,
}

const COLS: &str = "name, driver, created, labels, options, anonymous";

fn row(r: &Row<'_>) -> rusqlite::Result<(String, String, i64, String, String, bool)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn decode(t: (String, String, i64, String, String, bool)) -> Result<VolumeRecord> {
    let bad = |e: serde_json::Error| {
        Error::internal(format!("volume {}: stored row unreadable: {e}", t.0))
    };
    Ok(VolumeRecord {
        labels: serde_json::from_str(&t.3).map_err(bad)?,
        options: serde_json::from_str(&t.4).map_err(bad)?,
        name: t.0,
        driver: t.1,
        created: t.2,
        anonymous: t.5,
    })
}

impl Store {
    pub fn volumes(&self) -> Result<Vec<VolumeRecord>> {
        let sql = format!("SELECT {COLS} FROM volumes ORDER BY name");
        self.rows(&sql, [], row, decode)
    }

    pub fn volume(&self, name: &str) -> Result<Option<VolumeRecord>> {
        let sql = format!("SELECT {COLS} FROM volumes WHERE name = ?1");
        self.one(&sql, [name], row, decode)
    }

    /// Inserts a volume; false when the name is taken.
    pub fn insert_volume(&self, v: &VolumeRecord) -> Result<bool> {
        let conn = self.conn();
        let n = conn.execute(
            &format!("INSERT OR IGNORE INTO volumes ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            params![
                v.name,
                v.driver,
                v.created,
                serde_json::to_string(&v.labels)?,
                serde_json::to_string(&v.options)?,
                v.anonymous
            ],
        )?;
        Ok(n == 1)
    }

    pub fn delete_volume(&self, name: &str) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM volumes WHERE name = ?1", [name])?;
        Ok(())
    }
}
