//! Docker's `filters` query parameter: a JSON object mapping a filter name to its values.

use std::collections::BTreeMap;

use serde_json::Value;

/// Parsed `filters`: accepts both the current form `{"label":["a=b"]}` and the legacy
/// form `{"label":{"a=b":true}}` that older clients (API < 1.22 style) still send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the raw query value; an empty string means no filters.
    pub fn parse(raw: &str) -> Result<Filters, String> {
        if raw.trim().is_empty() {
            return Ok(Filters::default());
        }
        let v: Value =
            serde_json::from_str(raw).map_err(|e| format!("invalid filter JSON {raw:?}: {e}"))?;
        let Value::Object(map) = v else {
            return Err(format!("invalid filter {raw:?}: expected a JSON object"));
        };
        let mut out = BTreeMap::new();
        for (k, v) in map {
            let values = match v {
                Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s),
                        other => Err(format!("invalid filter value for {k:?}: {other}")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Value::Object(m) => m
                    .into_iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(s, _)| s)
                    .collect(),
                other => return Err(format!("invalid filter value for {k:?}: {other}")),
            };
            out.insert(k, values);
        }
        Ok(Filters(out))
    }

    /// Rejects filter names the endpoint does not know, like docker ("invalid filter 'x'").
    pub fn validate(&self, allowed: &[&str]) -> Result<(), String> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!("invalid filter '{k}'")),
            None => Ok(()),
        }
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The single boolean value of a filter such as `dangling=true`.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            [] => Ok(None),
            [v] => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(format!(
                    "invalid filter '{key}={v}': expected true or false"
                )),
            },
            _ => Err(format!("filter '{key}' takes a single value")),
        }
    }

    /// True when any `label` filter value matches: `key` (present) or `key=value`.
    pub fn match_labels(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(f.as_str()),
        })
    }

    pub fn insert(&mut self, key: &str, value: &str) {
        self.0
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let a = Filters::parse(r#"{"dangling":["true"],"label":["a=b"]}"#).unwrap();
        let b = Filters::parse(r#"{"dangling":{"true":true},"label":{"a=b":true}}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.bool("dangling").unwrap(), Some(true));
        assert!(Filters::parse("[1]").is_err());
        assert!(Filters::parse("{").is_err());
        assert!(Filters::parse("").unwrap().is_empty());
    }

    #[test]
    fn validates_names_and_labels() {
        let f = Filters::parse(r#"{"label":["a=b","c"],"bogus":["1"]}"#).unwrap();
        assert_eq!(
            f.validate(&["label"]).unwrap_err(),
            "invalid filter 'bogus'"
        );
        let mut labels = BTreeMap::new();
        labels.insert("a".into(), "b".into());
        assert!(!f.match_labels("label", &labels));
        labels.insert("c".into(), "x".into());
        assert!(f.match_labels("label", &labels));
    }
}
