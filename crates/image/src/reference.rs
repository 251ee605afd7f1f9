//! Image references with docker's grammar and normalization (distribution/reference's
//! `ParseNormalizedNamed` and `FamiliarString`), so names typed at the docker CLI resolve to the
//! same repository here as they do in dockerd.

use std::fmt;

use crate::digest::{Digest, is_sha256_hex};
use crate::error::{Error, Result};

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A fully qualified image reference: `domain/path[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses a possibly familiar reference ("busybox", "user/app:1", "localhost:5000/a@sha256:…")
    /// into its fully qualified form. No tag is added; see [`Reference::with_default_tag`].
    pub fn parse_normalized(s: &str) -> Result<Reference> {
        if is_sha256_hex(s) {
            return Err(invalid(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        if s.is_empty() {
            return Err(invalid(
                "repository name must have at least one component".into(),
            ));
        }
        let (mut domain, mut remainder) = split_docker_domain(s);
        if domain == LEGACY_DEFAULT_DOMAIN {
            domain = DEFAULT_DOMAIN;
        }
        let official;
        if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
            official = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
            remainder = &official;
        }
        let remote = remainder.split_once(':').map_or(remainder, |(r, _)| r);
        if remote.to_lowercase() != remote {
            return Err(invalid(format!(
                "invalid reference format: repository name ({remote}) must be lowercase"
            )));
        }

        let (name_tag, digest) = match remainder.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d).map_err(|_| format_error(s))?)),
            None => (remainder, None),
        };
        let (path, tag) = match name_tag.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p, Some(t)),
            _ => (name_tag, None),
        };
        if !valid_domain(domain) || !valid_path(path) {
            return Err(format_error(s));
        }
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(format_error(s));
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(invalid(format!(
                "repository name ({domain}/{path}) must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            )));
        }
        Ok(Reference {
            domain: domain.to_owned(),
            path: path.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// Adds the `latest` tag when the reference names neither a tag nor a digest, as `docker pull`
    /// and `docker tag` do.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some("latest".to_owned());
        }
        self
    }

    /// The repository name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository as docker shows it: `busybox`, `user/app`, `quay.io/x/y`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// The reference as docker shows it: `busybox:latest`, `busybox@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        push_suffix(&mut s, self);
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_suffix(&mut s, self);
        f.write_str(&s)
    }
}

impl std::str::FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse_normalized(s)
    }
}

fn push_suffix(s: &mut String, r: &Reference) {
    if let Some(t) = &r.tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = &r.digest {
        s.push('@');
        s.push_str(d.as_str());
    }
}

fn invalid(msg: String) -> Error {
    Error::InvalidReference(msg)
}

fn format_error(s: &str) -> Error {
    invalid(format!("invalid reference format: {s:?}"))
}

/// The first component is a registry host only if it looks like one (has a dot or a port, is
/// `localhost`, or has upper case, which a repository cannot); otherwise it is docker.io.
fn split_docker_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first, rest)
        }
        _ => (DEFAULT_DOMAIN, name),
    }
}

/// `host[:port]` where host is a dotted DNS name or a bracketed IPv6 address.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if d.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        })
}

/// `component(/component)*` with each component `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_path(p: &str) -> bool {
    p.split('/').all(valid_path_component)
}

fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// A tag is `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalizes_like_docker() {
        let dig = format!("sha256:{HEX}");
        // input, domain, path, tag, digest
        type Case<'a> = (String, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
        let cases: Vec<Case> = vec![
            ("busybox".into(), "docker.io", "library/busybox", None, None),
            (
                "library/busybox:1".into(),
                "docker.io",
                "library/busybox",
                Some("1"),
                None,
            ),
            (
                "docker.io/busybox".into(),
                "docker.io",
                "library/busybox",
                None,
                None,
            ),
            (
                "index.docker.io/busybox".into(),
                "docker.io",
                "library/busybox",
                None,
                None,
            ),
            (
                "user/app:v1.2-rc_3".into(),
                "docker.io",
                "user/app",
                Some("v1.2-rc_3"),
                None,
            ),
            (
                "localhost:5000/x:y".into(),
                "localhost:5000",
                "x",
                Some("y"),
                None,
            ),
            ("localhost/x".into(), "localhost", "x", None, None),
            ("[::1]:5000/a/b".into(), "[::1]:5000", "a/b", None, None),
            (
                format!("quay.io/a/b@{dig}"),
                "quay.io",
                "a/b",
                None,
                Some(&dig),
            ),
            (
                format!("busybox:1@{dig}"),
                "docker.io",
                "library/busybox",
                Some("1"),
                Some(&dig),
            ),
            (
                "a__b/c-d.e--f".into(),
                "docker.io",
                "a__b/c-d.e--f",
                None,
                None,
            ),
        ];
        for (input, domain, path, tag, digest) in cases {
            let r = Reference::parse_normalized(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.domain, domain, "{input}");
            assert_eq!(r.path, path, "{input}");
            assert_eq!(r.tag.as_deref(), tag, "{input}");
            assert_eq!(r.digest.as_ref().map(Digest::as_str), digest, "{input}");
        }
    }

    #[test]
    fn familiar_and_full_forms() {
        let r = Reference::parse_normalized("busybox")
            .unwrap()
            .with_default_tag();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse_normalized("user/app:1").unwrap();
        assert_eq!(r.familiar(), "user/app:1");
        let r = Reference::parse_normalized("docker.io/library/a/b").unwrap();
        assert_eq!(r.familiar_name(), "library/a/b");
        let r = Reference::parse_normalized("localhost:5000/a")
            .unwrap()
            .with_default_tag();
        assert_eq!(r.familiar(), "localhost:5000/a:latest");
        let dig = format!("sha256:{HEX}");
        let r = Reference::parse_normalized(&format!("quay.io/x/y@{dig}")).unwrap();
        assert_eq!(r.clone().with_default_tag().tag, None);
        assert_eq!(r.familiar(), format!("quay.io/x/y@{dig}"));
        assert_eq!(r.to_string(), format!("quay.io/x/y@{dig}"));
    }

    #[test]
    fn rejects_invalid() {
        let long = format!("a/{}", "b".repeat(260));
        for bad in [
            "",
            "Busybox",
            "user/App",
            "busybox:",
            ":tag",
            "busybox:-bad",
            "busybox:a/b",
            "bad..name",
            "bad-",
            "_bad",
            "a___b",
            "a//b",
            "/abs",
            "busybox@sha256:abc",
            "busybox@md5:0123",
            "host:port/a",
            "quay.io:/a",
            "a b",
            "a/b:t@",
            HEX,
            &long,
        ] {
            assert!(
                Reference::parse_normalized(bad).is_err(),
                "{bad:?} accepted"
            );
        }
        let e = Reference::parse_normalized(HEX).unwrap_err().to_string();
        assert!(
            e.contains("cannot specify 64-byte hexadecimal strings"),
            "{e}"
        );
        let e = Reference::parse_normalized("Busybox")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be lowercase"), "{e}");
    }

    #[test]
    fn tags() {
        assert!(valid_tag("latest"));
        assert!(valid_tag("_x.Y-1"));
        assert!(valid_tag(&"a".repeat(128)));
        assert!(!valid_tag(&"a".repeat(129)));
        assert!(!valid_tag(".x"));
        assert!(!valid_tag("-x"));
        assert!(!valid_tag(""));
        assert!(!valid_tag("a+b"));
    }
}
