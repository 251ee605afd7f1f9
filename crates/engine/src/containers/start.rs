//! `POST /containers/{id}/start`: mounts the rootfs, writes the OCI bundle, launches the shim,
//! connects early attaches, starts the process and begins watching for its exit.

use std::path::{Path, PathBuf};

use pouch_image::Digest;
use pouch_runtime::shim::{self, ShimLaunch};
use pouch_runtime::spec::{self, ContainerSpec, Namespaces, NsMode};

use super::ContainerStatus;
use crate::context::to_completion;
use crate::error::{Error, Result};
use crate::store::ContainerRecord;
use crate::{Containers, now_nanos};

/// What `start` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    Now,
    /// It was already running (docker answers 304).
    Already,
}

impl Containers {
    pub async fn start_container(&self, name: &str) -> Result<Started> {
        let name = name.to_string();
        let this = self.clone();
        to_completion(async move { this.start_container_now(&name).await }).await
    }

    /// The operation itself; see [`to_completion`].
    async fn start_container_now(&self, name: &str) -> Result<Started> {
        let c = self.ctx.resolve_container(name)?;
        let live = self.live.get(&c.id);
        let op = live.op.lock().await;
        let res = self.start_locked(&c.id).await;
        drop(op);
        if res.is_err() && c.host_config.auto_remove {
            // As docker: a `--rm` container that cannot start is removed (clients wait for it).
            let _ = self.remove_container(&c.id, true, true).await;
        }
        res
    }

    /// Starts a container whose op lock the caller holds.
    pub(crate) async fn start_locked(&self, id: &str) -> Result<Started> {
        let mut c = self
            .ctx
            .store
            .container(id)?
            .ok_or_else(|| Error::not_found(format!("No such container: {id}")))?;
        match c.state.status {
            ContainerStatus::Running => return Ok(Started::Already),
            ContainerStatus::Paused => {
                return Err(Error::conflict(
                    "cannot start a paused container, try unpause instead",
                ));
            }
            _ => {}
        }
        let running = c.state.status.transition(ContainerStatus::Running)?;
        let launch = {
            let e = self.clone();
            let c = c.clone();
            tokio::task::spawn_blocking(move || e.prepare_start(&c))
                .await
                .map_err(|e| Error::internal(e.to_string()))?
        };
        let launch = match launch {
            Ok(l) => l,
            Err(err) => return Err(self.start_failed(&mut c, err, EXIT_UNKNOWN)),
        };
        let client = match shim::launch(&launch).await {
            Ok(client) => client,
            Err(err) => {
                let code = create_exit_code(&err);
                let err = create_error(err, &c);
                return Err(self.start_failed(&mut c, err, code));
            }
        };
        let live = self.live.get(id);
        live.set_shim(Some(client.clone()));
        self.connect_pending(&live, &client).await;
        if let Err(err) = self.apply_post_create(&c) {
            let _ = client.kill(9, true).await;
            let _ = client.shutdown().await;
            live.set_shim(None);
            return Err(self.start_failed(&mut c, err, EXIT_UNKNOWN));
        }
        let pid = match client.start().await {
            Ok(pid) => pid,
            Err(err) => {
                let _ = client.kill(9, true).await;
                let _ = client.shutdown().await;
                live.set_shim(None);
                return Err(self.start_failed(
                    &mut c,
                    Error::internal(format!("failed to start container: {err}")),
                    EXIT_UNKNOWN,
                ));
            }
        };
        c.state.status = running;
        c.state.pid = pid as i64;
        c.state.exit_code = 0;
        c.state.oom_killed = false;
        c.state.error.clear();
        c.state.started_at = now_nanos();
        c.state.manually_stopped = false;
        self.save_state(&c)?;
        self.ctx.emit_container(&c, "start", &[]);
        self.watch_exit(c.id.clone(), client);
        tracing::info!(container = %c.id, pid, "started");
        Ok(Started::Now)
    }

