//! Docker's query strings: repeated keys (`names=a&names=b`), and booleans written as
//! `1`/`true`/`True`. serde_urlencoded handles neither, so this small parser does.

use pouch_api::Filters;
use pouch_engine::Error;

#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (decode(k), decode(v))
            })
            .collect();
        Query(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Docker's boolean form: absent, empty, `0` and `false` are false.
    pub fn bool(&self, key: &str) -> bool {
        matches!(
            self.get(key).map(|v| v.to_ascii_lowercase()).as_deref(),
            Some("1" | "true" | "yes")
        )
    }

    pub fn filters(&self) -> Result<Filters, Error> {
        Filters::parse(self.get("filters").unwrap_or("")).map_err(Error::invalid)
    }
}

/// Percent-decoding with `+` as space; malformed escapes are kept literally.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_and_encoded() {
        let q = Query::parse(Some(
            "names=a&names=b%2Fc&all=1&x=%7B%22a%22%7D&sp=a+b&bad=%zz&end=%4",
        ));
        assert_eq!(q.all("names"), vec!["a", "b/c"]);
        assert!(q.bool("all"));
        assert!(!q.bool("missing"));
        assert_eq!(q.get("x"), Some("{\"a\"}"));
        assert_eq!(q.get("sp"), Some("a b"));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("end"), Some("%4"));
    }
}
