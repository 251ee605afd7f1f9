//! The Docker Engine API over HTTP: routing, version negotiation, error mapping and listeners.
//! Handlers translate requests into typed engine calls and results into Docker's JSON.

mod error;
mod query;
mod routes;
mod stream;
mod version;

use std::future::Future;

use axum::Router;
use axum::extract::FromRef;
use axum::middleware;
use pouch_engine::{Containers, Distribution, Engine, Exec, Images, Networks, System, Volumes};

pub use version::ApiVersion;

/// The services the Docker face uses. Each router module extracts only the ones it needs
/// (`State<Containers>`, `State<Images>`, …) through `FromRef`, so a handler can reach nothing
/// beyond its resource's interface.
#[derive(Clone)]
pub struct AppState {
    containers: Containers,
    exec: Exec,
    images: Images,
    distribution: Distribution,
    networks: Networks,
    volumes: Volumes,
    system: System,
}

macro_rules! substate {
    ($($ty:ty => $field:ident),* $(,)?) => {
        $(impl FromRef<AppState> for $ty {
            fn from_ref(s: &AppState) -> $ty {
                s.$field.clone()
            }
        })*
    };
}

substate! {
    Containers => containers,
    Exec => exec,
    Images => images,
    Distribution => distribution,
    Networks => networks,
    Volumes => volumes,
    System => system,
}

impl AppState {
    pub fn new(engine: &Engine) -> AppState {
        AppState {
            containers: engine.containers().clone(),
            exec: engine.exec().clone(),
            images: engine.images().clone(),
            distribution: engine.distribution().clone(),
            networks: engine.networks().clone(),
            volumes: engine.volumes().clone(),
            system: engine.system().clone(),
        }
    }
}

/// The full API, answering both `/path` and `/v1.NN/path`.
pub fn router(engine: &Engine) -> Router {
    let api = Router::new()
        .merge(routes::system::routes())
        .merge(routes::images::routes())
        .merge(routes::registry::routes())
        .merge(routes::containers::routes())
        .merge(routes::archive::routes())
        .merge(routes::events::routes())
        .merge(routes::exec::routes())
        .merge(routes::commit::routes())
        .merge(routes::resources::routes())
        .merge(routes::networks::routes())
        .merge(routes::volumes::routes())
        .fallback(|| async { routes::images::page_not_found() })
        .with_state(AppState::new(engine));
    // The version layer sits on an outer router so it runs before the inner one routes, and can
    // strip the version prefix from the path.
    Router::new()
        .fallback_service(api)
        .layer(middleware::from_fn(version::middleware))
}

/// Serves `router` on a unix listener until `shutdown` resolves.
pub async fn serve_unix(
    listener: tokio::net::UnixListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `router` on a TCP listener until `shutdown` resolves.
pub async fn serve_tcp(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// How long a client may take over its TLS handshake before it is dropped.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `router` over TLS on a TCP listener until `shutdown` resolves. `acceptor` decides
/// whether clients must present a certificate (`--tlsverify`); a client the handshake refuses
/// (no certificate, one from another CA, plain HTTP) never reaches the router, and its
/// rejection is logged with its address.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    // Handshakes run on tasks of their own so that a slow or silent client cannot hold up the
    // others; the accept loop ends when the server below stops (and drops the receiver).
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                _ = tx.closed() => return,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a TLS connection failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => {
                        tracing::info!(%peer, error = %e, "refused a TLS connection");
                    }
                    Err(_) => {
                        tracing::info!(%peer, "dropped a TLS connection: no handshake in 10s")
                    }
                }
            });
        }
    });
    axum::serve(TlsListener { rx, local }, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The connections whose TLS handshake succeeded, as axum's listener.
struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        std::net::SocketAddr,
    )>,
    local: std::net::SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop only ends once this listener is gone; until then wait forever.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
