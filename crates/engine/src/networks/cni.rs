//! Networks defined by CNI conflists (`cni-config-dir`, `/etc/cni/net.d` by default): each
//! conflist becomes a network of driver `cni` (ids derived from its name), whose endpoints are
//! made by the plugins at start (ADD, result recorded in the endpoint) and removed at exit (DEL).

use std::path::Path;

use pouch_network::cni::{self, ConfList};
use sha2::Digest;

use crate::error::{Error, Result};
use crate::store::{ContainerRecord, EndpointRecord, NetworkRecord};
use crate::{Networks, now_nanos};

pub(crate) const CNI_DRIVER: &str = "cni";

/// The address column of a CNI endpoint before the plugins chose one (unique per container).
pub(crate) fn placeholder(container_id: &str) -> String {
    format!("cni:{container_id}")
}

impl Networks {
    fn cni_lists(&self) -> Vec<ConfList> {
        cni::load_dir(&self.net_cfg().cni_conf_dir)
    }

    fn cni_list(&self, name: &str) -> Result<ConfList> {
        self.cni_lists()
            .into_iter()
            .find(|l| l.name == name)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "CNI network {name}: no conflist of that name in {}",
                    self.net_cfg().cni_conf_dir.display()
                ))
            })
    }

    /// Makes the stored CNI networks match the conflists: new ones are added, vanished ones
    /// without endpoints dropped. A conflist named like a pouch network is ignored.
    pub(crate) fn sync_cni_networks(&self) -> Result<()> {
        let lists = self.cni_lists();
        let store = &self.ctx.store;
        let nets = store.networks()?;
        for l in &lists {
            match nets.iter().find(|n| n.name == l.name) {
                Some(n) if n.driver != CNI_DRIVER => {
                    tracing::warn!(network = %l.name, "CNI conflist ignored: a network of that name exists");
                }
                Some(_) => {}
                None => {
                    let id = hex::encode(sha2::Sha256::digest(format!("cni/{}", l.name)));
                    let subnet = l
                        .plugins
                        .iter()
                        .find_map(|p| {
                            p["ipam"]["subnet"]
                                .as_str()
                                .or_else(|| p["ipam"]["ranges"][0][0]["subnet"].as_str())
                                .map(str::to_string)
                        })
                        .unwrap_or_default();
                    store.insert_network(&NetworkRecord {
                        id,
                        name: l.name.clone(),
                        driver: CNI_DRIVER.into(),
                        created: now_nanos(),
                        subnet,
                        options: [("cni.version".to_string(), l.cni_version.clone())]
                            .into_iter()
                            .collect(),
                        ..Default::default()
                    })?;
                }
            }
        }
        for n in nets.iter().filter(|n| n.driver == CNI_DRIVER) {
            if !lists.iter().any(|l| l.name == n.name)
                && store.endpoints_of_network(&n.id)?.is_empty()
            {
                store.delete_network(&n.id)?;
            }
        }
        Ok(())
    }

    fn cni_runtime(&self, ep: &EndpointRecord, netns: &Path) -> cni::Runtime {
        cni::Runtime {
            container_id: ep.container_id.clone(),
            netns: netns.to_path_buf(),
            ifname: format!("eth{}", ep.index),
            plugin_dirs: self.net_cfg().cni_bin_dirs.clone(),
        }
    }

    /// ADD through the network's plugins; the endpoint records the address and the result.
    pub(crate) fn cni_attach(
        &self,
        n: &NetworkRecord,
        ep: &EndpointRecord,
        netns: &Path,
    ) -> Result<()> {
        let list = self.cni_list(&n.name)?;
        let rt = self.cni_runtime(ep, netns);
        let result = cni::add(&list, &rt)?;
        let mut ep = ep.clone();
        if let Some(ip) = cni::result_ip(&result) {
            ep.ip = ip;
        }
        if let Some(mac) = result["interfaces"]
            .as_array()
            .and_then(|i| {
                i.iter()
                    .find(|i| i["sandbox"].as_str().is_some_and(|s| !s.is_empty()))
            })
            .and_then(|i| i["mac"].as_str())
        {
            ep.mac = mac.to_string();
        }
        ep.cni_result = Some(result);
        if let Err(e) = self.ctx.store.update_endpoint(&ep) {
            let _ = cni::del(&list, &rt, ep.cni_result.as_ref());
            return Err(e);
        }
        Ok(())
    }

    /// DEL through the plugins (with the recorded result); the endpoint forgets its address.
    pub(crate) fn cni_detach(&self, c: &ContainerRecord, ep: &EndpointRecord) -> Result<()> {
        let n = self
            .ctx
            .store
            .networks()?
            .into_iter()
            .find(|n| n.id == ep.network_id);
        let Some(n) = n else { return Ok(()) };
        if ep.cni_result.is_none() && ep.ip.starts_with("cni:") {
            return Ok(());
        }
        let list = self.cni_list(&n.name)?;
        let rt = self.cni_runtime(ep, &self.ctx.netns_path(&c.id));
        let r = cni::del(&list, &rt, ep.cni_result.as_ref());
        let mut ep = ep.clone();
        ep.ip = placeholder(&c.id);
        ep.cni_result = None;
        self.ctx.store.update_endpoint(&ep)?;
        r.map_err(Into::into)
    }
}
