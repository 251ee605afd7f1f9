//! `--format`: docker's Go-template output, over `serde_json::Value`.
//!
//! A format string is either `table [TEMPLATE]` (a header row plus aligned columns), `json`
//! (one JSON object per line), or a bare template run once per item. List commands feed it
//! docker's *display* rows (strings such as `CreatedSince`), inspect-like commands the raw JSON.

mod exec;
mod funcs;
mod indent;
mod lex;
mod parse;
mod tabwriter;
mod value;

use std::io::Write;

use anyhow::{Context, Result};
use serde_json::Value;

pub use exec::Template;
pub use indent::indent_json;
pub use tabwriter::align_with;

/// How a list command prints its rows.
#[derive(Debug, Clone)]
pub enum Format {
    /// Header row and tab-aligned columns.
    Table(Template),
    /// The template once per row, each result followed by a newline.
    Raw(Template),
}

/// A `Labels` object as docker's list rows show it: `key=value` strings, in the object's order.
pub fn label_pairs(labels: &Value) -> Vec<String> {
    labels
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// Column headers for a row type: `(field, HEADER)`, e.g. `("ID", "IMAGE ID")`.
pub type Headers = &'static [(&'static str, &'static str)];

impl Format {
    /// Interprets a `--format` value the way docker does: empty or `table` → `default_table`,
    /// `table X` → table of `X`, `json` → `{{json .}}`, anything else → a raw template. The
    /// literal escapes `\t` and `\n` are expanded first, as users type them in shells.
    pub fn parse(format: &str, default_table: &str) -> Result<Format> {
        let format = if format.is_empty() || format == "table" {
            default_table
        } else {
            format
        };
        if format == "json" {
            return Ok(Format::Raw(Template::parse("{{json .}}")?));
        }
        match format.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with([' ', '\t']) => Ok(Format::Table(
                Template::parse(&expand_escapes(rest.trim_matches(' ')))?,
            )),
            _ => Ok(Format::Raw(Template::parse(&expand_escapes(format))?)),
        }
    }

    /// Renders all rows; the whole output is built before writing so that a template error on
    /// row 3 does not leave half a table on the screen.
    pub fn render(&self, rows: &[Value], headers: Headers) -> Result<String> {
        match self {
            Format::Raw(tmpl) => {
                let mut out = String::new();
                for row in rows {
                    out.push_str(&tmpl.execute(row)?);
                    out.push('\n');
                }
                Ok(out)
            }
            Format::Table(tmpl) => {
                let header = header_row(headers);
                let mut text = tmpl.execute_header(&header)?;
                text.push('\n');
                for row in rows {
                    text.push_str(&tmpl.execute(row)?);
                    text.push('\n');
                }
                Ok(tabwriter::align(&text))
            }
        }
    }

    /// Renders and writes to stdout.
    pub fn print(&self, rows: &[Value], headers: Headers) -> Result<()> {
        let out = self.render(rows, headers)?;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
            .context("writing output")
    }
}

/// Runs a (non-table) template once over a single value, as `inspect -f`, `version -f` and
/// `info -f` do; `json` is accepted as a shortcut for `{{json .}}`.
pub fn render_one(format: &str, value: &Value) -> Result<String> {
    let format = if format == "json" {
        "{{json .}}".to_owned()
    } else {
        expand_escapes(format)
    };
    let mut out = Template::parse(&format)?.execute(value)?;
    out.push('\n');
    Ok(out)
}

fn header_row(headers: Headers) -> Value {
    Value::Object(
        headers
            .iter()
            .map(|(field, title)| ((*field).to_owned(), Value::String((*title).to_owned())))
            .collect(),
    )
}

/// Turns the two-character sequences `\t` and `\n` into tab and newline (docker's preFormat).
fn expand_escapes(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HEADERS: Headers = &[
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Size", "SIZE"),
    ];
    const DEFAULT: &str = "table {{.Repository}}\t{{.ID}}\t{{.Size}}";

    fn rows() -> Vec<Value> {
        vec![
            json!({"ID": "0123456789ab", "Repository": "busybox", "Size": "4.26MB"}),
            json!({"ID": "ba9876543210", "Repository": "localhost:5000/app", "Size": "0B"}),
        ]
    }

    #[test]
    fn default_table_has_aligned_columns_and_header() {
        let out = Format::parse("", DEFAULT)
            .unwrap()
            .render(&rows(), HEADERS)
            .unwrap();
        assert_eq!(
            out,
            "REPOSITORY           IMAGE ID       SIZE\n\
             busybox              0123456789ab   4.26MB\n\
             localhost:5000/app   ba9876543210   0B\n"
        );
        let empty = Format::parse("table", DEFAULT)
            .unwrap()
            .render(&[], HEADERS)
            .unwrap();
        assert_eq!(empty, "REPOSITORY   IMAGE ID   SIZE\n");
    }

    #[test]
    fn custom_table_with_escapes_and_unknown_header() {
        let f = Format::parse(r"table {{.ID}}\t{{.Extra}}", DEFAULT).unwrap();
        assert!(matches!(f, Format::Table(_)));
        let rows = vec![json!({"ID": "x", "Extra": "y"})];
        assert_eq!(
            f.render(&rows, HEADERS).unwrap(),
            "IMAGE ID   EXTRA\nx          y\n"
        );
    }

    #[test]
    fn raw_and_json_formats() {
        let f = Format::parse(r"{{.Repository}}:{{.Size}}\n--", DEFAULT).unwrap();
        assert!(matches!(f, Format::Raw(_)));
        assert_eq!(
            f.render(&rows()[..1], HEADERS).unwrap(),
            "busybox:4.26MB\n--\n"
        );
        let f = Format::parse("json", DEFAULT).unwrap();
        assert_eq!(
            f.render(&rows()[..1], HEADERS).unwrap(),
            "{\"ID\":\"0123456789ab\",\"Repository\":\"busybox\",\"Size\":\"4.26MB\"}\n"
        );
    }

    #[test]
    fn unknown_field_errors_like_docker() {
        let err = Format::parse("{{.Foo}}", DEFAULT)
            .unwrap()
            .render(&rows(), HEADERS)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "template: :1:2: executing \"\" at <.Foo>: map has no entry for key \"Foo\""
        );
    }

    #[test]
    fn render_one_on_raw_json() {
        let v = json!({"Id": "sha256:1", "Config": {"Cmd": ["sh", "-c"]}});
        assert_eq!(render_one("{{.Config.Cmd}}", &v).unwrap(), "[sh -c]\n");
        assert_eq!(
            render_one("json", &v).unwrap(),
            "{\"Config\":{\"Cmd\":[\"sh\",\"-c\"]},\"Id\":\"sha256:1\"}\n"
        );
    }
}
