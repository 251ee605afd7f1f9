//! pouchd's log: tracing to stderr as text or JSON, at `info`, or `debug` with `-D`/`"debug"`.
//! The level follows a config reload; `POUCHD_LOG` (an env-filter) fixes it instead.

use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Changes the log level of the running daemon.
pub struct LogLevel {
    /// None when `POUCHD_LOG` chose the filter: the operator's filter is kept.
    handle: Option<reload::Handle<EnvFilter, Registry>>,
}

pub fn init(debug: bool, format: &str) -> LogLevel {
    let from_env = EnvFilter::try_from_env("POUCHD_LOG").ok();
    let fixed = from_env.is_some();
    let (filter, handle) =
        reload::Layer::new(from_env.unwrap_or_else(|| EnvFilter::new(level(debug))));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    if format == "json" {
        registry.with(fmt.json()).init();
    } else {
        registry.with(fmt).init();
    }
    LogLevel {
        handle: (!fixed).then_some(handle),
    }
}

fn level(debug: bool) -> &'static str {
    if debug { "debug" } else { "info" }
}

impl LogLevel {
    /// Logs at `debug` or `info` from now on. Returns false, changing nothing, when
    /// `POUCHD_LOG` set the filter.
    pub fn set_debug(&self, debug: bool) -> bool {
        let Some(handle) = &self.handle else {
            return false;
        };
        if let Err(e) = handle.modify(|f| *f = EnvFilter::new(level(debug))) {
            tracing::warn!(error = %e, "changing the log level failed");
            return false;
        }
        true
    }
}
