//! `-e`, `--env-file` and `-l` values, read like the docker CLI's `opts` package reads them.

use anyhow::{Result, bail};

/// `-e NAME=value` as is; a bare `-e NAME` takes the value from the local environment when
/// set there (docker's `ValidateEnv`), else is sent bare so the daemon unsets it.
pub fn env_var(val: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    let (key, _) = val.split_once('=').unwrap_or((val, ""));
    if key.is_empty() {
        bail!("invalid environment variable: {val}");
    }
    if val.contains('=') {
        return Ok(val.to_owned());
    }
    Ok(match lookup(key) {
        Some(v) => format!("{key}={v}"),
        None => val.to_owned(),
    })
}

/// The lines of an `--env-file` (docker's `parseKeyValueFile`): `#` comments and blank lines
/// skipped, leading whitespace trimmed, values passed through untouched, and a bare `NAME`
/// taken from the local environment (or dropped when unset there).
pub fn env_file(contents: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, raw) in contents.lines().enumerate() {
        let raw = if i == 0 {
            raw.strip_prefix('\u{feff}').unwrap_or(raw)
        } else {
            raw
        };
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (variable, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        let variable = variable.trim_start_matches([' ', '\t']);
        if variable.contains([' ', '\t']) {
            bail!("poorly formatted environment: variable '{variable}' contains whitespaces");
        }
        if variable.is_empty() {
            bail!("poorly formatted environment: no variable name on line '{line}'");
        }
        match value {
            Some(v) => out.push(format!("{variable}={v}")),
            None => {
                if let Some(v) = lookup(variable.trim()) {
                    out.push(format!("{}={v}", variable.trim()));
                }
            }
        }
    }
    Ok(out)
}

/// `-l key[=value]`: the key must be non-empty and free of whitespace.
pub fn label(val: &str) -> Result<(String, String)> {
    let (key, value) = val.split_once('=').unwrap_or((val, ""));
    if key.trim().is_empty() {
        bail!("invalid label '{val}': empty name");
    }
    if key.contains([' ', '\t']) {
        bail!("label '{key}' contains whitespaces");
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_env_vars() {
        assert_eq!(label("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(label("flag").unwrap(), ("flag".into(), String::new()));
        assert!(label("=x").is_err());
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_owned());
        assert_eq!(env_var("A=1", &lookup).unwrap(), "A=1");
        assert_eq!(env_var("HOME", &lookup).unwrap(), "HOME=/root");
        assert_eq!(env_var("UNSET", &lookup).unwrap(), "UNSET");
        assert!(env_var("=x", &lookup).is_err());
    }

    #[test]
    fn env_files() {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_owned());
        let contents = "\u{feff}# comment\n\nA=1\n  B= spaced value \nHOME\nUNSET\nC=\"quoted\"\n";
        assert_eq!(
            env_file(contents, &lookup).unwrap(),
            vec!["A=1", "B= spaced value ", "HOME=/root", "C=\"quoted\""]
        );
        let err = env_file("BAD KEY=1\n", &lookup).unwrap_err();
        assert_eq!(
            err.to_string(),
            "poorly formatted environment: variable 'BAD KEY' contains whitespaces"
        );
        assert!(env_file("=1\n", &lookup).is_err());
    }
}
