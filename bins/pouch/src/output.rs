//! Terminal I/O shared by commands: plain output, confirmation prompts, and the rendering of
//! JSON message streams (docker's `jsonmessage.DisplayJSONMessagesStream`).

use std::io::{self, BufRead, IsTerminal, Write};

use anyhow::{Context, Result};
use futures_util::{Stream, StreamExt};
use serde_json::Value;

/// Writes `text` to stdout and flushes; errors (a closed pipe) are returned, not panicked on.
pub fn print(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to stdout")
}

pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

/// Asks `message [y/N] ` and reads one line from stdin; only `y`/`Y` agree, and end of input
/// (a script with no stdin) declines, so nothing is removed without an explicit yes.
pub fn confirm(message: &str) -> Result<bool> {
    print(&format!("{message} [y/N] "))?;
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer from stdin")?;
    Ok(is_yes(&answer))
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim(), "y" | "Y")
}

/// The text docker prints for one message, or `None` for messages it does not show.
///
/// Progress updates (`progressDetail`) are only meaningful on a terminal, where they redraw
/// the current line; elsewhere docker drops them so logs stay readable, and so does this.
fn render_message(msg: &Value, terminal: bool) -> Option<String> {
    let s = |k: &str| msg.get(k).and_then(Value::as_str).unwrap_or_default();
    let has_progress = msg
        .get("progressDetail")
        .is_some_and(|p| p.as_object().is_some_and(|o| !o.is_empty()))
        || !s("progress").is_empty();
    if has_progress && !terminal {
        return None;
    }
    if msg.get("aux").is_some() && s("stream").is_empty() && s("status").is_empty() {
        return None;
    }
    let mut line = String::new();
    if has_progress {
        // Clear the line and return the cursor so the next update overwrites this one.
        line.push_str("\x1b[2K\r");
    }
    if !s("id").is_empty() {
        line.push_str(s("id"));
        line.push_str(": ");
    }
    if !s("from").is_empty() {
        line.push_str(&format!("(from {}) ", s("from")));
    }
    if !s("stream").is_empty() {
        line.push_str(s("stream"));
    } else if has_progress {
        line.push_str(&format!("{} {}\r", s("status"), s("progress")));
    } else {
        line.push_str(s("status"));
        line.push('\n');
    }
    Some(line)
}

/// Writes `text` to stderr (progress of a pull that must not mix with an id on stdout).
pub fn eprint(text: &str) -> Result<()> {
    let mut err = io::stderr().lock();
    err.write_all(text.as_bytes())
        .and_then(|()| err.flush())
        .context("writing to stderr")
}

/// Prints a JSON message stream as it arrives; an error message ends it with that error.
pub async fn display_messages<S>(messages: S, terminal: bool) -> Result<()>
where
    S: Stream<Item = pouch_client::Result<Value>>,
{
    display_messages_on(messages, terminal, print).await
}

/// [`display_messages`] on stdout, or with `quiet` [`drain_messages`].
pub async fn show_messages<S>(messages: S, quiet: bool) -> Result<()>
where
    S: Stream<Item = pouch_client::Result<Value>>,
{
    if quiet {
        return drain_messages(messages).await;
    }
    display_messages(messages, stdout_is_terminal()).await
}

/// Reads a JSON message stream to its end without showing it (`--quiet`); an error message
/// still ends it with that error.
pub async fn drain_messages<S>(messages: S) -> Result<()>
where
    S: Stream<Item = pouch_client::Result<Value>>,
{
    let mut messages = std::pin::pin!(messages);
    while let Some(msg) = messages.next().await {
        msg?;
    }
    Ok(())
}

/// [`display_messages`] with a chosen writer (`print` or `eprint`).
pub async fn display_messages_on<S>(
    messages: S,
    terminal: bool,
    print: fn(&str) -> Result<()>,
) -> Result<()>
where
    S: Stream<Item = pouch_client::Result<Value>>,
{
    let mut messages = std::pin::pin!(messages);
    let mut mid_progress = false;
    while let Some(msg) = messages.next().await {
        let msg = msg?;
        if let Some(text) = render_message(&msg, terminal) {
            if mid_progress && !text.starts_with('\x1b') {
                print("\n")?;
            }
            mid_progress = text.ends_with('\r');
            print(&text)?;
        }
    }
    if mid_progress {
        print("\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_stream_status_and_ids() {
        let r = |v: Value| render_message(&v, false);
        assert_eq!(
            r(json!({"stream": "Loaded image: busybox:latest\n"})).unwrap(),
            "Loaded image: busybox:latest\n"
        );
        assert_eq!(r(json!({"status": "sha256:abc"})).unwrap(), "sha256:abc\n");
        assert_eq!(
            r(json!({"status": "Loading layer", "id": "1a2b"})).unwrap(),
            "1a2b: Loading layer\n"
        );
        assert_eq!(r(json!({"aux": {"ID": "sha256:x"}})), None);
    }

    #[test]
    fn progress_only_on_terminals() {
        let msg = json!({"status": "Loading layer", "id": "1a", "progress": "[==>  ] 1MB/2MB",
                         "progressDetail": {"current": 1, "total": 2}});
        assert_eq!(render_message(&msg, false), None);
        assert_eq!(
            render_message(&msg, true).unwrap(),
            "\x1b[2K\r1a: Loading layer [==>  ] 1MB/2MB\r"
        );
        // An empty progressDetail is not progress.
        let done = json!({"status": "Done", "progressDetail": {}});
        assert_eq!(render_message(&done, false).unwrap(), "Done\n");
    }

    #[test]
    fn yes_answers() {
        for (a, want) in [
            ("y\n", true),
            ("Y", true),
            (" y ", true),
            ("yes", false),
            ("", false),
            ("n", false),
        ] {
            assert_eq!(is_yes(a), want, "{a:?}");
        }
    }
}
