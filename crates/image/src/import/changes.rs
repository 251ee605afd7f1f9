//! Dockerfile instructions applied to an image config, as `docker import --change` and
//! `docker commit --change` accept them.
//!
//! Variable substitution (`$VAR`) is not performed: docker's own support for it in `--change` is
//! limited to ENV-defined variables and rarely used.

use std::collections::BTreeMap;

use serde_json::Map;

use crate::error::{Error, Result};
use crate::oci::RunConfig;

/// Applies each change (`"CMD [\"sh\"]"`, `"ENV A=1"`, …) in order. Instruction names are
/// case-insensitive. Instructions that only make sense in a build (FROM, RUN, COPY, …) fail with
/// [`Error::Unsupported`]; malformed arguments with [`Error::InvalidChange`].
pub fn apply_changes(cfg: &mut RunConfig, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for change in changes {
        let line = change.trim();
        if line.is_empty() {
            continue;
        }
        let (instr, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let instr = instr.to_ascii_uppercase();
        let args = args.trim();
        if args.is_empty() {
            return Err(bad(&instr, "requires at least one argument"));
        }
        match instr.as_str() {
            "CMD" => {
                cfg.cmd = Some(exec_or_shell(args));
                cmd_set = true;
            }
            "ENTRYPOINT" => {
                cfg.entrypoint = Some(exec_or_shell(args));
                // As in a build: a new entrypoint drops the inherited CMD unless CMD is also set.
                if !cmd_set {
                    cfg.cmd = None;
                }
            }
            "ENV" => {
                let env = cfg.env.get_or_insert_with(Vec::new);
                for (k, v) in name_values(&instr, args)? {
                    let entry = format!("{k}={v}");
                    match env
                        .iter_mut()
                        .find(|e| e.split('=').next() == Some(k.as_str()))
                    {
                        Some(existing) => *existing = entry,
                        None => env.push(entry),
                    }
                }
            }
            "LABEL" => {
                let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
                labels.extend(name_values(&instr, args)?);
            }
            "WORKDIR" => {
                let base = cfg.working_dir.as_deref().unwrap_or("/");
                cfg.working_dir = Some(clean_path(base, args));
            }
            "USER" => cfg.user = Some(args.to_owned()),
            "EXPOSE" => {
                let ports = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
                for spec in args.split_whitespace() {
                    for port in parse_port_spec(spec)? {
                        ports.insert(port, Map::new());
                    }
                }
            }
            "VOLUME" => {
                let list = json_array(args)
                    .unwrap_or_else(|| args.split_whitespace().map(str::to_owned).collect());
                let volumes = cfg.volumes.get_or_insert_with(BTreeMap::new);
                for v in list {
                    if v.trim().is_empty() {
                        return Err(bad(&instr, "volume specified can not be an empty string"));
                    }
                    volumes.insert(v, Map::new());
                }
            }
            "STOPSIGNAL" => {
                if args.contains(char::is_whitespace) {
                    return Err(bad(&instr, "takes exactly one signal"));
                }
                cfg.stop_signal = Some(args.to_owned());
            }
            "ONBUILD" => {
                let trigger = args
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase();
                if matches!(trigger.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(bad(&instr, &format!("ONBUILD {trigger} isn't allowed")));
                }
                cfg.on_build
                    .get_or_insert_with(Vec::new)
                    .push(args.to_owned());
            }
            _ => {
                return Err(Error::Unsupported(format!(
                    "dockerfile instruction {instr} is not supported by --change"
                )));
            }
        }
    }
    Ok(())
}

fn bad(instr: &str, why: &str) -> Error {
    Error::InvalidChange(format!("{instr}: {why}"))
}

/// `["a","b"]` when the arguments are a JSON string array (exec form), else the shell form.
fn exec_or_shell(args: &str) -> Vec<String> {
    json_array(args).unwrap_or_else(|| vec!["/bin/sh".to_owned(), "-c".to_owned(), args.to_owned()])
}

fn json_array(args: &str) -> Option<Vec<String>> {
    if !args.starts_with('[') {
        return None;
    }
    serde_json::from_str(args).ok()
}

/// `k=v k2="v 2"` pairs, or the legacy `k value with spaces` form.
fn name_values(instr: &str, args: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(args).map_err(|why| bad(instr, why))?;
    if !words.first().is_some_and(|w| w.contains('=')) {
        // Legacy form: the first word is the name, the rest of the line the value.
        let (name, value) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        if value.trim().is_empty() {
            return Err(bad(instr, "must have two arguments"));
        }
        return Ok(vec![(name.to_owned(), value.trim().to_owned())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(bad(
                instr,
                &format!("syntax error: {w:?} is not name=value"),
            )),
        })
        .collect()
}

/// Splits on unquoted whitespace, removing quotes: `'…'` is literal, `"…"` and bare words honour
/// backslash escapes.
fn split_words(s: &str) -> std::result::Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unmatched single quote"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$')) => cur.push(e),
                            Some(e) => {
                                cur.push('\\');
                                cur.push(e);
                            }
                            None => return Err("unmatched double quote"),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unmatched double quote"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next().unwrap_or('\\'));
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `dir` made absolute against `base` and cleaned (`.`, `..` and repeated slashes resolved).
fn clean_path(base: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_owned()
    } else {
        format!("{base}/{dir}")
    };
    let mut out: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// `80`, `80/udp`, `8000-8002/tcp` → `["80/tcp"]`, … (docker's nat.ParsePortSpec without host
/// parts, which EXPOSE does not allow).
fn parse_port_spec(spec: &str) -> Result<Vec<String>> {
    let invalid = || bad("EXPOSE", &format!("invalid port {spec:?}"));
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(invalid());
    }
    let (start, end) = ports.split_once('-').unwrap_or((ports, ports));
    let start: u16 = start.parse().map_err(|_| invalid())?;
    let end: u16 = end.parse().map_err(|_| invalid())?;
    if end < start {
        return Err(invalid());
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<RunConfig> {
        let mut cfg = RunConfig::default();
        let owned: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut cfg, &owned)?;
        Ok(cfg)
    }

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn applies_every_supported_instruction() {
        let cfg = apply(&[
            r#"CMD ["nginx", "-g", "daemon off;"]"#,
            "entrypoint /docker-entrypoint.sh",
            r#"ENV PATH=/usr/bin LANG="C UTF-8" Q='a b' E=x\ y"#,
            "ENV PATH /bin:/usr/bin",
            "ENV OLD legacy value",
            "WORKDIR /srv",
            "WORKDIR app/../www",
            "USER 101:101",
            r#"LABEL maintainer="me" version=1"#,
            "EXPOSE 80 443/tcp 53/udp 9000-9001",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache /tmp",
            "STOPSIGNAL SIGQUIT",
            "ONBUILD RUN echo hi",
        ])
        .unwrap();
        assert_eq!(cfg.cmd, strings(&["nginx", "-g", "daemon off;"]));
        assert_eq!(
            cfg.entrypoint,
            strings(&["/bin/sh", "-c", "/docker-entrypoint.sh"])
        );
        assert_eq!(
            cfg.env,
            strings(&[
                "PATH=/bin:/usr/bin",
                "LANG=C UTF-8",
                "Q=a b",
                "E=x y",
                "OLD=legacy value"
            ])
        );
        assert_eq!(cfg.working_dir.as_deref(), Some("/srv/www"));
        assert_eq!(cfg.user.as_deref(), Some("101:101"));
        let labels = cfg.labels.unwrap();
        assert_eq!(
            (labels["maintainer"].as_str(), labels["version"].as_str()),
            ("me", "1")
        );
        let ports: Vec<_> = cfg.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(
            ports,
            ["443/tcp", "53/udp", "80/tcp", "9000/tcp", "9001/tcp"]
        );
        let vols: Vec<_> = cfg.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, ["/cache", "/data", "/logs", "/tmp"]);
        assert_eq!(cfg.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(cfg.on_build, strings(&["RUN echo hi"]));
    }

    #[test]
    fn entrypoint_resets_inherited_cmd() {
        let mut cfg = RunConfig {
            cmd: strings(&["sh"]),
            ..RunConfig::default()
        };
        apply_changes(&mut cfg, &["ENTRYPOINT [\"/init\"]".to_owned()]).unwrap();
        assert_eq!(cfg.cmd, None);
        let cfg = apply(&["CMD x", "ENTRYPOINT y"]).unwrap();
        assert_eq!(cfg.cmd, strings(&["/bin/sh", "-c", "x"]));
    }

    #[test]
    fn rejects_unsupported_and_malformed() {
        let err = apply(&["FROM busybox"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported: dockerfile instruction FROM is not supported by --change"
        );
        assert!(matches!(apply(&["RUN ls"]), Err(Error::Unsupported(_))));
        for bad in [
            "CMD",
            "ENV A",
            "ENV A=1 B",
            "ENV A=\"unterminated",
            "EXPOSE 80/xyz",
            "EXPOSE 99999",
            "EXPOSE 1.2.3.4:80",
            "EXPOSE 90-80",
            "STOPSIGNAL SIG TERM",
            "ONBUILD FROM x",
            "LABEL =x",
        ] {
            let err = apply(&[bad]).unwrap_err();
            assert!(matches!(err, Error::InvalidChange(_)), "{bad}: {err:?}");
            assert!(err.is_invalid_input());
        }
    }
}
