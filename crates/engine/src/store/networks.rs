//! Networks, their endpoints (the IP leases: one per container and network, unique per network
//! so a restart can never hand out an address twice) and each running container's published
//! ports.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::{Error, Result};

/// One network. Settings live in a JSON document so new ones need no migration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// `bridge` or `cni`.
    pub driver: String,
    /// Unix nanoseconds.
    pub created: i64,
    /// The Linux bridge's name.
    pub bridge: String,
    pub subnet: String,
    pub gateway: String,
    pub ip_range: String,
    /// Dual stack: the IPv6 subnet and gateway (empty for IPv4-only networks).
    pub subnet6: String,
    pub gateway6: String,
    pub internal: bool,
    pub attachable: bool,
    /// Embedded DNS by container name (user-defined networks, as docker).
    pub dns: bool,
    pub mtu: Option<u32>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// A container's lease and settings on one network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointRecord {
    pub network_id: String,
    pub container_id: String,
    pub ip: String,
    /// Dual stack: the IPv6 address (empty on IPv4-only networks).
    pub ip6: String,
    pub mac: String,
    pub aliases: Vec<String>,
    /// Interface index inside the container: `eth<n>`.
    pub index: u32,
    /// The address was asked for (`--ip`), not chosen.
    pub static_ip: bool,
    /// CNI's result, recorded for DEL and CHECK.
    pub cni_result: Option<serde_json::Value>,
}

fn bad(what: &str) -> impl Fn(serde_json::Error) -> Error + '_ {
    move |e| Error::internal(format!("{what}: stored row unreadable: {e}"))
}

impl Store {
    pub fn networks(&self) -> Result<Vec<NetworkRecord>> {
        let rows: Vec<String> = {
            let conn = self.conn();
            let mut st = conn.prepare("SELECT spec FROM networks ORDER BY created")?;
            st.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        rows.iter()
            .map(|s| serde_json::from_str(s).map_err(bad("network")))
            .collect()
    }

    pub fn insert_network(&self, n: &NetworkRecord) -> Result<()> {
        let spec = serde_json::to_string(n)?;
        let r = self.conn().execute(
            "INSERT INTO networks (id, name, driver, created, spec) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![n.id, n.name, n.driver, n.created, spec],
        );
        match r {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::conflict(format!(
                    "network with name {} already exists",
                    n.name
                )))
            }
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    pub fn update_network(&self, n: &NetworkRecord) -> Result<()> {
        let spec = serde_json::to_string(n)?;
        self.conn().execute(
            "UPDATE networks SET spec = ?2 WHERE id = ?1",
            params![n.id, spec],
        )?;
        Ok(())
    }

    pub fn delete_network(&self, id: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM networks WHERE id = ?1", params![id])?;
        Ok(())
    }

    pub fn endpoints(&self) -> Result<Vec<EndpointRecord>> {
        self.endpoints_where("1 = 1", "")
    }

    pub fn endpoints_of_container(&self, id: &str) -> Result<Vec<EndpointRecord>> {
        self.endpoints_where("container_id = ?1", id)
    }

    pub fn endpoints_of_network(&self, id: &str) -> Result<Vec<EndpointRecord>> {
        self.endpoints_where("network_id = ?1", id)
    }

    fn endpoints_where(&self, cond: &str, arg: &str) -> Result<Vec<EndpointRecord>> {
        let rows: Vec<String> = {
            let conn = self.conn();
            let mut st = conn.prepare(&format!(
                "SELECT spec FROM endpoints WHERE {cond} ORDER BY idx"
            ))?;
            if cond.contains("?1") {
                st.query_map(params![arg], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            } else {
                st.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            }
        };
        rows.iter()
            .map(|s| serde_json::from_str(s).map_err(bad("endpoint")))
            .collect()
    }

    /// Records a lease; a taken address is a conflict (the UNIQUE index decides, atomically).
    pub fn insert_endpoint(&self, e: &EndpointRecord) -> Result<()> {
        let spec = serde_json::to_string(e)?;
        let r = self.conn().execute(
            "INSERT INTO endpoints (network_id, container_id, ip, idx, spec) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![e.network_id, e.container_id, e.ip, e.index, spec],
        );
        match r {
            Err(rusqlite::Error::SqliteFailure(err, _))
                if err.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::conflict(format!(
                    "Address already in use: {} (or the container is already on the network)",
                    e.ip
                )))
            }
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    /// Rewrites an endpoint (a CNI plugin chose its address); the address stays unique.
    pub fn update_endpoint(&self, e: &EndpointRecord) -> Result<()> {
        let spec = serde_json::to_string(e)?;
        self.conn().execute(
            "UPDATE endpoints SET ip = ?3, spec = ?4 WHERE network_id = ?1 AND container_id = ?2",
            params![e.network_id, e.container_id, e.ip, spec],
        )?;
        Ok(())
    }

    pub fn delete_endpoint(&self, network_id: &str, container_id: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM endpoints WHERE network_id = ?1 AND container_id = ?2",
            params![network_id, container_id],
        )?;
        Ok(())
    }

    pub fn delete_endpoints_of_container(&self, container_id: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM endpoints WHERE container_id = ?1",
            params![container_id],
        )?;
        Ok(())
    }

    /// Published ports of a running container (JSON list), if any.
    pub fn container_ports(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT ports FROM container_ports WHERE container_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn all_container_ports(&self) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT container_id, ports FROM container_ports")?;
        Ok(st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?)
    }

    pub fn set_container_ports(&self, id: &str, ports: Option<&str>) -> Result<()> {
        let conn = self.conn();
        match ports {
            Some(p) => conn.execute(
                "INSERT OR REPLACE INTO container_ports (container_id, ports) VALUES (?1, ?2)",
                params![id, p],
            )?,
            None => conn.execute(
                "DELETE FROM container_ports WHERE container_id = ?1",
                params![id],
            )?,
        };
        Ok(())
    }
}
