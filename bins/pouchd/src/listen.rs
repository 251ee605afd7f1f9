//! API listeners and the pid file. A socket that another live daemon answers on is never taken
//! over; a stale one (left by a crash) is replaced.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use axum::Router;

pub enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

impl Listener {
    pub async fn serve(self, router: Router, shutdown: impl Future<Output = ()> + Send + 'static) {
        let r = match self {
            Listener::Unix(l) => pouch_server::serve_unix(l, router, shutdown).await,
            Listener::Tcp(l) => pouch_server::serve_tcp(l, router, shutdown).await,
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "listener failed");
        }
    }
}

pub async fn bind_all(hosts: &[String]) -> Result<Vec<Listener>> {
    let mut out = Vec::new();
    for h in hosts {
        out.push(
            bind(h)
                .await
                .with_context(|| format!("cannot listen on {h}"))?,
        );
    }
    Ok(out)
}

async fn bind(host: &str) -> Result<Listener> {
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
        tracing::warn!(
            addr,
            "serving the API on TCP without TLS: anyone who can connect has root on this host"
        );
        return Ok(Listener::Tcp(tokio::net::TcpListener::bind(addr).await?));
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
pub struct PidFile(PathBuf);

impl PidFile {
    pub fn create(path: &Path) -> Result<PidFile> {
        if let Ok(old) = std::fs::read_to_string(path)
            && let Ok(pid) = old.trim().parse::<u32>()
            && pid != std::process::id()
            && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "pouchd")
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

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
