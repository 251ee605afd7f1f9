//! Re-indentation of raw JSON text, like Go's `json.Indent`.
//!
//! `inspect` prints the daemon's JSON with docker's four-space indentation but must keep the
//! daemon's key order (decoding into `serde_json::Value` would sort keys), so the text is
//! re-indented token by token instead of being decoded and re-encoded.

/// Indents compact or pretty JSON text; string contents are copied verbatim. The input is
/// assumed to be valid JSON (the caller has parsed it already).
pub fn indent_json(src: &str, indent: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    // Set after `[`/`{`: the next token decides between an empty `[]` and a new indented line.
    let mut need_indent = false;
    let mut chars = src.trim().chars();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    while let Some(c) = chars.next() {
        if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        if need_indent && !matches!(c, ']' | '}') {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                out.push('"');
                let mut escaped = false;
                for s in chars.by_ref() {
                    out.push(s);
                    if escaped {
                        escaped = false;
                    } else if s == '\\' {
                        escaped = true;
                    } else if s == '"' {
                        break;
                    }
                }
            }
            '{' | '[' => {
                out.push(c);
                need_indent = true;
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            '}' | ']' => {
                if need_indent {
                    // Empty object or array stays on one line.
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_go_and_keeps_key_order() {
        let src = r#"[{"Id":"sha256:1","RepoTags":["a:1"],"Empty":{},"None":[],"S":"x, {\"y\": [1]}","N":null}]"#;
        let want = r#"[
    {
        "Id": "sha256:1",
        "RepoTags": [
            "a:1"
        ],
        "Empty": {},
        "None": [],
        "S": "x, {\"y\": [1]}",
        "N": null
    }
]"#;
        assert_eq!(indent_json(src, "    "), want);
    }

    #[test]
    fn reindents_pretty_input_and_empty_array() {
        assert_eq!(indent_json("[]", "    "), "[]");
        assert_eq!(
            indent_json("{\n  \"a\" : 1 ,\n \"b\":[ 2 ]\n}\n", "  "),
            "{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}"
        );
    }
}
