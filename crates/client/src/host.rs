//! Parsing of daemon addresses (`-H`, `POUCH_HOST`).

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where pouchd listens when nothing else is said.
pub const DEFAULT_HOST: &str = "unix:///var/run/pouchd.sock";

/// Docker's conventional plain-HTTP port, used when `tcp://host` names no port.
const DEFAULT_TCP_PORT: u16 = 2375;
/// Docker's conventional TLS port, used when `tcp://host` names no port and TLS is on.
pub(crate) const DEFAULT_TLS_PORT: u16 = 2376;

/// A daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `unix:///path/to.sock`
    Unix(PathBuf),
    /// `tcp://host:port` (plain HTTP); `authority` is `host:port`, IPv6 hosts keep brackets.
    Tcp { authority: String },
}

impl Host {
    /// Parses `unix:///path`, `tcp://host[:port]` (and `http://` as an alias of `tcp://`).
    pub fn parse(s: &str) -> Result<Host> {
        Host::parse_with_port(s, DEFAULT_TCP_PORT)
    }

    /// [`Host::parse`], with `default_port` for a `tcp://host` that names none.
    pub(crate) fn parse_with_port(s: &str, default_port: u16) -> Result<Host> {
        let invalid = |reason| Error::InvalidHost {
            host: s.to_owned(),
            reason,
        };
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(invalid("missing socket path"));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        let rest = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or_else(|| invalid("expected unix:///path or tcp://host:port"))?;
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') {
            return Err(invalid("expected tcp://host:port"));
        }
        // The port is whatever follows the last ':' unless that ':' is inside an IPv6 literal.
        let has_port = match rest.rfind(':') {
            Some(i) => !rest[i..].contains(']'),
            None => false,
        };
        let authority = if has_port {
            let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(invalid("invalid port"));
            }
            rest.to_owned()
        } else {
            format!("{rest}:{default_port}")
        };
        Ok(Host::Tcp { authority })
    }

    /// The value for the HTTP `Host` header. A unix socket has no host name, so a fixed
    /// placeholder is sent (HTTP/1.1 requires the header).
    pub(crate) fn header_value(&self) -> &str {
        match self {
            Host::Unix(_) => "localhost",
            Host::Tcp { authority } => authority,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(path) => write!(f, "unix://{}", path.display()),
            Host::Tcp { authority } => write!(f, "tcp://{authority}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_and_tcp() {
        assert_eq!(
            Host::parse(DEFAULT_HOST).unwrap(),
            Host::Unix("/var/run/pouchd.sock".into())
        );
        let tcp = |a: &str| Host::Tcp {
            authority: a.into(),
        };
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2376").unwrap(),
            tcp("127.0.0.1:2376")
        );
        assert_eq!(
            Host::parse("tcp://localhost").unwrap(),
            tcp("localhost:2375")
        );
        assert_eq!(Host::parse("tcp://[::1]:99/").unwrap(), tcp("[::1]:99"));
        assert_eq!(Host::parse("tcp://[::1]").unwrap(), tcp("[::1]:2375"));
        assert_eq!(Host::parse("http://h:1").unwrap(), tcp("h:1"));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "/var/run/x.sock",
            "unix://",
            "tcp://",
            "tcp://h:x",
            "tcp://:1",
            "ssh://h",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn displays_round_trip() {
        for s in ["unix:///run/p.sock", "tcp://127.0.0.1:2375"] {
            assert_eq!(Host::parse(s).unwrap().to_string(), s);
        }
    }
}
