//! The engine's services, one per resource, and `Engine`, the bundle `open()` returns.
//!
//! Each service is a cheap `Clone` handle: an `Arc<Context>` for what all share (store, content
//! store, snapshotter, config, events) plus the runtime state only that resource has. A service
//! that needs another holds it explicitly; the graph has no cycles:
//!
//! ```text
//! System ──► Containers ──► Images, Networks, Volumes, Lxcfs
//!    │            ▲
//!    │          Exec
//!    └──► Images, Volumes, Networks        Distribution ──► Images
//! Networks ──► ContainerLocks (the per-container operation lock, shared with Containers)
//! ```
//!
//! Only the methods a face (the Docker router, later the CRI server) calls are `pub`; the rest
//! are `pub(crate)` for the services' own use.

use std::sync::Arc;

use crate::containers::{ContainerLocks, Execs, LiveMap};
use crate::context::Context;
use crate::lxcfs::LxcfsState;
use crate::networks::NetState;
use crate::volumes::VolumeDrivers;

/// Containers: create, start, stop, kill, restart, pause, update, remove, inspect, list, logs,
/// attach, wait, stats, top, changes, archive, export, commit. Owns the live map (shim
/// connections, the per-container operation lock, exit notifications).
#[derive(Clone)]
pub struct Containers {
    pub(crate) ctx: Arc<Context>,
    pub(crate) live: Arc<LiveMap>,
    pub(crate) images: Images,
    pub(crate) networks: Networks,
    pub(crate) volumes: Volumes,
    pub(crate) lxcfs: Lxcfs,
}

/// Exec instances: create, start, inspect, resize. Owns the table of exec instances; reaches
/// the container's shim through `Containers`.
#[derive(Clone)]
pub struct Exec {
    pub(crate) ctx: Arc<Context>,
    pub(crate) containers: Containers,
    pub(crate) execs: Arc<Execs>,
}

/// Local images: list, inspect, history, tag, remove, prune, load, import, save, and the
/// content garbage collector. Owns the image lock that serialises image mutations.
#[derive(Clone)]
pub struct Images {
    pub(crate) ctx: Arc<Context>,
    /// Serialises image mutations (load, import, tag, delete, prune, commit, pull's record) so
    /// that a delete never removes a layer that a concurrent load has decided to reuse.
    pub(crate) lock: Arc<tokio::sync::Mutex<()>>,
}

/// Registries: pull, push, login. Records what it pulls through `Images`.
#[derive(Clone)]
pub struct Distribution {
    pub(crate) ctx: Arc<Context>,
    pub(crate) images: Images,
}

/// Networks: create, list, inspect, remove, prune, connect, disconnect, and the container-side
/// glue (endpoints, netns, hosts/resolv files, DNS, firewall). Owns the DNS servers and the
/// firewall driver.
#[derive(Clone)]
pub struct Networks {
    pub(crate) ctx: Arc<Context>,
    pub(crate) state: Arc<NetState>,
    /// connect/disconnect change a container: they take its operation lock.
    pub(crate) locks: ContainerLocks,
}

/// Volumes: create, list, inspect, remove, prune. Owns the volume drivers.
#[derive(Clone)]
pub struct Volumes {
    pub(crate) ctx: Arc<Context>,
    pub(crate) drivers: Arc<VolumeDrivers>,
}

/// The lxcfs supervisor, used by containers that ask for `EnableLxcfs`.
#[derive(Clone)]
pub(crate) struct Lxcfs {
    pub(crate) ctx: Arc<Context>,
    pub(crate) state: Arc<LxcfsState>,
}

/// The daemon as a whole: version, info, disk usage, events.
#[derive(Clone)]
pub struct System {
    pub(crate) ctx: Arc<Context>,
    pub(crate) containers: Containers,
    pub(crate) images: Images,
    pub(crate) volumes: Volumes,
}

/// What `open()` returns: every service of one daemon, sharing one context. Faces take the
/// services they need (`engine.containers().clone()`); clones share one state.
#[derive(Clone)]
pub struct Engine {
    containers: Containers,
    exec: Exec,
    images: Images,
    distribution: Distribution,
    networks: Networks,
    volumes: Volumes,
    system: System,
}

impl Engine {
    /// Wires the services over one context. Reconciliation is the caller's (`open`).
    pub(crate) fn assemble(ctx: Arc<Context>, net: NetState, drivers: VolumeDrivers) -> Engine {
        let live = Arc::new(LiveMap::default());
        let images = Images {
            ctx: ctx.clone(),
            lock: Arc::new(tokio::sync::Mutex::new(())),
        };
        let networks = Networks {
            ctx: ctx.clone(),
            state: Arc::new(net),
            locks: ContainerLocks(live.clone()),
        };
        let volumes = Volumes {
            ctx: ctx.clone(),
            drivers: Arc::new(drivers),
        };
        let lxcfs = Lxcfs {
            ctx: ctx.clone(),
            state: Default::default(),
        };
        let containers = Containers {
            ctx: ctx.clone(),
            live,
            images: images.clone(),
            networks: networks.clone(),
            volumes: volumes.clone(),
            lxcfs,
        };
        Engine {
            exec: Exec {
                ctx: ctx.clone(),
                containers: containers.clone(),
                execs: Default::default(),
            },
            distribution: Distribution {
                ctx: ctx.clone(),
                images: images.clone(),
            },
            system: System {
                ctx,
                containers: containers.clone(),
                images: images.clone(),
                volumes: volumes.clone(),
            },
            containers,
            images,
            networks,
            volumes,
        }
    }

    pub fn containers(&self) -> &Containers {
        &self.containers
    }
    pub fn exec(&self) -> &Exec {
        &self.exec
    }
    pub fn images(&self) -> &Images {
        &self.images
    }
    pub fn distribution(&self) -> &Distribution {
        &self.distribution
    }
    pub fn networks(&self) -> &Networks {
        &self.networks
    }
    pub fn volumes(&self) -> &Volumes {
        &self.volumes
    }
    pub fn system(&self) -> &System {
        &self.system
    }

    pub fn config(&self) -> &crate::Config {
        &self.system.ctx.config
    }

    /// After `open`: networks up (bridges, firewall, DNS), containers that kept running adopted,
    /// exits that happened while no daemon ran recorded and their restart policies applied.
    pub async fn restore(&self) -> crate::Result<()> {
        self.containers.restore().await
    }

    /// Starts lxcfs now when the daemon is configured to (`--enable-lxcfs`).
    pub async fn start_lxcfs(&self) -> crate::Result<()> {
        self.containers.lxcfs.start_lxcfs().await
    }

    /// At daemon stop: DNS servers and firewall rules go; containers keep running.
    pub async fn shutdown_networks(&self) {
        self.networks.shutdown_networks().await
    }

    /// At daemon stop: unmounts the lxcfs this daemon started (blocking).
    pub fn stop_lxcfs(&self) {
        self.containers.lxcfs.stop_lxcfs()
    }
}
