//! `--filter key=value` flags, gathered into Docker's `filters` query parameter.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

/// Filters by name; repeated flags with the same key accumulate values, in flag order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses repeated `-f key=value` flags like docker's `filters.ParseFlag`: the key is
    /// trimmed and lower-cased, the value trimmed, and a flag without `=` is an error.
    pub fn parse<S: AsRef<str>>(flags: &[S]) -> Result<Filters> {
        let mut out = Filters::default();
        for flag in flags {
            let flag = flag.as_ref();
            let Some((key, value)) = flag.split_once('=') else {
                bail!("bad format of filter (expected name=value)");
            };
            out.add(&key.trim().to_lowercase(), value.trim());
        }
        Ok(out)
    }

    pub fn add(&mut self, key: &str, value: &str) {
        self.0
            .entry(key.to_owned())
            .or_default()
            .push(value.to_owned());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The query value: `{"key":["v1","v2"]}` (keys sorted, so the URL is stable).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_owned())
    }

    /// `?filters=…`, or nothing when there are none.
    pub fn query_string(&self) -> String {
        let mut q = pouch_client::Query::new();
        if !self.is_empty() {
            q.push("filters", self.to_json());
        }
        q.to_query_string()
    }
}

/// The template of a list command: `-q` and `table` choose between the quiet and the default
/// table template; anything else is the user's.
pub fn list_template<'a>(
    format: Option<&'a str>,
    quiet: bool,
    quiet_tpl: &'a str,
    table: &'a str,
) -> &'a str {
    match format.unwrap_or("") {
        "" | "table" if quiet => quiet_tpl,
        "" | "table" => table,
        f => f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_groups_flags() {
        let f = Filters::parse(&[
            "dangling=true",
            " Label = a=b ",
            "label=c",
            "reference=busybox:*",
        ])
        .unwrap();
        assert_eq!(
            f.to_json(),
            r#"{"dangling":["true"],"label":["a=b","c"],"reference":["busybox:*"]}"#
        );
    }

    #[test]
    fn empty_and_invalid() {
        let none: [&str; 0] = [];
        let f = Filters::parse(&none).unwrap();
        assert!(f.is_empty());
        assert_eq!(f.to_json(), "{}");
        let err = Filters::parse(&["dangling"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad format of filter (expected name=value)"
        );
        // An empty value is allowed (docker sends it too).
        assert_eq!(
            Filters::parse(&["label="]).unwrap().to_json(),
            r#"{"label":[""]}"#
        );
    }
}
