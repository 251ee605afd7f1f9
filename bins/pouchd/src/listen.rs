//! API listeners and the pid file. A socket that another live daemon answers on is never taken
//! over; a stale one (left by a crash) is replaced.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use axum::Router;

use crate::config::TcpSecurity;

pub enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
    Tls(tokio::net::TcpListener, tokio_rustls::TlsAcceptor),
}

impl Listener {
    pub async fn serve(self, router: Router, shutdown: impl Future<Output = ()> + Send + 'static) {
        let r = match self {
            Listener::Unix(l) => pouch_server::serve_unix(l, router, shutdown).await,
            Listener::Tcp(l) => pouch_server::serve_tcp(l, router, shutdown).await,
            Listener::Tls(l, a) => pouch_server::serve_tls(l, a, router, shutdown).await,
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "listener failed");
        }
    }
}

/// How tcp:// listeners serve: plain (the operator asked for it) or with this TLS config.
pub enum TcpMode {
    Plain,
    Tls {
        config: Arc<rustls::ServerConfig>,
        verify: bool,
    },
}

impl TcpMode {
    /// Loads the certificates `tcp` names (checked before anything else starts).
    pub fn load(tcp: &Option<TcpSecurity>) -> Result<Option<TcpMode>> {
        Ok(match tcp {
            None => None,
            Some(TcpSecurity::Plain) => Some(TcpMode::Plain),
            Some(TcpSecurity::Tls(files)) => Some(TcpMode::Tls {
                config: crate::tls::server_config(files)?,
                verify: files.verify,
            }),
        })
    }
}

pub async fn bind_all(hosts: &[String], tcp: Option<&TcpMode>) -> Result<Vec<Listener>> {
    let mut out = Vec::new();
    for h in hosts {
        out.push(
            bind(h, tcp)
                .await
                .with_context(|| format!("cannot listen on {h}"))?,
        );
    }
    Ok(out)
}

async fn bind(host: &str, tcp: Option<&TcpMode>) -> Result<Listener> {
    if let Some(path) = host.strip_prefix("unix://") {
        let path = Path::new(path);
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                bail!(
                    "another daemon is already serving on unix://{}; stop it or choose another -H",
                    path.display()
                );
            }
            std::fs::remove_file(path).context("removing stale socket")?;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let l = tokio::net::UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        return Ok(Listener::Unix(l));
    }
    if let Some(addr) = host.strip_prefix("tcp://") {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        return Ok(match tcp {
            // `config::resolve` refuses a tcp:// host whose security nobody chose.
            None | Some(TcpMode::Plain) => {
                tracing::warn!(
                    addr,
                    "serving the API on TCP without TLS (--tls=false): anyone who can connect \
                     has root on this host"
                );
                Listener::Tcp(listener)
            }
            Some(TcpMode::Tls { config, verify }) => {
                if !verify {
                    tracing::warn!(
                        addr,
                        "serving the API with TLS but without --tlsverify: any client that \
                         connects has root on this host"
                    );
                }
                Listener::Tls(listener, tokio_rustls::TlsAcceptor::from(config.clone()))
            }
        });
    }
    bail!("unsupported address {host:?}: use unix:///path or tcp://host:port")
}

pub fn remove_sockets(hosts: &[String]) {
    for h in hosts {
        if let Some(p) = h.strip_prefix("unix://") {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Holds `<pidfile>` for the daemon's lifetime; refuses to start over a live pouchd's pid file.
///
/// Create it only with the root lock held (`Engine::open` takes it). The previous pouchd of this
/// root has then released the lock, so it has exited: if the pid file still names it, the name
/// may be a zombie its parent has not reaped yet (after `kill -9`), which keeps its pid and name
/// in `/proc` but is no daemon. A pid file naming a live pouchd at that point belongs to a daemon
/// of another root, which must not share it.
pub struct PidFile(PathBuf);

impl PidFile {
    pub fn create(path: &Path) -> Result<PidFile> {
        if let Ok(old) = std::fs::read_to_string(path)
            && let Ok(pid) = old.trim().parse::<u32>()
            && pid != std::process::id()
            && std::fs::read_to_string(format!("/proc/{pid}/status"))
                .is_ok_and(|s| is_live_pouchd(&s))
        {
            bail!(
                "pid file {} belongs to a running pouchd (pid {pid}); stop it or pass another \
                 --exec-root/--pidfile",
                path.display()
            );
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("pid.tmp");
        std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("writing pid file {}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

/// Whether `/proc/<pid>/status` describes a pouchd that has not exited: a zombie (`Z`) or a
/// dead task (`X`) keeps its name until reaped but serves nothing.
fn is_live_pouchd(status: &str) -> bool {
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
    };
    let exited = field("State:").is_some_and(|s| s.starts_with(['Z', 'X']));
    field("Name:") == Some("pouchd") && !exited
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::process::{Child, Command};

    /// A private directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!("pouchd-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// `program` under the name `pouchd` (a symlink: the kernel names a process after the path
    /// it was started by), so its `/proc/<pid>/status` says `Name: pouchd`.
    fn named_pouchd(dir: &Path, program: &str) -> PathBuf {
        let p = dir.join("pouchd");
        std::os::unix::fs::symlink(program, &p).unwrap();
        p
    }

    fn pid_file_naming(dir: &Path, child: &Child) -> PathBuf {
        let p = dir.join("run").join("pouchd.pid");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("{}\n", child.id())).unwrap();
        p
    }

    #[test]
    fn an_unreaped_zombie_pouchd_does_not_hold_the_pid_file() {
        let dir = TempDir::new("zombie");
        let mut zombie = Command::new(named_pouchd(&dir.0, "/bin/true"))
            .spawn()
            .unwrap();
        let status = format!("/proc/{}/status", zombie.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(&status)
            .unwrap()
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
        {
            assert!(std::time::Instant::now() < deadline, "child never exited");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let path = pid_file_naming(&dir.0, &zombie);
        let held = PidFile::create(&path);
        let _ = zombie.wait();
        let held = held.expect("a zombie's pid file is stale");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            std::process::id().to_string()
        );
        drop(held);
        assert!(!path.exists());
    }

    #[test]
    fn a_live_pouchd_keeps_its_pid_file() {
        let dir = TempDir::new("live");
        let mut live = Command::new(named_pouchd(&dir.0, "/bin/sleep"))
            .arg("60")
            .spawn()
            .unwrap();
        let path = pid_file_naming(&dir.0, &live);
        let r = PidFile::create(&path);
        let _ = live.kill();
        let _ = live.wait();
        let err = format!("{:#}", r.err().expect("refused"));
        assert!(err.contains("belongs to a running pouchd"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            live.id().to_string()
        );
    }

    #[test]
    fn status_fields() {
        let live = "Name:\tpouchd\nUmask:\t0022\nState:\tS (sleeping)\n";
        assert!(is_live_pouchd(live));
        assert!(!is_live_pouchd(&live.replace("S (sleeping)", "Z (zombie)")));
        assert!(!is_live_pouchd(&live.replace("S (sleeping)", "X (dead)")));
        assert!(!is_live_pouchd(&live.replace("pouchd", "sleep")));
    }
}
