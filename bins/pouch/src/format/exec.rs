//! Template execution over `serde_json::Value`.
//!
//! Semantics follow Go's `text/template` with `missingkey=error`, which is what `docker inspect`
//! uses on raw JSON: a misspelt field is an error naming the field, not a silent `<no value>`.

use std::sync::Arc;

use anyhow::{Result, anyhow};
use serde_json::Value;

use super::funcs;
use super::lex::{lex, line_of};
use super::parse::{Arg, ArgKind, Branch, Command, Node, Pipeline, parse};
use super::value::{display, go_type, truthy};

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    src: Arc<str>,
    nodes: Arc<[Node]>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        let nodes = parse(src, lex(src)?)?;
        Ok(Template {
            src: src.into(),
            nodes: nodes.into(),
        })
    }

    /// Runs the template with `dot` as `.` (and `$`).
    pub fn execute(&self, dot: &Value) -> Result<String> {
        let mut st = State::new(&self.src, dot, false);
        st.walk(&self.nodes, dot)?;
        Ok(st.out)
    }

    /// Renders the header row of a table: `dot` maps field names to column titles, unknown
    /// fields title themselves ("CreatedAt" → "CREATED AT") and formatting functions pass
    /// titles through. Like docker, a header that cannot be fully rendered is not an error: the
    /// rows will report the real problem.
    pub fn execute_header(&self, titles: &Value) -> Result<String> {
        let mut st = State::new(&self.src, titles, true);
        let _ = st.walk(&self.nodes, titles);
        Ok(st.out)
    }
}

struct State<'a> {
    src: &'a str,
    out: String,
    /// Variables in scope, innermost last; `$` (the empty name) is always first.
    vars: Vec<(String, Value)>,
    header: bool,
}

impl<'a> State<'a> {
    fn new(src: &'a str, root: &Value, header: bool) -> Self {
        State {
            src,
            out: String::new(),
            vars: vec![(String::new(), root.clone())],
            header,
        }
    }

