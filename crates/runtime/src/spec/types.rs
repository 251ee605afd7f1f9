//! The engine-facing description of a container, already resolved (user names turned into ids,
//! image config merged with the request), from which [`super::generate`] builds the OCI spec.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything the spec generator needs to know about one container.
///
/// Fields mirror Docker's `HostConfig`/`Config` after the daemon has merged image defaults and
/// request; the generator adds Docker's defaults on top and validates what Docker validates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    pub id: String,
    /// The mounted root filesystem (overlay `merged` dir); must be absolute.
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
    pub args: Vec<String>,
    /// `KEY=value` entries; a bare `KEY` removes a default such as `PATH` (Docker semantics).
    pub env: Vec<String>,
    /// Working directory in the container; empty means `/`.
    pub cwd: String,
    pub user: User,
    pub terminal: bool,
    pub hostname: String,
    pub domainname: String,
    /// Extra mounts (hosts/resolv.conf/hostname binds, volumes, tmpfs). A mount replaces any
    /// default mount at, or below, the same destination.
    pub mounts: Vec<Mount>,
    /// Propagation of the rootfs mount (`rshared`, `rslave`, …) when a bind needs it; the runtime's
    /// default (rslave) otherwise.
    pub rootfs_propagation: Option<String>,
    pub privileged: bool,
    /// Docker capability names (`NET_ADMIN`, `CAP_NET_ADMIN`, `ALL`), case-insensitive.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    /// `docker run --device` mappings.
    pub devices: Vec<Device>,
    pub sysctls: BTreeMap<String, String>,
    /// Empty means the process inherits the runtime's limits (never raised above the host's).
    pub rlimits: Vec<Rlimit>,
    /// Size of `/dev/shm` in bytes; `None` means Docker's 64 MiB.
    pub shm_size: Option<u64>,
    pub namespaces: Namespaces,
    /// `--userns-remap`: a private user namespace with these maps (container id, host id, size).
    pub user_ns: Option<UserNs>,
    /// Absolute cgroup path below each hierarchy's root, e.g. `/pouch/<id>`.
    pub cgroups_path: String,
    /// The host's cgroup layout, from [`super::detect_cgroup_layout`].
    pub cgroup_layout: CgroupLayout,
    pub resources: Resources,
    pub oom_score_adj: Option<i32>,
    /// `--init`: host path of a static init, bind-mounted read-only at `/sbin/docker-init` and
    /// prepended to the command.
    pub init_path: Option<PathBuf>,
    /// `None` means Docker's defaults (none at all when privileged).
    pub masked_paths: Option<Vec<String>>,
    /// `None` means Docker's defaults (none at all when privileged). On cgroup v1,
    /// `/sys/fs/cgroup` is dropped from the list: its cgroup binds are read-only already, and
    /// crun would make them writable again (see `mounts::readonly_paths`).
    pub readonly_paths: Option<Vec<String>>,
    pub annotations: BTreeMap<String, String>,
    /// The seccomp filter; Docker's default profile unless said otherwise.
    pub seccomp: super::Seccomp,
}

/// The numeric identity the container process runs as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// An extra mount, in OCI terms.
///
/// Paths inside the container are `String`s throughout this module and host paths are
/// `PathBuf`s, so that a container path is never used on the host by accident; `source` is a
/// `String` because it is a filesystem name (`tmpfs`) as often as a host path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path inside the container.
    pub destination: String,
    /// Host path for binds (absolute), or the filesystem's source name (`tmpfs`, …).
    pub source: String,
    /// `bind`, `tmpfs`, … (OCI `type`).
    pub kind: String,
    /// fstab-style options; binds without `bind`/`rbind` get `rbind` as Docker does.
    pub options: Vec<String>,
}

/// A host device made available in the container (`--device host[:container[:perms]]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    /// A device node or a directory of them (symlinks are followed).
    pub path_on_host: PathBuf,
    /// Empty means the same path as on the host.
    pub path_in_container: String,
    /// Devices-cgroup access, a combination of `r`, `w`, `m`; empty means `rwm`.
    pub cgroup_permissions: String,
}

