//! Percent-encoding for paths and query strings.
//!
//! Image references carry `/`, `:` and `@`, filters carry JSON, and commit messages carry
//! anything; all of it has to survive the trip through a URI. The rules are RFC 3986's, which
//! is all a dozen lines need, so no crate is pulled in for it.

use std::fmt::Write as _;

/// True for RFC 3986 "unreserved" bytes, which never need escaping.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn encode_with(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Encodes a query key or value: everything but unreserved bytes is escaped (space is `%20`,
/// which every server decodes, unlike `+` which only form decoders treat as space).
pub fn encode_query_component(s: &str) -> String {
    encode_with(s, unreserved)
}

/// Encodes an object name for use inside a path such as `/images/{name}/json`.
///
/// `/`, `:` and `@` are kept literally because Docker routes match names like
/// `localhost:5000/app@sha256:…` across slashes; escaping `/` would break that.
pub fn encode_path(s: &str) -> String {
    encode_with(s, |b| unreserved(b) || matches!(b, b'/' | b':' | b'@'))
}

/// An ordered list of query parameters; repeated keys are allowed (`names=a&names=b`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `key=value`.
    pub fn push(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.pairs.push((key.to_owned(), value.into()));
        self
    }

    /// Appends `key=1` when `on`, nothing otherwise: Docker reads a missing boolean as false.
    pub fn flag(&mut self, key: &str, on: bool) -> &mut Self {
        if on {
            self.push(key, "1");
        }
        self
    }

    /// Appends `key=value` when `value` is non-empty.
    pub fn non_empty(&mut self, key: &str, value: &str) -> &mut Self {
        if !value.is_empty() {
            self.push(key, value);
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `?a=b&c=d`, or the empty string when there are no parameters, so the result can be
    /// appended to a path unconditionally.
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(&encode_query_component(k));
            out.push('=');
            out.push_str(&encode_query_component(v));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components() {
        assert_eq!(encode_query_component("abc-_.~XYZ09"), "abc-_.~XYZ09");
        assert_eq!(encode_query_component("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(
            encode_query_component(r#"{"dangling":["true"]}"#),
            "%7B%22dangling%22%3A%5B%22true%22%5D%7D"
        );
        assert_eq!(
            encode_query_component("CMD [\"/bin/sh\"]"),
            "CMD%20%5B%22%2Fbin%2Fsh%22%5D"
        );
        assert_eq!(encode_query_component("é+"), "%C3%A9%2B");
        assert_eq!(encode_query_component(""), "");
    }

    #[test]
    fn paths_keep_reference_syntax() {
        assert_eq!(
            encode_path("localhost:5000/app:v1"),
            "localhost:5000/app:v1"
        );
        assert_eq!(encode_path("app@sha256:abc"), "app@sha256:abc");
        assert_eq!(encode_path("we ird?#"), "we%20ird%3F%23");
    }

    #[test]
    fn builds_query_strings() {
        assert_eq!(Query::new().to_query_string(), "");
        let mut q = Query::new();
        q.flag("force", true)
            .flag("noprune", false)
            .push("names", "a:1")
            .push("names", "b")
            .non_empty("tag", "");
        assert_eq!(q.to_query_string(), "?force=1&names=a%3A1&names=b");
        assert!(!q.is_empty());
    }
}
