//! Container rows: identity, the settings given at create time, and the last recorded state.

use pouch_api::types::{ContainerConfig, HostConfig};
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::containers::ContainerStatus;
use crate::error::{Error, Result};

/// What survives a daemon restart about a container's life so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StoredState {
    /// Serialized as docker's string (`"running"`), as it always was.
    pub status: ContainerStatus,
    pub pid: i64,
    pub exit_code: i64,
    pub oom_killed: bool,
    pub error: String,
    /// Unix nanoseconds; 0 = never.
    pub started_at: i64,
    pub finished_at: i64,
    pub restart_count: i64,
    /// Set when the user stopped it, so `unless-stopped` and `always` respect that.
    pub manually_stopped: bool,
    /// The runtime the container was started with (`pouch`, or a configured name).
    pub runtime: String,
}

#[derive(Debug, Clone)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub image_id: String,
    /// Unix nanoseconds.
    pub created: i64,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub state: StoredState,
    /// Volumes, binds and tmpfs mounts, resolved at create time.
    pub mounts: Vec<MountRecord>,
}

/// One mount of a container as decided at create time. Volume sources are resolved through their
/// driver at each start.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MountRecord {
    /// `volume`, `bind` or `tmpfs`.
    pub kind: String,
    /// Volume name (volumes only).
    pub name: String,
    pub driver: String,
    /// Host path (binds only).
    pub source: String,
    pub destination: String,
    pub rw: bool,
    /// The mode string as given (`ro,Z`, …), for inspect.
    pub mode: String,
    pub propagation: String,
    /// Copy the image's content at the destination into an empty volume at the next start.
    pub copy_data: bool,
    /// Created for this container (image VOLUME or `-v /path`): `rm -v` removes it.
    pub anonymous: bool,
    /// Extra mount options (tmpfs size and mode, bind `nosuid`, …).
    pub options: Vec<String>,
    /// Don't bind recursively (`bind-nonrecursive`).
    pub non_recursive: bool,
    /// Not listed in inspect's `Mounts` (docker lists `--mount type=tmpfs` but not `--tmpfs`).
    pub hidden: bool,
}

const COLS: &str = "id, name, image_id, created, config, host_config, state, mounts";

type Row8 = (String, String, String, i64, String, String, String, String);

fn row(r: &Row<'_>) -> rusqlite::Result<Row8> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn decode(t: Row8) -> Result<ContainerRecord> {
    let bad = |what: &str, e: serde_json::Error| {
        Error::internal(format!(
            "container {}: stored {what} is unreadable: {e}",
            t.0
        ))
    };
    Ok(ContainerRecord {
        config: serde_json::from_str(&t.4).map_err(|e| bad("config", e))?,
        host_config: serde_json::from_str(&t.5).map_err(|e| bad("host config", e))?,
        state: serde_json::from_str(&t.6).map_err(|e| bad("state", e))?,
        mounts: serde_json::from_str(&t.7).map_err(|e| bad("mounts", e))?,
        id: t.0,
        name: t.1,
        image_id: t.2,
        created: t.3,
    })
}

impl Store {
    pub fn containers(&self) -> Result<Vec<ContainerRecord>> {
        let sql = format!("SELECT {COLS} FROM containers ORDER BY created DESC");
        self.rows(&sql, [], row, decode)
    }

    pub fn container(&self, id: &str) -> Result<Option<ContainerRecord>> {
        let sql = format!("SELECT {COLS} FROM containers WHERE id = ?1");
        self.one(&sql, [id], row, decode)
    }

    pub fn container_by_name(&self, name: &str) -> Result<Option<String>> {
        let conn = self.conn();
        Ok(conn
            .query_row("SELECT id FROM containers WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn container_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT id FROM containers WHERE substr(id, 1, ?2) = ?1")?;
        let rows = st
            .query_map(params![prefix, prefix.len() as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rows)
    }

    /// Inserts a new container; a taken name is a conflict naming the holder, as docker says it.
    pub fn insert_container(&self, c: &ContainerRecord) -> Result<()> {
        let conn = self.conn();
        let res = conn.execute(
            &format!("INSERT INTO containers ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![
                c.id,
                c.name,
                c.image_id,
                c.created,
                serde_json::to_string(&c.config)?,
                serde_json::to_string(&c.host_config)?,
                serde_json::to_string(&c.state)?,
                serde_json::to_string(&c.mounts)?
            ],
        );
        match res {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                let holder = conn
                    .query_row(
                        "SELECT id FROM containers WHERE name = ?1",
                        [&c.name],
                        |r| r.get::<_, String>(0),
                    )
                    .unwrap_or_default();
                Err(Error::conflict(format!(
                    "Conflict. The container name \"/{}\" is already in use by container \"{holder}\". \
                     You have to remove (or rename) that container to be able to reuse that name.",
                    c.name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn update_container_state(&self, id: &str, state: &StoredState) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "UPDATE containers SET state = ?2 WHERE id = ?1",
            params![id, serde_json::to_string(state)?],
        )?;
        Ok(())
    }

    pub fn update_container_config(&self, id: &str, config: &ContainerConfig) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "UPDATE containers SET config = ?2 WHERE id = ?1",
            params![id, serde_json::to_string(config)?],
        )?;
        Ok(())
    }

    pub fn update_container_mounts(&self, id: &str, mounts: &[MountRecord]) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "UPDATE containers SET mounts = ?2 WHERE id = ?1",
            params![id, serde_json::to_string(mounts)?],
        )?;
        Ok(())
    }

    /// Replaces the stored `HostConfig` (`docker update`).
    pub fn update_container_host_config(&self, id: &str, hc: &HostConfig) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "UPDATE containers SET host_config = ?2 WHERE id = ?1",
            params![id, serde_json::to_string(hc)?],
        )?;
        Ok(())
    }

    pub fn rename_container(&self, id: &str, name: &str) -> Result<()> {
        let conn = self.conn();
        match conn.execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![id, name],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::conflict(format!(
                    "Error when allocating new name: Conflict. The container name \"/{name}\" is \
                     already in use"
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn delete_container(&self, id: &str) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM containers WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Images that some container was created from (they cannot be removed without force).
    pub fn container_ids_using_image(&self, image_id: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT id FROM containers WHERE image_id = ?1")?;
        let rows = st
            .query_map([image_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}
