//! `pouch images` / `pouch image ls`.

use std::collections::HashSet;

use anyhow::Result;
use clap::Args;
use pouch_client::Query;
use serde_json::{Value, json};

use crate::commands::Ctx;
use crate::filters::Filters;
use crate::format::{Format, Headers};
use crate::reference::{familiar_name, split_tag, truncate_id};
use crate::units;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided (key=value)
    #[arg(short, long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Only images whose reference matches REPOSITORY[:TAG]
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

const TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const TABLE_DIGESTS: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const QUIET: &str = "{{.ID}}";

/// docker's image column titles.
const HEADERS: Headers = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("VirtualSize", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

/// Picks the template like docker's `NewImageFormat`: `-q` and `--digests` only change the
/// default table; a custom table gets a digest column appended when `--digests` asks for it.
fn choose_format(args: &ListArgs) -> String {
    match args.format.as_deref().unwrap_or("") {
        "" | "table" if args.quiet => QUIET.to_owned(),
        "" | "table" if args.digests => TABLE_DIGESTS.to_owned(),
        "" | "table" => TABLE.to_owned(),
        custom
            if custom.starts_with("table") && args.digests && !custom.contains("{{.Digest}}") =>
        {
            format!("{custom}\t{{{{.Digest}}}}")
        }
        custom => custom.to_owned(),
    }
}

pub async fn run(ctx: &mut Ctx, args: ListArgs) -> Result<()> {
    let format = Format::parse(&choose_format(&args), TABLE)?;
    let mut filters = Filters::parse(&args.filter)?;
    if let Some(reference) = &args.reference {
        filters.add("reference", reference);
    }
    let mut query = Query::new();
    query.flag("all", args.all);
    if !filters.is_empty() {
        query.push("filters", filters.to_json());
    }
    let images = ctx
        .client()
        .await?
        .get_json(&format!("/images/json{}", query.to_query_string()))
        .await?;
    let images = images.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut rows = display_rows(images, !args.no_trunc, args.digests, units::now_unix());
    if args.quiet && matches!(args.format.as_deref(), None | Some("" | "table")) {
        // One line per image even when it has several tags, so `rmi $(pouch images -q)` works.
        let mut seen = HashSet::new();
        rows.retain(|r| seen.insert(r["ID"].as_str().unwrap_or_default().to_owned()));
    }
    format.print(&rows, HEADERS)
}

/// The strings of an array field (`RepoTags` may be `null` for untagged images).
fn strings<'a>(img: &'a Value, key: &str) -> Vec<&'a str> {
    img.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn is_dangling(img: &Value) -> bool {
    let (tags, digests) = (strings(img, "RepoTags"), strings(img, "RepoDigests"));
    (tags.is_empty() && digests.is_empty())
        || (tags == ["<none>:<none>"] && digests == ["<none>@<none>"])
}

/// Groups values by key, keeping first-seen key order (docker iterates a Go map here, whose
/// order is random; stable output is kinder to scripts and tests).
fn group<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(&'a str, Vec<&'a str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for (k, v) in pairs {
        match out.iter_mut().find(|(key, _)| *key == k) {
            Some((_, vs)) => vs.push(v),
            None => out.push((k, vec![v])),
        }
    }
    out
}

/// docker's `imageFormatTaggedAndDigest`: one row per repository:tag (times digests when they
/// are shown), then rows for repositories known only by digest.
fn repo_rows(img: &Value, show_digests: bool) -> Vec<(String, String, String)> {
    let tags = group(strings(img, "RepoTags").into_iter().filter_map(|r| {
        let (name, tag) = split_tag(r);
        Some((familiar_name(name), tag?))
    }));
    let mut digests = group(
        strings(img, "RepoDigests")
            .into_iter()
            .filter_map(|r| r.split_once('@'))
            .map(|(name, d)| (familiar_name(name), d)),
    );
    let mut rows = Vec::new();
    for (repo, repo_tags) in tags {
        let repo_digests = match digests.iter().position(|(r, _)| *r == repo) {
            Some(i) => digests.remove(i).1,
            None => Vec::new(),
        };
        for tag in repo_tags {
            if !show_digests || repo_digests.is_empty() {
                rows.push((repo.to_owned(), tag.to_owned(), "<none>".to_owned()));
            } else {
                for d in &repo_digests {
                    rows.push((repo.to_owned(), tag.to_owned(), (*d).to_owned()));
                }
            }
        }
    }
    for (repo, repo_digests) in digests {
        if show_digests {
            for d in repo_digests {
                rows.push((repo.to_owned(), "<none>".to_owned(), d.to_owned()));
            }
        } else {
            rows.push((repo.to_owned(), "<none>".to_owned(), String::new()));
        }
    }
    rows
}

