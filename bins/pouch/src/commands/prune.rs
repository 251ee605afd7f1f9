//! What the prune commands (`container`, `image`, `network`, `volume`, `system`) share: docker's
//! confirmation question, the request, and the report of what went.

use anyhow::Result;
use pouch_client::Client;
use serde_json::Value;

use crate::filters::Filters;
use crate::output;
use crate::units;

/// True when the prune may go ahead: with `force`, or when the user answers yes to `warning`
/// followed by docker's question.
pub fn confirmed(force: bool, warning: &str) -> Result<bool> {
    Ok(force || output::confirm(&format!("{warning}\nAre you sure you want to continue?"))?)
}

/// `POST /{resource}/prune` with `filters`, returning the daemon's report.
pub async fn post(client: &Client, resource: &str, filters: &Filters) -> Result<Value> {
    let path = format!("/{resource}/prune{}", filters.query_string());
    Ok(client.post_json(&path, None).await?)
}

/// docker's list of what a prune deleted: `title:`, then a line per item (an id as it is, an
/// image entry as `untagged: …` or `deleted: …`); empty when nothing was deleted.
pub fn deleted(title: &str, items: &Value) -> String {
    let items = items.as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return String::new();
    }
    let mut out = format!("{title}:\n");
    for item in items {
        let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
        match item {
            Value::String(id) => out.push_str(id),
            _ if !s("Untagged").is_empty() => out.push_str(&format!("untagged: {}", s("Untagged"))),
            _ => out.push_str(&format!("deleted: {}", s("Deleted"))),
        }
        out.push('\n');
    }
    out
}

/// docker's prune summary: what was deleted (if anything) and a blank line, then the space
/// reclaimed.
pub fn report(title: &str, items: &Value, reclaimed: &Value) -> String {
    let mut out = deleted(title, items);
    if !out.is_empty() {
        out.push('\n');
    }
    out + &units::reclaimed_space(reclaimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_docker() {
        let r = json!({"ContainersDeleted": ["aaa", "bbb"], "SpaceReclaimed": 2048});
        assert_eq!(
            report("Deleted Containers", &r["ContainersDeleted"], &r),
            "Deleted Containers:\naaa\nbbb\n\nTotal reclaimed space: 2.048kB\n"
        );
        let r = json!({
            "ImagesDeleted": [{"Untagged": "a:latest"}, {"Deleted": "sha256:0123"}],
            "SpaceReclaimed": 1_234_567
        });
        assert_eq!(
            report("Deleted Images", &r["ImagesDeleted"], &r),
            "Deleted Images:\nuntagged: a:latest\ndeleted: sha256:0123\n\nTotal reclaimed space: 1.235MB\n"
        );
        let r = json!({"ImagesDeleted": null, "SpaceReclaimed": 0});
        assert_eq!(
            report("Deleted Images", &r["ImagesDeleted"], &r),
            "Total reclaimed space: 0B\n"
        );
        assert_eq!(
            deleted("Deleted Networks", &json!(["n1"])),
            "Deleted Networks:\nn1\n"
        );
        assert_eq!(deleted("Deleted Networks", &json!([])), "");
    }
}
