//! The Docker Engine API over HTTP: routing, version negotiation, error mapping and listeners.
//! Handlers translate requests into typed engine calls and results into Docker's JSON.

mod error;
mod query;
mod routes;
mod stream;
mod version;

use std::future::Future;

use axum::Router;
use axum::middleware;
use pouch_engine::Engine;

pub use version::ApiVersion;

/// The full API, answering both `/path` and `/v1.NN/path`.
pub fn router(engine: Engine) -> Router {
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
        .with_state(engine);
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