/// The display rows `--format` sees: docker's image context fields, all strings.
fn display_rows(images: &[Value], trunc: bool, show_digests: bool, now: i64) -> Vec<Value> {
    let mut out = Vec::new();
    for img in images {
        let int = |k: &str| img.get(k).and_then(Value::as_i64);
        let id = img.get("Id").and_then(Value::as_str).unwrap_or_default();
        let id = if trunc { truncate_id(id) } else { id };
        let created = int("Created").unwrap_or(0);
        let size = int("Size").unwrap_or(0);
        let shared = int("SharedSize").unwrap_or(-1);
        let virtual_size = int("VirtualSize").unwrap_or(size);
        let containers = match int("Containers").unwrap_or(-1) {
            -1 => "N/A".to_owned(),
            n => n.to_string(),
        };
        let na_or_size = |n: i64| {
            if n == -1 {
                "N/A".to_owned()
            } else {
                units::human_size(n as f64)
            }
        };
        let unique = if shared == -1 || size == -1 {
            "N/A".to_owned()
        } else {
            units::human_size((size - shared) as f64)
        };
        let rows = if is_dangling(img) {
            vec![(
                "<none>".to_owned(),
                "<none>".to_owned(),
                "<none>".to_owned(),
            )]
        } else {
            repo_rows(img, show_digests)
        };
        for (repository, tag, digest) in rows {
            out.push(json!({
                "ID": id,
                "Repository": repository,
                "Tag": tag,
                "Digest": digest,
                "CreatedSince": format!("{} ago", units::human_duration(now - created)),
                "CreatedAt": units::go_time_string(created),
                "Size": units::human_size_precision(size as f64, 3),
                "Containers": containers,
                "VirtualSize": units::human_size(virtual_size as f64),
                "SharedSize": na_or_size(shared),
                "UniqueSize": unique,
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn busybox() -> Value {
        json!({
            "Id": "sha256:0123456789abcdef0123456789abcdef",
            "RepoTags": ["busybox:latest", "busybox:1.36", "docker.io/library/other:x"],
            "RepoDigests": ["busybox@sha256:feed"],
            "Created": NOW - 3 * 7 * 24 * 3600,
            "Size": 4_264_000,
            "SharedSize": -1,
            "Containers": -1
        })
    }

    fn cols(rows: &[Value], keys: &[&str]) -> Vec<String> {
        rows.iter()
            .map(|r| {
                keys.iter()
                    .map(|k| r[*k].as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn one_row_per_tag() {
        let rows = display_rows(&[busybox()], true, false, NOW);
        assert_eq!(
            cols(&rows, &["Repository", "Tag", "ID", "CreatedSince", "Size"]),
            vec![
                "busybox latest 0123456789ab 3 weeks ago 4.26MB",
                "busybox 1.36 0123456789ab 3 weeks ago 4.26MB",
                "other x 0123456789ab 3 weeks ago 4.26MB",
            ]
        );
        assert_eq!(rows[0]["Containers"], "N/A");
        assert_eq!(rows[0]["SharedSize"], "N/A");
        assert_eq!(rows[0]["UniqueSize"], "N/A");
        assert_eq!(rows[0]["CreatedAt"], "2023-10-24 22:13:20 +0000 UTC");
    }

    #[test]
    fn digests_and_no_trunc() {
        let rows = display_rows(&[busybox()], false, true, NOW);
        assert_eq!(
            cols(&rows, &["Repository", "Tag", "Digest"]),
            vec![
                "busybox latest sha256:feed",
                "busybox 1.36 sha256:feed",
                "other x <none>"
            ]
        );
        assert_eq!(rows[0]["ID"], "sha256:0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn dangling_and_digest_only_images() {
        let dangling = json!({"Id": "sha256:aa", "RepoTags": [], "RepoDigests": null, "Created": NOW, "Size": 0});
        let legacy = json!({"Id": "sha256:bb", "RepoTags": ["<none>:<none>"], "RepoDigests": ["<none>@<none>"]});
        let by_digest = json!({"Id": "sha256:cc", "RepoTags": [], "RepoDigests": ["localhost:5000/a@sha256:d1"]});
        let rows = display_rows(&[dangling, legacy, by_digest.clone()], true, false, NOW);
        assert_eq!(
            cols(&rows, &["Repository", "Tag", "Digest", "Size"]),
            vec![
                "<none> <none> <none> 0B",
                "<none> <none> <none> 0B",
                "localhost:5000/a <none>  0B"
            ]
        );
        let rows = display_rows(&[by_digest], true, true, NOW);
        assert_eq!(
            cols(&rows, &["Repository", "Tag", "Digest"]),
            vec!["localhost:5000/a <none> sha256:d1"]
        );
    }

    #[test]
    fn format_selection_follows_docker() {
        let args = |format: Option<&str>, quiet: bool, digests: bool| ListArgs {
            all: false,
            digests,
            filter: Vec::new(),
            format: format.map(str::to_owned),
            no_trunc: false,
            quiet,
            reference: None,
        };
        assert_eq!(choose_format(&args(None, false, false)), TABLE);
        assert_eq!(choose_format(&args(Some("table"), true, false)), QUIET);
        assert_eq!(choose_format(&args(None, false, true)), TABLE_DIGESTS);
        assert_eq!(
            choose_format(&args(Some("table {{.ID}}"), false, true)),
            "table {{.ID}}\t{{.Digest}}"
        );
        assert_eq!(choose_format(&args(Some("{{.ID}}"), true, true)), "{{.ID}}");
    }
}
