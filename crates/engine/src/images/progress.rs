//! docker's JSON progress messages for pulls and pushes (`jsonmessage` in moby).

use pouch_api::types::{JsonMessage, ProgressDetail};
use pouch_image::Digest;
use tokio::sync::mpsc::UnboundedSender;

pub(crate) type Progress = UnboundedSender<JsonMessage>;

pub(crate) fn short(d: &Digest) -> String {
    d.hex()[..12].to_string()
}

pub(crate) fn send(p: &Progress, m: JsonMessage) {
    let _ = p.send(m);
}

pub(crate) fn status_id(status: &str, id: &str) -> JsonMessage {
    JsonMessage {
        status: Some(status.to_string()),
        id: Some(id.to_string()),
        ..Default::default()
    }
}

pub(crate) fn status_detail(status: &str, id: &str) -> JsonMessage {
    JsonMessage {
        progress_detail: Some(ProgressDetail::default()),
        ..status_id(status, id)
    }
}

/// A progress message with docker's bar: `[=====>      ]  1.05MB/2.1MB`.
pub(crate) fn bar(status: &str, id: &str, current: u64, total: u64) -> JsonMessage {
    const WIDTH: u64 = 50;
    let filled = (current.min(total) * WIDTH).checked_div(total).unwrap_or(0) as usize;
    let mut s = String::from("[");
    s.push_str(&"=".repeat(filled.saturating_sub(1)));
    if filled > 0 {
        s.push('>');
    }
    s.push_str(&" ".repeat(WIDTH as usize - filled));
    s.push(']');
    let progress = format!("{s} {:>8}/{}", human(current), human(total));
    JsonMessage {
        progress: Some(progress),
        progress_detail: Some(ProgressDetail {
            current: Some(current),
            total: Some(total),
        }),
        ..status_id(status, id)
    }
}

/// docker's `units.HumanSize`: decimal units, 4 significant digits.
pub(crate) fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    let prec = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.prec$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{}", units[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_and_bars() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1234), "1.234kB");
        assert_eq!(human(2_100_000), "2.1MB");
        assert_eq!(human(123_456_789), "123.5MB");
        let m = bar("Downloading", "abc", 50, 100);
        assert!(
            m.progress
                .unwrap()
                .starts_with("[========================>")
        );
    }
}
