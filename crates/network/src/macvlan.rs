//! The macvlan driver: each endpoint is a macvlan child of the network's parent interface,
//! created directly inside the container's namespace (so it dies with it). No bridge, no NAT and
//! no published ports: members are on the parent's segment.

use std::os::fd::AsRawFd;

use pouch_sys::netlink::Netlink;

use crate::bridge::{Attachment, configure_inside};
use crate::{Error, NetworkDriver, NetworkSpec, Result};

/// `mode` from `-o macvlan_mode=…` (bridge by default, as docker).
pub fn mode_number(mode: &str) -> Result<u32> {
    Ok(match mode {
        "" | "bridge" => 4,
        "private" => 1,
        "vepa" => 2,
        "passthru" => 8,
        m => return Err(Error::Invalid(format!("invalid macvlan mode {m:?}"))),
    })
}

pub struct MacvlanDriver {
    pub parent: String,
    pub mode: u32,
}

impl NetworkDriver for MacvlanDriver {
    fn name(&self) -> &'static str {
        "macvlan"
    }

    /// The parent must exist; it is the operator's, so it is neither made nor removed here.
    fn create(&self, _net: &NetworkSpec) -> Result<()> {
        if crate::bridge::link_exists(&self.parent) {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "macvlan parent interface {} does not exist",
                self.parent
            )))
        }
    }

    fn delete(&self, _net: &NetworkSpec) -> Result<()> {
        Ok(())
    }

    fn attach(&self, _net: &NetworkSpec, ep: &Attachment) -> Result<()> {
        let mut nl = Netlink::open().map_err(|e| Error::Sys(format!("netlink: {e}")))?;
        let parent = nl
            .index(&self.parent)
            .map_err(|e| Error::Sys(format!("list links: {e}")))?
            .ok_or_else(|| Error::Invalid(format!("macvlan parent {} is gone", self.parent)))?;
        let ns = std::fs::File::open(&ep.netns)
            .map_err(|e| Error::Sys(format!("open the network namespace: {e}")))?;
        nl.add_macvlan(
            &ep.container_if,
            parent,
            self.mode,
            ns.as_raw_fd(),
            Some(ep.mac),
            ep.mtu,
        )
        .map_err(|e| Error::Sys(format!("create macvlan on {}: {e}", self.parent)))?;
        configure_inside(ep)
    }

    /// The child lives in the container's namespace; a running container's is deleted there.
    fn detach(&self, _net: &NetworkSpec, _host_if: &str) -> Result<()> {
        Ok(())
    }
}

/// Deletes interface `name` inside the namespace at `netns` (disconnect of a running container).
pub fn delete_inside(netns: &std::path::Path, name: &str) -> Result<()> {
    let name = name.to_string();
    pouch_sys::netns::run_in(netns, move || Netlink::open()?.del_link(&name))
        .map_err(|e| Error::Sys(format!("delete {e}")))
}