/// A process resource limit, with Docker's ulimit names (`nofile`, `nproc`, `core`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rlimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// The uid and gid maps of a container's own user namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserNs {
    pub uid_maps: Vec<(u32, u32, u32)>,
    pub gid_maps: Vec<(u32, u32, u32)>,
    /// Join this pinned user namespace (its maps are already written) instead of making one.
    pub path: Option<PathBuf>,
}

/// Which namespaces the container gets for itself and which it shares.
///
/// The mount namespace is always private; the cgroup namespace is private on cgroup v2 only
/// (Docker's default cgroupns mode per cgroup version).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    pub pid: NsMode,
    pub ipc: NsMode,
    pub uts: NsMode,
    pub net: NsMode,
}

/// How one namespace is set up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NsMode {
    /// A new namespace of its own.
    #[default]
    Private,
    /// The host's namespace (the namespace is left out of the spec).
    Host,
    /// Join an existing namespace, e.g. `/proc/<pid>/ns/net` of another container.
    Path(PathBuf),
    /// Join a namespace made for this container alone (pouchd's pinned network namespace): joined
    /// by path, but the container's own, so per-namespace settings (net sysctls) apply to it.
    Owned(PathBuf),
}

impl NsMode {
    /// Whether the namespace belongs to this container alone.
    pub fn is_own(&self) -> bool {
        matches!(self, NsMode::Private | NsMode::Owned(_))
    }
}

/// The host's cgroup layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CgroupLayout {
    /// Legacy or hybrid: one entry per mounted v1 hierarchy, as
    /// `(controllers joined by commas, e.g. "memory", "cpu,cpuacct" or "name=systemd", host mount point)`.
    /// A hybrid host's cgroup2 mount is not listed: no controller that runtimes manage lives there.
    V1 { controllers: Vec<(String, PathBuf)> },
    /// Unified: `/sys/fs/cgroup` is cgroup2.
    #[default]
    V2,
}

/// cgroup resource limits, with Docker's units and sentinel values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Bytes; at least 6 MiB when set.
    pub memory: Option<i64>,
    /// Memory plus swap in bytes; `-1` is unlimited; unset with `memory` set means twice `memory`.
    pub memory_swap: Option<i64>,
    /// `<= 0` means unlimited.
    pub pids_limit: Option<i64>,
    /// Relative weight; `0` means the default.
    pub cpu_shares: Option<u64>,
    /// Microseconds per period; `0` means unset, `-1` unlimited, otherwise at least 1000.
    pub cpu_quota: Option<i64>,
    /// Microseconds, 1000..=1000000; `0` means the default.
    pub cpu_period: Option<u64>,
    /// cpuset list, e.g. `0-2,5`.
    pub cpuset_cpus: Option<String>,
    /// Memory nodes, same list syntax as `cpuset_cpus`.
    pub cpuset_mems: Option<String>,
    /// Soft limit in bytes (v1 `memory.soft_limit_in_bytes`, v2 `memory.low`); `<= 0` is unset.
    pub memory_reservation: Option<i64>,
    /// 0..=100; `None` (Docker's `-1`) inherits the parent's.
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: bool,
    /// 10..=1000; `0` means unset.
    pub blkio_weight: Option<u16>,
    pub device_read_bps: Vec<BlkioThrottle>,
    pub device_write_bps: Vec<BlkioThrottle>,
    pub device_read_iops: Vec<BlkioThrottle>,
    pub device_write_iops: Vec<BlkioThrottle>,
}

/// A per-device I/O limit (`--device-read-bps /dev/sda:1mb`): bytes or operations per second.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioThrottle {
    /// A block device node on the host; its major:minor goes into the cgroup.
    pub path: PathBuf,
    pub rate: u64,
}