    /// Records a failed start like docker: the container stays created, with `exit_code` (see
    /// [`create_exit_code`]) and the error, published to waiters as the end of this start; the
    /// rootfs is unmounted again.
    fn start_failed(&self, c: &mut ContainerRecord, err: Error, exit_code: i64) -> Error {
        c.state.exit_code = exit_code;
        c.state.error = err.message.clone();
        let _ = self.save_state(c);
        // A `--rm` container is removed next: its waiters answer with this code. Others stay
        // created, and their waiters keep waiting for a run, as dockerd's do.
        let live = self.live.get(&c.id);
        if c.host_config.auto_remove {
            live.exits.send_modify(|m| {
                m.seq += 1;
                m.code = exit_code;
                m.error = c.state.error.clone();
            });
        }
        // Early attaches will never get a stream: release them so their clients see the end.
        live.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.release_mounts(c);
        let _ = pouch_sys::mount::unmount(&self.ctx.container_rootfs(&c.id));
        if let Err(e) = self.networks.teardown_container_network(c) {
            tracing::warn!(container = %c.id, error = %e, "network teardown after a failed start");
        }
        err
    }

    /// Everything before the shim: mount, resolve the user, generate and write the spec.
    fn prepare_start(&self, c: &ContainerRecord) -> Result<ShimLaunch> {
        let rootfs = self.ctx.container_rootfs(&c.id);
        if !pouch_sys::mount::is_mounted(&rootfs) {
            self.mount_rootfs(c, &rootfs)?;
        }
        let user = resolve_user(&rootfs, &c.config.user, &c.host_config.group_add)?;
        let hc = &c.host_config;
        let dir = self.ctx.container_dir(&c.id);
        let ro = if hc.readonly_rootfs {
            vec!["ro".to_string()]
        } else {
            Vec::new()
        };
        let bind = |name: &str, dest: &str| spec::Mount {
            destination: dest.into(),
            source: dir.join(name).display().to_string(),
            kind: "bind".into(),
            options: [
                vec!["rbind".to_string(), "rprivate".to_string()],
                ro.clone(),
            ]
            .concat(),
        };
        let mut mounts = vec![
            bind("hosts", "/etc/hosts"),
            bind("resolv.conf", "/etc/resolv.conf"),
        ];
        if hc.uts_mode != "host" {
            mounts.push(bind("hostname", "/etc/hostname"));
        }
        if hc.enable_lxcfs {
            mounts.extend(self.lxcfs.lxcfs_mounts()?);
        }
        let remap = self.ctx.remap_for(c);
        if let Some(r) = remap {
            let files = ["hosts", "resolv.conf", "hostname"].map(|f| dir.join(f));
            self.ctx.chown_for_remap(r, &files);
        }
        let mut rec = c.clone();
        if !rec.config.disk_quota.is_empty() {
            self.apply_disk_quota(&mut rec)?;
        }
        let (user_mounts, rootfs_propagation) = self.realise_mounts(&mut rec, &rootfs)?;
        mounts.retain(|m| !user_mounts.iter().any(|u| u.destination == m.destination));
        mounts.extend(user_mounts);
        let ns = |mode: &str, kind: &str| -> Result<NsMode> {
            Ok(match mode {
                "host" => NsMode::Host,
                m if m.starts_with("container:") => {
                    NsMode::Path(self.ns_path(&m["container:".len()..], kind)?)
                }
                _ => NsMode::Private,
            })
        };
        // A remapped container's own network namespace must belong to its user namespace, or
        // the runtime could not join it from inside: pin both before the network is set up.
        let userns_path = match (remap, pouch_network::Mode::parse(&hc.network_mode)) {
            (Some(r), pouch_network::Mode::Network(_) | pouch_network::Mode::None) => {
                Some(self.ctx.pin_container_userns(c, r)?)
            }
            _ => None,
        };
        let net = match pouch_network::Mode::parse(&hc.network_mode) {
            pouch_network::Mode::Host => NsMode::Host,
            pouch_network::Mode::Container(other) => {
                // Join the other container's pinned namespace when it has one (it outlives
                // that container's restarts); its process's otherwise.
                let o = self.ctx.resolve_container(&other)?;
                let pinned = self.ctx.netns_path(&o.id);
                if pinned.exists() && o.state.status.is_running() {
                    NsMode::Path(pinned)
                } else {
                    NsMode::Path(self.ns_path(&other, "net")?)
                }
            }
            pouch_network::Mode::Network(_) | pouch_network::Mode::None => {
                match self.networks.setup_container_network(c)? {
                    Some(p) => NsMode::Owned(p),
                    None => NsMode::Private,
                }
            }
        };
        let mut args = c.config.entrypoint.clone().unwrap_or_default();
        args.extend(c.config.cmd.clone().unwrap_or_default());
        let init_path = if hc.init == Some(true) {
            Some(find_init()?)
        } else {
            None
        };
        let cs = ContainerSpec {
            id: c.id.clone(),
            rootfs: rootfs.clone(),
            readonly_rootfs: hc.readonly_rootfs,
            args,
            env: c.config.env.clone(),
            cwd: c.config.working_dir.clone(),
            user,
            terminal: c.config.tty,
            hostname: if hc.uts_mode == "host" {
                String::new()
            } else {
                c.config.hostname.clone()
            },
            domainname: c.config.domainname.clone(),
            mounts,
            rootfs_propagation,
            user_ns: remap.map(|r| spec::UserNs {
                uid_maps: r.uid_maps(),
                gid_maps: r.gid_maps(),
                path: userns_path.clone(),
            }),
            privileged: hc.privileged,
            cap_add: hc.cap_add.clone(),
            cap_drop: hc.cap_drop.clone(),
            no_new_privileges: hc.security_opt.iter().any(|o| {
                o == "no-new-privileges"
                    || o == "no-new-privileges:true"
                    || o == "no-new-privileges=true"
            }),
            devices: hc
                .devices
                .iter()
                .map(|d| spec::Device {
                    path_on_host: d.path_on_host.clone().into(),
                    path_in_container: if d.path_in_container.is_empty() {
                        d.path_on_host.clone()
                    } else {
                        d.path_in_container.clone()
                    },
                    cgroup_permissions: if d.cgroup_permissions.is_empty() {
                        "rwm".into()
                    } else {
                        d.cgroup_permissions.clone()
                    },
                })
                .collect(),
            sysctls: hc.sysctls.clone(),
            rlimits: hc
                .ulimits
                .iter()
                .map(|u| spec::Rlimit {
                    name: u.name.clone(),
                    soft: u.soft.max(0) as u64,
                    hard: u.hard.max(0) as u64,
                })
                .collect(),
            shm_size: (hc.shm_size > 0).then_some(hc.shm_size as u64),
            namespaces: Namespaces {
                pid: ns(&hc.pid_mode, "pid")?,
                ipc: ns(&hc.ipc_mode, "ipc")?,
                uts: ns(&hc.uts_mode, "uts")?,
                net,
            },
            cgroups_path: super::update::cgroups_path(hc, &c.id),
            cgroup_layout: self.ctx.cgroup_layout()?,
            resources: super::update::resources_from(hc)?,
            oom_score_adj: (hc.oom_score_adj != 0).then_some(hc.oom_score_adj as i32),
            init_path,
            masked_paths: hc.masked_paths.clone(),
            readonly_paths: hc.readonly_paths.clone(),
            annotations: Default::default(),
            seccomp: super::security::seccomp_mode(&hc.security_opt),
        };
        let spec = spec::generate(&cs).map_err(|e| Error::invalid(e.to_string()))?;
        let state_dir = self.ctx.container_state_dir(&c.id);
        std::fs::create_dir_all(&state_dir)?;
        spec::write_bundle(&state_dir, &spec).map_err(|e| Error::internal(e.to_string()))?;
        let (log_max_size, log_max_files) = super::create::logs_opts(&hc.log_config.config)?;
        let (runtime, runtime_root) = self.runtime_for(&c.state.runtime)?;
        Ok(ShimLaunch {
            shim_binary: shim_binary(),
            id: c.id.clone(),
            bundle: state_dir.clone(),
            state_dir,
            log_path: self.ctx.log_path(&c.id),
            log_max_size,
            log_max_files,
            runtime,
            runtime_root,
            stdin: c.config.open_stdin,
            tty: c.config.tty,
        })
    }

