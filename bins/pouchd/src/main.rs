//! pouchd: parses flags and the config file, opens the engine, serves the Docker API on every
//! `-H` listener (tcp:// ones behind TLS), reloads its config on SIGHUP and shuts down cleanly
//! on SIGTERM/SIGINT.

mod config;
mod listen;
mod logging;
mod reload;
mod tls;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// The pouch container engine daemon.
#[derive(Parser, Debug, Clone)]
#[command(name = "pouchd", version, about)]
pub struct Flags {
    /// Root of persistent state (metadata, images) [default: /var/lib/pouch]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Root of runtime state (bundles, shim sockets, pid file) [default: /run/pouch]
    #[arg(long, value_name = "DIR")]
    pub exec_root: Option<PathBuf>,
    /// Address to serve the API on: unix:///path or tcp://host:port (repeatable)
    /// [default: unix:///var/run/pouchd.sock]
    #[arg(short = 'H', long = "host", value_name = "ADDR")]
    pub hosts: Vec<String>,
    /// JSON config file; flags win over it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Debug logging
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Where to write the daemon's pid [default: <exec-root>/pouchd.pid]
    #[arg(short = 'p', long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,
    /// Allow image layers to create device nodes
    #[arg(long)]
    pub allow_device_nodes: bool,
    /// Log format: text or json
    #[arg(long, default_value = "text")]
    pub log_format: String,
    /// Start lxcfs with the daemon (containers opt in with --enable-lxcfs)
    #[arg(long = "enable-lxcfs", alias = "enableLxcfs")]
    pub enable_lxcfs: bool,
    /// The lxcfs binary [default: lxcfs in PATH]
    #[arg(long, value_name = "PATH")]
    pub lxcfs: Option<PathBuf>,
    /// Where pouchd mounts lxcfs [default: <exec-root>/lxcfs]
    #[arg(long, value_name = "DIR")]
    pub lxcfs_home: Option<PathBuf>,
    /// Run containers in a user namespace: default (user dockremap) or user[:group] with
    /// ranges in /etc/subuid and /etc/subgid
    #[arg(long, value_name = "USER")]
    pub userns_remap: Option<String>,
    /// The default bridge's interface name; `none` disables it [default: pouch0]
    #[arg(short = 'b', long, value_name = "NAME")]
    pub bridge: Option<String>,
    /// The default bridge's address and prefix, e.g. 172.30.0.1/16 [default: a free pool subnet]
    #[arg(long, value_name = "CIDR")]
    pub bip: Option<String>,
    /// Hand out default-bridge addresses from this range (inside the bip subnet)
    #[arg(long, value_name = "CIDR")]
    pub fixed_cidr: Option<String>,
    /// Enable IPv6 on the default bridge (needs --fixed-cidr-v6)
    #[arg(long)]
    pub ipv6: bool,
    /// The default bridge's IPv6 subnet, e.g. fd00:17::/64
    #[arg(long, value_name = "CIDR")]
    pub fixed_cidr_v6: Option<String>,
    /// MTU of the default bridge and its containers' interfaces
    #[arg(long, value_name = "BYTES")]
    pub mtu: Option<u32>,
    /// Serve tcp:// listeners with TLS; implied by --tlsverify. A tcp:// listener needs TLS or
    /// an explicit --tls=false (plain TCP: anyone who can connect has root)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "BOOL")]
    pub tls: Option<bool>,
    /// Use TLS and accept only clients with a certificate signed by --tlscacert (the default
    /// once TLS is on; --tlsverify=false serves TLS to any client)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_name = "BOOL")]
    pub tlsverify: Option<bool>,
    /// Trust client certificates signed only by this CA [default: ~/.docker/ca.pem]
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// The server's TLS certificate [default: ~/.docker/cert.pem]
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// The server's TLS key [default: ~/.docker/key.pem]
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
}

fn main() {
    let flags = Flags::parse();
    let cfg = match config::resolve(&flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pouchd: {e:#}");
            std::process::exit(1);
        }
    };
    let log = logging::init(cfg.engine.debug, &flags.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pouchd: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = rt.block_on(run(flags, cfg, log));
    // Blocking workers (a log follower, a stuck client) must not keep a stopped daemon alive.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    if let Err(e) = result {
        tracing::error!("{e:#}");
        eprintln!("pouchd: {e:#}");
        std::process::exit(1);
    }
}

async fn run(flags: Flags, cfg: config::DaemonConfig, log: logging::LogLevel) -> Result<()> {
    // Signal handlers first: a SIGHUP that arrives while the engine opens waits for the loop
    // below instead of killing the daemon.
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    // Certificates are read before anything starts: a bad path stops pouchd at once.
    let tcp = listen::TcpMode::load(&cfg.tcp)?;
    let engine =
        pouch_engine::Engine::open(cfg.engine.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Only now, with the root lock held, can a pid file naming an exited pouchd be told stale;
    // and a pid file another root's daemon holds is refused before restore touches anything.
    let pidfile = listen::PidFile::create(&cfg.pidfile)?;
    // Adopt containers that kept running while no daemon was up; record those that exited.
    engine
        .restore()
        .await
        .map_err(|e| anyhow::anyhow!("restoring containers: {e}"))?;
    engine
        .start_lxcfs()
        .await
        .map_err(|e| anyhow::anyhow!("starting lxcfs: {e}"))?;
    let listeners = listen::bind_all(&cfg.hosts, tcp.as_ref()).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let router = pouch_server::router(&engine);
    let mut tasks = Vec::new();
    for l in listeners {
        let mut rx = stop_rx.clone();
        let shutdown = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        tasks.push(tokio::spawn(l.serve(router.clone(), shutdown)));
    }
    tracing::info!(
        version = pouch_api::VERSION,
        root = %cfg.engine.root.display(),
        hosts = ?cfg.hosts,
        "pouchd is ready"
    );
    let reloader = reload::Reloader {
        flags,
        started: cfg.file.clone(),
        log,
        engine: engine.clone(),
    };
    let sig = loop {
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = hup.recv() => reloader.reload(),
        }
    };
    tracing::info!(signal = sig, "shutting down");
    let _ = stop_tx.send(true);
    let drain = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    if tokio::time::timeout(std::time::Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10s; closing them");
    }
    listen::remove_sockets(&cfg.hosts);
    engine.shutdown_networks().await;
    let _ = tokio::task::spawn_blocking(move || engine.stop_lxcfs()).await;
    drop(pidfile);
    tracing::info!("pouchd stopped");
    Ok(())
}
