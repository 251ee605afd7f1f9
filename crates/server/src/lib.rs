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