    /// Mounts the rootfs at its usual place (for export of a stopped container).
    pub(crate) fn mount_container_rootfs(&self, c: &ContainerRecord) -> Result<()> {
        self.mount_rootfs(c, &self.ctx.container_rootfs(&c.id))
    }

    fn mount_rootfs(&self, c: &ContainerRecord, target: &Path) -> Result<()> {
        let layers = self.ctx.store.layers(&c.image_id)?;
        let mut lower: Vec<PathBuf> = layers
            .iter()
            .rev()
            .map(|l| Digest::parse(&l.chain_id).map(|d| self.ctx.snaps.dir(&d)))
            .collect::<std::result::Result<_, _>>()?;
        if lower.is_empty() {
            // overlayfs needs a lower layer: an image without layers gets an empty one.
            let empty = self.ctx.container_dir(&c.id).join("rw/empty");
            std::fs::create_dir_all(&empty)?;
            lower.push(empty);
        }
        let dir = self.ctx.container_dir(&c.id);
        if let Some(r) = self.ctx.remap_for(c) {
            // The remapped root owns the image layers through idmapped mounts (held by the
            // overlay); the writable layer is in the remapped id space on disk.
            let idm = self.ctx.idmapped_layers(&c.id, &lower)?;
            self.ctx.chown_for_remap(r, &[dir.join("rw/upper")]);
            return pouch_sys::mount::mount_overlay(
                &idm.lower,
                &dir.join("rw/upper"),
                &dir.join("rw/work"),
                target,
            )
            .map_err(|e| Error::internal(e.to_string()));
        }
        pouch_sys::mount::mount_overlay(&lower, &dir.join("rw/upper"), &dir.join("rw/work"), target)
            .map_err(|e| Error::internal(e.to_string()))
    }

