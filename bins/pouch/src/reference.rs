//! The bits of image-reference syntax the CLI needs on its own side of the wire.
//!
//! Full validation is the daemon's job; the CLI only has to split `name[:tag][@digest]` the way
//! docker does before sending `repo` and `tag` separately, and shorten names and ids for display.

use anyhow::{Result, bail};

/// The tag docker assumes when a reference names none.
pub const DEFAULT_TAG: &str = "latest";

/// Splits `name[:tag]` into name and tag. The tag is what follows the last `:` only if that `:`
/// comes after the last `/`, so `localhost:5000/app` has no tag. Digests are kept in the name.
pub fn split_tag(reference: &str) -> (&str, Option<&str>) {
    let (name, digest) = match reference.find('@') {
        Some(i) => reference.split_at(i),
        None => (reference, ""),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) if digest.is_empty() => {
            let at = last_slash + i;
            (&name[..at], Some(&name[at + 1..]))
        }
        Some(_) => (reference, None),
        None => (reference, None),
    }
}

/// Splits a reference that is about to become a tag (`docker tag SRC TARGET`, `import … REPO`)
/// into repository and tag, defaulting the tag to `latest`. A digest cannot be created by
/// tagging, so it is refused like docker does.
pub fn parse_target(target: &str) -> Result<(String, String)> {
    if target.contains('@') {
        bail!("refusing to create a tag with a digest reference");
    }
    let (name, tag) = split_tag(target);
    if name.is_empty() {
        bail!("invalid reference format");
    }
    if tag == Some("") {
        bail!("invalid reference format");
    }
    if name != name.to_ascii_lowercase() {
        bail!("invalid reference format: repository name ({name}) must be lowercase");
    }
    Ok((
        familiar_name(name).to_owned(),
        tag.unwrap_or(DEFAULT_TAG).to_owned(),
    ))
}

/// docker's "familiar" form: `docker.io/library/busybox` → `busybox`,
/// `docker.io/user/app` → `user/app`; other registries are left alone.
pub fn familiar_name(name: &str) -> &str {
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    match name.strip_prefix("library/") {
        Some(rest) if !rest.contains('/') => rest,
        _ => name,
    }
}

/// docker's `ParseNormalizedNamed` for a name: a first component that looks like a host
/// (`.`, `:` or `localhost`) is a registry, otherwise the name lives on Docker Hub, under
/// `library/` when it has no namespace.
pub fn normalize_name(name: &str) -> String {
    match name.split_once('/') {
        Some((first, _))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first != first.to_lowercase() =>
        {
            name.to_owned()
        }
        Some(_) => format!("docker.io/{name}"),
        None => format!("docker.io/library/{name}"),
    }
}

/// The `fromImage` and `tag` of `POST /images/create` for a reference: the digest stands in
/// for the tag of a digested reference, and `latest` for a reference with neither.
pub fn pull_params(reference: &str) -> (String, String) {
    if let Some((name, digest)) = reference.split_once('@') {
        let (name, _) = split_tag(name);
        return (normalize_name(name), digest.to_owned());
    }
    let (name, tag) = split_tag(reference);
    (normalize_name(name), tag.unwrap_or(DEFAULT_TAG).to_owned())
}

/// docker's `FamiliarString(TagNameOnly(ref))`: `busybox` → `busybox:latest`.
pub fn with_default_tag(reference: &str) -> String {
    if reference.contains('@') {
        return reference.to_owned();
    }
    let (name, tag) = split_tag(reference);
    let name = normalize_name(name);
    format!("{}:{}", familiar_name(&name), tag.unwrap_or(DEFAULT_TAG))
}

/// Moby's `stringid.TruncateID`: drop the algorithm prefix, keep 12 characters.
pub fn truncate_id(id: &str) -> &str {
    let id = id.split_once(':').map_or(id, |(_, hex)| hex);
    match id.char_indices().nth(12) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

/// docker's `formatter.Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags_like_docker() {
        for (input, name, tag) in [
            ("busybox", "busybox", None),
            ("busybox:1.36", "busybox", Some("1.36")),
            ("localhost:5000/a", "localhost:5000/a", None),
            ("localhost:5000/a:v2", "localhost:5000/a", Some("v2")),
            ("a/b/c:t", "a/b/c", Some("t")),
            ("app@sha256:abcd", "app@sha256:abcd", None),
            ("app:v1@sha256:abcd", "app:v1@sha256:abcd", None),
            ("busybox:", "busybox", Some("")),
        ] {
            assert_eq!(split_tag(input), (name, tag), "{input}");
        }
    }

    #[test]
    fn parses_tag_targets() {
        let ok = |t: &str| parse_target(t).unwrap();
        assert_eq!(ok("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(ok("me/app:v1"), ("me/app".into(), "v1".into()));
        assert_eq!(
            ok("localhost:5000/a"),
            ("localhost:5000/a".into(), "latest".into())
        );
        assert_eq!(
            ok("docker.io/library/busybox:x"),
            ("busybox".into(), "x".into())
        );
        assert!(parse_target("a@sha256:00").is_err());
        assert!(parse_target("Upper:x").is_err());
        assert!(parse_target("a:").is_err());
        assert!(parse_target(":x").is_err());
    }

    #[test]
    fn familiar_names() {
        assert_eq!(familiar_name("docker.io/library/busybox"), "busybox");
        assert_eq!(familiar_name("docker.io/me/app"), "me/app");
        assert_eq!(familiar_name("busybox"), "busybox");
        assert_eq!(familiar_name("quay.io/library/x"), "quay.io/library/x");
    }

    #[test]
    fn pull_references() {
        assert_eq!(
            pull_params("busybox"),
            ("docker.io/library/busybox".into(), "latest".into())
        );
        assert_eq!(
            pull_params("me/app:v1"),
            ("docker.io/me/app".into(), "v1".into())
        );
        assert_eq!(
            pull_params("localhost:5000/a@sha256:ab"),
            ("localhost:5000/a".into(), "sha256:ab".into())
        );
        assert_eq!(
            pull_params("quay.io/x/y:2"),
            ("quay.io/x/y".into(), "2".into())
        );
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("docker.io/library/busybox:1"), "busybox:1");
        assert_eq!(with_default_tag("a@sha256:00"), "a@sha256:00");
    }

    #[test]
    fn ids_and_ellipsis() {
        let id = "sha256:0123456789abcdef0123";
        assert_eq!(truncate_id(id), "0123456789ab");
        assert_eq!(truncate_id("abc"), "abc");
        assert_eq!(truncate_id("<missing>"), "<missing>");
        assert_eq!(ellipsis("short", 45), "short");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis(&"x".repeat(50), 45).chars().count(), 45);
    }
}