    /// Go's execution error: `template: :LINE:COL: executing "" at <NODE>: MSG`, with COL the
    /// 0-based byte offset of the node within its line.
    fn error(&self, pos: usize, node: &str, msg: impl std::fmt::Display) -> anyhow::Error {
        let line_start = self.src[..pos].rfind('\n').map_or(0, |i| i + 1);
        anyhow!(
            "template: :{}:{}: executing \"\" at <{node}>: {msg}",
            line_of(self.src, pos),
            pos - line_start
        )
    }

    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<()> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.pipeline(pipe, dot)?;
                    if !self.declare(pipe, &v) {
                        self.out.push_str(&display(&v));
                    }
                }
                Node::If(b) => self.scoped(|st| {
                    let v = st.pipeline(&b.pipe, dot)?;
                    st.declare(&b.pipe, &v);
                    st.walk(if truthy(&v) { &b.body } else { &b.els }, dot)
                })?,
                Node::With(b) => self.scoped(|st| {
                    let v = st.pipeline(&b.pipe, dot)?;
                    st.declare(&b.pipe, &v);
                    if truthy(&v) {
                        st.walk(&b.body, &v)
                    } else {
                        st.walk(&b.els, dot)
                    }
                })?,
                Node::Range(b) => self.scoped(|st| st.range(b, dot))?,
            }
        }
        Ok(())
    }

    /// Runs `f` and then forgets the variables it declared (Go scopes them to the block).
    fn scoped(&mut self, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let depth = self.vars.len();
        let r = f(self);
        self.vars.truncate(depth);
        r
    }

    /// Binds `$x := …`; returns whether the pipeline was a declaration (which prints nothing).
    fn declare(&mut self, pipe: &Pipeline, v: &Value) -> bool {
        match pipe.decl.as_slice() {
            [] => false,
            names => {
                for name in names {
                    self.vars.push((name.clone(), v.clone()));
                }
                true
            }
        }
    }

    fn range(&mut self, b: &Branch, dot: &Value) -> Result<()> {
        let v = self.pipeline(&b.pipe, dot)?;
        let items: Vec<(Value, Value)> = match v {
            Value::Array(a) => a
                .into_iter()
                .enumerate()
                .map(|(i, e)| (Value::from(i), e))
                .collect(),
            Value::Object(m) => m.into_iter().map(|(k, e)| (Value::String(k), e)).collect(),
            Value::Null => Vec::new(),
            other => {
                let cmd = &b.pipe.cmds[0];
                return Err(self.error(
                    cmd.pos,
                    &cmd.text,
                    format!("range can't iterate over {}", display(&other)),
                ));
            }
        };
        if items.is_empty() {
            return self.walk(&b.els, dot);
        }
        let depth = self.vars.len();
        for (key, elem) in items {
            match b.pipe.decl.as_slice() {
                [k, e] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((e.clone(), elem.clone()));
                }
                [e] => self.vars.push((e.clone(), elem.clone())),
                _ => {}
            }
            let r = self.walk(&b.body, &elem);
            self.vars.truncate(depth);
            r?;
        }
        Ok(())
    }

    fn pipeline(&mut self, pipe: &Pipeline, dot: &Value) -> Result<Value> {
        let mut last = None;
        for cmd in &pipe.cmds {
            last = Some(self.command(cmd, dot, last)?);
        }
        Ok(last.unwrap_or(Value::Null))
    }

    /// Evaluates one command; `piped` is the previous command's result, which Go passes as the
    /// final argument.
    fn command(&mut self, cmd: &Command, dot: &Value, piped: Option<Value>) -> Result<Value> {
        let first = &cmd.args[0];
        if let ArgKind::Func(name) = &first.kind {
            let mut args = Vec::with_capacity(cmd.args.len());
            for a in &cmd.args[1..] {
                args.push(self.arg(a, dot)?);
            }
            args.extend(piped);
            return funcs::call(name, args, self.header)
                .map_err(|e| self.error(cmd.pos, &cmd.text, format!("error calling {name}: {e}")));
        }
        if cmd.args.len() > 1 || piped.is_some() {
            return Err(self.error(
                cmd.pos,
                &cmd.text,
                format!("can't give argument to non-function {}", first.text),
            ));
        }
        self.arg(first, dot)
    }

    fn arg(&mut self, arg: &Arg, dot: &Value) -> Result<Value> {
        match &arg.kind {
            ArgKind::Dot => Ok(dot.clone()),
            ArgKind::Lit(v) => Ok(v.clone()),
            ArgKind::Field(chain) => self.fields(dot, chain, arg),
            ArgKind::Var(name, chain) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(self.error(
                        arg.pos,
                        &arg.text,
                        format!("undefined variable \"${name}\""),
                    ));
                };
                let v = v.clone();
                self.fields(&v, chain, arg)
            }
            ArgKind::Func(name) => funcs::call(name, Vec::new(), self.header)
                .map_err(|e| self.error(arg.pos, &arg.text, format!("error calling {name}: {e}"))),
            ArgKind::Sub(pipe) => self.pipeline(pipe, dot),
        }
    }

    /// Follows `.A.B…` from `v`.
    fn fields(&self, v: &Value, chain: &[String], arg: &Arg) -> Result<Value> {
        if self.header && !chain.is_empty() {
            return Ok(header_title(v, chain));
        }
        let mut cur = v.clone();
        for name in chain {
            cur = match cur {
                Value::Object(mut m) => match m.remove(name) {
                    Some(next) => next,
                    None => {
                        return Err(self.error(
                            arg.pos,
                            &arg.text,
                            format!("map has no entry for key {name:?}"),
                        ));
                    }
                },
                Value::Null => {
                    return Err(self.error(
                        arg.pos,
                        &arg.text,
                        format!("nil pointer evaluating interface {{}}.{name}"),
                    ));
                }
                other => {
                    let msg = format!("can't evaluate field {name} in type {}", go_type(&other));
                    return Err(self.error(arg.pos, &arg.text, msg));
                }
            };
        }
        Ok(cur)
    }
}

/// The column title for a field chain: the header map's entry for a known single field, else
/// the last field name split at case changes and upper-cased.
fn header_title(titles: &Value, chain: &[String]) -> Value {
    if let [field] = chain {
        if let Some(title) = titles.get(field) {
            return title.clone();
        }
    }
    let last = chain.last().map(String::as_str).unwrap_or_default();
    Value::String(title_from_field(last))
}