    /// `/proc/<pid>/ns/<kind>` of a running container, for `--network container:x` and friends.
    fn ns_path(&self, other: &str, kind: &str) -> Result<PathBuf> {
        let o = self.ctx.resolve_container(other)?;
        if !o.state.status.is_running() {
            return Err(Error::conflict(format!(
                "cannot join namespace of a non running container: {}",
                o.name
            )));
        }
        Ok(PathBuf::from(format!("/proc/{}/ns/{kind}", o.state.pid)))
    }
}

/// docker's exit code for a start that failed before the process ran (none of the two below).
const EXIT_UNKNOWN: i64 = 128;

/// The exit code a failed create records, from the kind the shim reported: 127 when the
/// process's executable does not exist, 126 when it cannot be executed (as docker).
fn create_exit_code(err: &shim::Error) -> i64 {
    match err {
        shim::Error::Create {
            kind: shim::CreateErrorKind::NotFound,
            ..
        } => 127,
        shim::Error::Create {
            kind: shim::CreateErrorKind::PermissionDenied,
            ..
        } => 126,
        _ => EXIT_UNKNOWN,
    }
}

/// Words the failure as runc does, since clients (docker's CLI among them) pick the exit code
/// 127 or 126 from those words.
fn create_error(err: shim::Error, c: &ContainerRecord) -> Error {
    let cmd = c
        .config
        .entrypoint
        .iter()
        .chain(c.config.cmd.iter())
        .flatten()
        .next()
        .cloned()
        .unwrap_or_default();
    let prefix = "failed to create task for container: OCI runtime create failed: unable to start container process";
    match err {
        shim::Error::Create {
            kind: shim::CreateErrorKind::NotFound,
            message,
        } => Error::invalid(format!(
            "{prefix}: exec: \"{cmd}\": executable file not found in $PATH ({message})"
        )),
        shim::Error::Create {
            kind: shim::CreateErrorKind::PermissionDenied,
            message,
        } => Error::invalid(format!(
            "{prefix}: exec: \"{cmd}\": permission denied ({message})"
        )),
        other => Error::internal(format!("{prefix}: {other}")),
    }
}

