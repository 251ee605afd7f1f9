//! `pouch.db`: the SQLite metadata store. One connection in WAL mode; every state change is one
//! transaction, so a crash leaves either the old or the new state.

mod containers;
mod images;
mod networks;
mod volumes;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction};

pub use containers::{ContainerRecord, MountRecord, StoredState};
pub use images::{
    ImageRecord, LayerRecord, RefRecord, delete_image, delete_ref, insert_image, set_ref,
};
pub use networks::{EndpointRecord, NetworkRecord};
pub use volumes::VolumeRecord;

use crate::error::{Error, Result};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Never edit a
/// shipped entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: images, their layers and their names.
    r#"
    CREATE TABLE images (
        id TEXT PRIMARY KEY,
        manifest_digest TEXT,
        created INTEGER NOT NULL,
        size INTEGER NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        added_at INTEGER NOT NULL
    );
    CREATE TABLE image_layers (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        chain_id TEXT NOT NULL,
        diff_id TEXT NOT NULL,
        blob TEXT NOT NULL,
        media_type TEXT NOT NULL,
        blob_size INTEGER NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (image_id, idx)
    );
    CREATE INDEX image_layers_chain ON image_layers(chain_id);
    CREATE INDEX image_layers_blob ON image_layers(blob);
    CREATE TABLE image_refs (
        name TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX image_refs_image ON image_refs(image_id);
    "#,
    // 2: containers. Settings and state are JSON documents; names are unique.
    r#"
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        image_id TEXT NOT NULL,
        created INTEGER NOT NULL,
        config TEXT NOT NULL,
        host_config TEXT NOT NULL,
        state TEXT NOT NULL
    );
    CREATE INDEX containers_image ON containers(image_id);
    "#,
    // 3: volumes, and the mounts each container was created with (JSON list).
    r#"
    CREATE TABLE volumes (
        name TEXT PRIMARY KEY,
        driver TEXT NOT NULL,
        created INTEGER NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        options TEXT NOT NULL DEFAULT '{}',
        anonymous INTEGER NOT NULL DEFAULT 0
    );
    ALTER TABLE containers ADD COLUMN mounts TEXT NOT NULL DEFAULT '[]';
    "#,
    // 4: networks, endpoints (IP leases, unique per network) and published ports.
    r#"
    CREATE TABLE networks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        driver TEXT NOT NULL,
        created INTEGER NOT NULL,
        spec TEXT NOT NULL
    );
    CREATE TABLE endpoints (
        network_id TEXT NOT NULL REFERENCES networks(id),
        container_id TEXT NOT NULL,
        ip TEXT NOT NULL,
        idx INTEGER NOT NULL,
        spec TEXT NOT NULL,
        PRIMARY KEY (network_id, container_id),
        UNIQUE (network_id, ip)
    );
    CREATE INDEX endpoints_container ON endpoints(container_id);
    CREATE TABLE container_ports (
        container_id TEXT PRIMARY KEY,
        ports TEXT NOT NULL
    );
    "#,
];

pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        let mut conn = Connection::open(path)
            .map_err(|e| Error::internal(format!("open {}: {e}", path.display())))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every row `sql` selects, read by `row` under the connection's lock and decoded by `decode`
    /// after it is released (decoding parses JSON columns).
    pub(crate) fn rows<R, T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
        decode: impl FnMut(R) -> Result<T>,
    ) -> Result<Vec<T>> {
        let raw = {
            let conn = self.conn();
            let mut st = conn.prepare(sql)?;
            st.query_map(p, row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        };
        raw.into_iter().map(decode).collect()
    }

    /// The row `sql` selects, if any, read and decoded as by [`Store::rows`].
    pub(crate) fn one<R, T>(
        &self,
        sql: &str,
        p: impl rusqlite::Params,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
        decode: impl FnOnce(R) -> Result<T>,
    ) -> Result<Option<T>> {
        let raw = {
            let conn = self.conn();
            conn.query_row(sql, p, row).optional()?
        };
        raw.map(decode).transpose()
    }

    /// Runs `f` in one transaction, committed only if it returns `Ok`.
    pub fn tx<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let have: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if have > MIGRATIONS.len() {
        return Err(Error::internal(format!(
            "pouch.db has schema version {have} but this pouchd knows only {}: it was written by a \
             newer pouchd; run that version or restore a backup",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(have) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pouch.db");
        drop(Store::open(&p).unwrap());
        let s = Store::open(&p).unwrap();
        let v: usize = s
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len());
        s.conn().pragma_update(None, "user_version", 99).unwrap();
        drop(s);
        let err = Store::open(&p).err().unwrap();
        assert!(err.message.contains("newer pouchd"), "{err}");
    }
}
