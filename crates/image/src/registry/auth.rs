//! Credentials and the `WWW-Authenticate` challenge flow: Basic sends the credentials as they
//! are; Bearer fetches a token scoped to the repository from the challenge's realm.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use super::{Error, Result};

/// Docker's auth config, as sent in `X-Registry-Auth` and `POST /auth`, and stored in
/// `~/.docker/config.json` (there only `auth`, `identitytoken`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// base64 of `user:password`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

impl AuthConfig {
    /// Decodes an `X-Registry-Auth` header (base64url JSON; docker clients pad it, some do not).
    /// An empty or `{}` header means anonymous.
    pub fn from_header(value: &str) -> Result<AuthConfig> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(AuthConfig::default());
        }
        let bytes = URL_SAFE
            .decode(value)
            .or_else(|_| URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')))
            .or_else(|_| STANDARD.decode(value))
            .map_err(|e| Error::Protocol(format!("X-Registry-Auth is not base64url: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(AuthConfig::default());
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Protocol(format!("X-Registry-Auth is not an auth config: {e}")))
    }

    /// Encodes for `X-Registry-Auth`.
    pub fn to_header(&self) -> String {
        URL_SAFE.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The credentials to use, from `username`/`password`, `auth` or a token.
    pub fn credentials(&self) -> Credentials {
        if !self.registrytoken.is_empty() {
            return Credentials::Token(self.registrytoken.clone());
        }
        if !self.username.is_empty() || !self.password.is_empty() {
            return Credentials::Basic(self.username.clone(), self.password.clone());
        }
        if !self.auth.is_empty()
            && let Ok(raw) = STANDARD.decode(self.auth.trim())
            && let Ok(s) = String::from_utf8(raw)
            && let Some((u, p)) = s.split_once(':')
        {
            return Credentials::Basic(u.to_string(), p.to_string());
        }
        if !self.identitytoken.is_empty() {
            return Credentials::Token(self.identitytoken.clone());
        }
        Credentials::Anonymous
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic(String, String),
    /// A bearer token given by the client (`registrytoken`).
    Token(String),
}

impl Credentials {
    pub(crate) fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic(u, p) => {
                Some(format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))))
            }
            _ => None,
        }
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

pub(crate) fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, v)) = s.split_once('=') else {
            break;
        };
        let k = k.trim().to_ascii_lowercase();
        let v = v.trim_start();
        let (val, next) = if let Some(q) = v.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            (out, &q[end.min(q.len())..])
        } else {
            let end = v.find(',').unwrap_or(v.len());
            (v[..end].trim().to_string(), &v[end..])
        };
        params.insert(k, val);
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// A token endpoint's answer (docker's `token`, OAuth's `access_token`).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub access_token: String,
}

impl TokenResponse {
    pub(crate) fn into_token(self) -> Option<String> {
        if !self.token.is_empty() {
            Some(self.token)
        } else if !self.access_token.is_empty() {
            Some(self.access_token)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["service"], "registry.docker.io");
        assert_eq!(c.params["scope"], "repository:library/busybox:pull");
        let b = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(b.scheme, "basic");
        assert_eq!(b.params["realm"], "Registry Realm");
    }

    #[test]
    fn auth_header_round_trip_and_credentials() {
        let a = AuthConfig {
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        };
        let back = AuthConfig::from_header(&a.to_header()).unwrap();
        assert_eq!(back, a);
        assert_eq!(
            back.credentials(),
            Credentials::Basic("u".into(), "p".into())
        );
        let b = AuthConfig {
            auth: STANDARD.encode("x:y:z"),
            ..Default::default()
        };
        assert_eq!(
            b.credentials(),
            Credentials::Basic("x".into(), "y:z".into())
        );
        assert_eq!(
            AuthConfig::from_header("").unwrap().credentials(),
            Credentials::Anonymous
        );
        assert_eq!(
            AuthConfig::from_header(&URL_SAFE.encode("{}"))
                .unwrap()
                .credentials(),
            Credentials::Anonymous
        );
    }
}