/// pouch-shim sits next to pouchd (installed together); PATH is the fallback.
pub(super) fn shim_binary() -> PathBuf {
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        let p = dir.join("pouch-shim");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("pouch-shim")
}

/// `--init` runs tini (Debian's tini package, static build) as PID 1.
pub(crate) fn find_init() -> Result<PathBuf> {
    for p in ["/usr/bin/tini-static", "/usr/local/bin/tini-static"] {
        if Path::new(p).exists() {
            return Ok(p.into());
        }
    }
    Err(Error::invalid(
        "--init needs a static init binary: install it with `apt-get install tini`",
    ))
}

/// Resolves `user[:group]` (names or numbers) against the container's /etc/passwd and /etc/group.
/// Those files come from the image, so a symlink there is not followed out of the rootfs.
/// The numeric identity of `spec_user` (`name`, `uid`, `name:group`, `uid:gid`) read from the
/// rootfs's passwd and group files, with `group_add` (`--group-add`: names or numbers) as extra
/// supplementary groups.
pub(crate) fn resolve_user(
    rootfs: &Path,
    spec_user: &str,
    group_add: &Option<Vec<String>>,
) -> Result<spec::User> {
    let read = |f: &str| -> String {
        let p = rootfs.join(f);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() => std::fs::read_to_string(&p).unwrap_or_default(),
            _ => String::new(),
        }
    };
    let passwd = read("etc/passwd");
    let group = read("etc/group");
    let (u, g) = match spec_user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec_user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let pw = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == u || f[2] == u));
    let (uid, primary_gid, uname) = match (&pw, u.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            f[0].to_string(),
        ),
        (None, Ok(n)) => (n, 0, String::new()),
        (None, Err(_)) => {
            return Err(Error::invalid(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )));
        }
    };
    let gid = match g {
        None => primary_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        },
    };
    // As docker: the supplementary groups are the primary group (`id` shows `groups=1000`, not
    // none), then, unless the group was given, the groups that list the named user as a member.
    let mut additional_gids = vec![gid];
    if g.is_none() && !uname.is_empty() {
        additional_gids.extend(
            group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == uname))
                .filter_map(|f| f[2].parse::<u32>().ok())
                .filter(|g| *g != gid),
        );
    }
    for extra in group_add.iter().flatten() {
        let id = match extra.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == extra)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "Unable to find group {extra}: no matching entries in group file"
                    ))
                })?,
        };
        if !additional_gids.contains(&id) {
            additional_gids.push(id);
        }
    }
    Ok(spec::User {
        uid,
        gid,
        additional_gids,
    })
}

impl crate::context::Context {
    /// The host's cgroup layout, read from mountinfo on first use and kept: hierarchies do not
    /// change under a running engine, and every start needs it.
    pub(crate) fn cgroup_layout(&self) -> Result<spec::CgroupLayout> {
        if let Some(l) = self.cgroup_layout.get() {
            return Ok(l.clone());
        }
        let l = spec::detect_cgroup_layout()?;
        Ok(self.cgroup_layout.get_or_init(|| l).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_from_the_rootfs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nuser:x:1000:\nwheel:x:10:user\n",
        )
        .unwrap();
        let u = resolve_user(d.path(), "", &None).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        let u = resolve_user(d.path(), "user", &None).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (1000, 1000, vec![1000, 10])
        );
        let u = resolve_user(d.path(), "1000:wheel", &None).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (1000, 10, vec![10]));
        let u = resolve_user(d.path(), "user:1000", &None).unwrap();
        assert_eq!(u.additional_gids, vec![1000]);
        let u = resolve_user(d.path(), "4242", &None).unwrap();
        assert_eq!((u.uid, u.gid), (4242, 0));
        assert!(resolve_user(d.path(), "nobody", &None).is_err());
        assert!(resolve_user(d.path(), "user:nogroup", &None).is_err());
    }
}