/// "CreatedAt" → "CREATED AT", "ID" → "ID", "ImageID" → "IMAGE ID".
pub fn title_from_field(field: &str) -> String {
    let chars: Vec<char> = field.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev_lower = i > 0 && chars[i - 1].is_lowercase();
        let acronym_end = i > 0
            && chars[i - 1].is_uppercase()
            && c.is_uppercase()
            && chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        if c.is_uppercase() && (prev_lower || acronym_end) {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(src: &str, v: &Value) -> String {
        Template::parse(src).unwrap().execute(v).unwrap()
    }

    fn run_err(src: &str, v: &Value) -> String {
        Template::parse(src)
            .unwrap()
            .execute(v)
            .unwrap_err()
            .to_string()
    }

    fn image() -> Value {
        json!({
            "Id": "sha256:abc",
            "RepoTags": ["busybox:latest", "bb:1"],
            "Config": {"Cmd": ["sh"], "Labels": {"maintainer": "me", "a.b": "c"}, "Env": null},
            "RootFS": {"Type": "layers", "Layers": ["sha256:1"]},
            "Size": 4264000
        })
    }

    /// Runs each template on `v` and checks its output.
    fn check(v: &Value, cases: &[(&str, &str)]) {
        for (src, want) in cases {
            assert_eq!(run(src, v), *want, "{src}");
        }
    }

    #[test]
    fn fields_nested_and_values() {
        check(
            &image(),
            &[
                ("{{.Id}}", "sha256:abc"),
                ("id={{ .Id }} cmd={{.Config.Cmd}}", "id=sha256:abc cmd=[sh]"),
                ("{{.Config.Env}}", "<no value>"),
                ("{{.Size}}", "4264000"),
                ("{{.Config.Labels}}", "map[a.b:c maintainer:me]"),
            ],
        );
        assert_eq!(run("{{.}}", &json!("plain")), "plain");
    }

    #[test]
    fn json_index_and_pipes() {
        check(
            &image(),
            &[
                (
                    "{{json .RootFS}}",
                    r#"{"Layers":["sha256:1"],"Type":"layers"}"#,
                ),
                (r#"{{index .Config.Labels "a.b"}}"#, "c"),
                (r#"{{index .RepoTags 1 | upper}}"#, "BB:1"),
                (r#"{{.Id | printf "%s!"}}"#, "sha256:abc!"),
                (r#"{{(index .RepoTags 0)}}"#, "busybox:latest"),
                ("{{lower .RootFS.Type}}", "layers"),
            ],
        );
        assert_eq!(run("{{json .}}", &json!({"a": [1]})), r#"{"a":[1]}"#);
    }

    #[test]
    fn control_flow_and_variables() {
        check(
            &image(),
            &[
                (
                    "{{range .RepoTags}}[{{.}}]{{end}}",
                    "[busybox:latest][bb:1]",
                ),
                (
                    "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
                    "a.b=c;maintainer=me;",
                ),
                (
                    "{{range $i, $t := .RepoTags}}{{$i}}{{$.Id}} {{end}}",
                    "0sha256:abc 1sha256:abc ",
                ),
                ("{{range .Config.Env}}x{{else}}none{{end}}", "none"),
                ("{{if .Config.Env}}a{{else if .Id}}b{{else}}c{{end}}", "b"),
                ("{{with .RootFS}}{{.Type}}{{end}}", "layers"),
                ("{{$x := .Id}}{{$x}}", "sha256:abc"),
                ("{{if eq .RootFS.Type \"layers\"}}yes{{end}}", "yes"),
                ("{{if and .Id (not .Config.Env)}}ok{{end}}", "ok"),
                ("{{len .RepoTags}}", "2"),
            ],
        );
    }

    #[test]
    fn errors_match_go() {
        let v = image();
        for (src, want) in [
            (
                "{{.Foo}}",
                "template: :1:2: executing \"\" at <.Foo>: map has no entry for key \"Foo\"",
            ),
            (
                "x\n  {{ .Config.Nope }}",
                "template: :2:5: executing \"\" at <.Config.Nope>: map has no entry for key \"Nope\"",
            ),
            (
                "{{.Config.Env.X}}",
                "template: :1:2: executing \"\" at <.Config.Env.X>: nil pointer evaluating interface {}.X",
            ),
            (
                "{{.Id.X}}",
                "template: :1:2: executing \"\" at <.Id.X>: can't evaluate field X in type string",
            ),
            (
                "{{index .RepoTags 5}}",
                "template: :1:2: executing \"\" at <index .RepoTags 5>: error calling index: index out of range: 5",
            ),
        ] {
            assert_eq!(run_err(src, &v), want, "{src}");
        }
        assert!(run_err("{{$nope}}", &v).contains("undefined variable \"$nope\""));
        assert!(run_err("{{.Id | .Id}}", &v).contains("can't give argument to non-function"));
    }

    #[test]
    fn header_mode() {
        let titles = json!({"ID": "IMAGE ID", "CreatedSince": "CREATED"});
        let t = Template::parse(
            "{{.ID}}\t{{upper .ID}}\t{{if .CreatedSince}}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.SharedSize}}\t{{json .X.ImageID}}",
        )
        .unwrap();
        assert_eq!(
            t.execute_header(&titles).unwrap(),
            "IMAGE ID\tIMAGE ID\tCREATED\tSHARED SIZE\tIMAGE ID"
        );
    }

    #[test]
    fn field_titles() {
        for (f, want) in [
            ("ID", "ID"),
            ("CreatedAt", "CREATED AT"),
            ("ImageID", "IMAGE ID"),
            ("RootFS", "ROOT FS"),
            ("Name", "NAME"),
        ] {
            assert_eq!(title_from_field(f), want);
        }
    }
}
