//! Parser: tokens → a tree of text, actions and `if`/`range`/`with` blocks.

use anyhow::Result;
use serde_json::Value;

use super::funcs;
use super::lex::{Tok, Token, parse_error};

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Action(Pipeline),
    If(Branch),
    Range(Branch),
    With(Branch),
}

#[derive(Debug, Clone)]
pub struct Branch {
    pub pipe: Pipeline,
    pub body: Vec<Node>,
    pub els: Vec<Node>,
}

/// `[$a[, $b] :=] cmd | cmd | …`
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub struct Command {
    pub args: Vec<Arg>,
    /// Source text of the whole command, for error messages.
    pub text: String,
    pub pos: usize,
}

#[derive(Debug, Clone)]
pub struct Arg {
    pub kind: ArgKind,
    pub pos: usize,
    pub text: String,
}

#[derive(Debug, Clone)]
pub enum ArgKind {
    Dot,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Lit(Value),
    Sub(Box<Pipeline>),
}

/// What ended a list of nodes.
enum Stop {
    Eof,
    End,
    Else,
    ElseIf,
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
}

pub fn parse(src: &str, toks: Vec<Token>) -> Result<Vec<Node>> {
    let mut p = Parser { src, toks, i: 0 };
    let (nodes, end) = p.list()?;
    match end {
        Stop::Eof => Ok(nodes),
        _ => Err(p.err("unexpected {{end}} or {{else}}")),
    }
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> anyhow::Error {
        let pos = self.toks.get(self.i).map_or(self.src.len(), |t| t.pos);
        parse_error(self.src, pos, msg)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.i + n).map(|t| &t.tok)
    }

    fn expect_close(&mut self) -> Result<()> {
        match self.peek() {
            Some(Tok::Close) => {
                self.i += 1;
                Ok(())
            }
            _ => Err(self.err("unexpected token in action, expected }}")),
        }
    }

    fn keyword(&self) -> Option<&str> {
        match self.peek_at(1) {
            Some(Tok::Ident(w))
                if matches!(w.as_str(), "if" | "range" | "with" | "end" | "else") =>
            {
                Some(w.as_str())
            }
            _ => None,
        }
    }

    /// Parses nodes until end of input or an `{{end}}` / `{{else}}` (which is consumed).
    fn list(&mut self) -> Result<(Vec<Node>, Stop)> {
        let mut nodes = Vec::new();
        while let Some(tok) = self.peek() {
            match tok {
                Tok::Text(t) => {
                    nodes.push(Node::Text(t.clone()));
                    self.i += 1;
                }
                Tok::Open => match self.keyword() {
                    Some("end") => {
                        self.i += 2;
                        self.expect_close()?;
                        return Ok((nodes, Stop::End));
                    }
                    Some("else") => {
                        self.i += 2;
                        if matches!(self.peek(), Some(Tok::Ident(w)) if w == "if") {
                            return Ok((nodes, Stop::ElseIf));
                        }
                        self.expect_close()?;
                        return Ok((nodes, Stop::Else));
                    }
                    Some(kw) => {
                        let kw = kw.to_owned();
                        self.i += 2;
                        let branch = self.branch(&kw)?;
                        nodes.push(match kw.as_str() {
                            "if" => Node::If(branch),
                            "range" => Node::Range(branch),
                            _ => Node::With(branch),
                        });
                    }
                    None => {
                        self.i += 1;
                        let pipe = self.pipeline()?;
                        self.expect_close()?;
                        nodes.push(Node::Action(pipe));
                    }
                },
                _ => return Err(self.err("unexpected token outside action")),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// After `{{if` / `{{range` / `{{with`: pipeline, body, optional else, `{{end}}`.
    fn branch(&mut self, kw: &str) -> Result<Branch> {
        let pipe = self.pipeline()?;
        self.expect_close()?;
        let (body, end) = self.list()?;
        let els = match end {
            Stop::End => Vec::new(),
            Stop::Else => match self.list()? {
                (els, Stop::End) => els,
                _ => return Err(self.err(&format!("expected end; found else in {kw}"))),
            },
            // `{{else if x}}` is an `if` nested in the else branch sharing the outer `{{end}}`.
            Stop::ElseIf if kw == "if" => {
                self.i += 1;
                vec![Node::If(self.branch("if")?)]
            }
            Stop::ElseIf => return Err(self.err(&format!("else if is only valid in if, not {kw}"))),
            Stop::Eof => {
                return Err(self.err(&format!("unexpected EOF: missing {{{{end}}}} for {kw}")));
            }
        };
        Ok(Branch { pipe, body, els })
    }

    fn pipeline(&mut self) -> Result<Pipeline> {
        let mut decl = Vec::new();
        let is_var = |t: Option<&Tok>| matches!(t, Some(Tok::Var(_, c)) if c.is_empty());
        if is_var(self.peek()) && matches!(self.peek_at(1), Some(Tok::Declare)) {
            decl.push(self.var_name());
            self.i += 2;
        } else if is_var(self.peek())
            && matches!(self.peek_at(1), Some(Tok::Comma))
            && is_var(self.peek_at(2))
            && matches!(self.peek_at(3), Some(Tok::Declare))
        {
            decl.push(self.var_name());
            self.i += 2;
            decl.push(self.var_name());
            self.i += 2;
        }
        let mut cmds = Vec::new();
        loop {
            cmds.push(self.command()?);
            match self.peek() {
                Some(Tok::Pipe) => self.i += 1,
                _ => break,
            }
        }
        Ok(Pipeline { decl, cmds })
    }

    fn var_name(&self) -> String {
        match self.peek() {
            Some(Tok::Var(name, _)) => name.clone(),
            _ => String::new(),
        }
    }

    fn command(&mut self) -> Result<Command> {
        let mut args = Vec::new();
        while !matches!(
            self.peek(),
            None | Some(Tok::Close | Tok::Pipe | Tok::RParen)
        ) {
            args.push(self.arg()?);
        }
        let (Some(first), Some(last)) = (args.first(), args.last()) else {
            return Err(self.err("missing value for command"));
        };
        let (pos, end) = (first.pos, last.pos + last.text.len());
        Ok(Command {
            text: self.src[pos..end].to_owned(),
            pos,
            args,
        })
    }

    fn arg(&mut self) -> Result<Arg> {
        let Token { tok, pos, end } = self.toks[self.i].clone();
        self.i += 1;
        let kind = match tok {
            Tok::Dot => ArgKind::Dot,
            Tok::Field(chain) => ArgKind::Field(chain),
            Tok::Var(name, chain) => ArgKind::Var(name, chain),
            Tok::Str(s) => ArgKind::Lit(Value::String(s)),
            Tok::Num(n) => ArgKind::Lit(Value::Number(n)),
            Tok::Bool(b) => ArgKind::Lit(Value::Bool(b)),
            Tok::Nil => ArgKind::Lit(Value::Null),
            Tok::Ident(name) => {
                if !funcs::exists(&name) {
                    self.i -= 1;
                    return Err(self.err(&format!("function {name:?} not defined")));
                }
                ArgKind::Func(name)
            }
            Tok::LParen => {
                let pipe = self.pipeline()?;
                let close = match self.toks.get(self.i) {
                    Some(Token {
                        tok: Tok::RParen,
                        end,
                        ..
                    }) => *end,
                    _ => return Err(self.err("unclosed left paren")),
                };
                self.i += 1;
                return Ok(Arg {
                    kind: ArgKind::Sub(Box::new(pipe)),
                    pos,
                    text: self.src[pos..close].to_owned(),
                });
            }
            _ => {
                self.i -= 1;
                return Err(self.err("unexpected token in operand"));
            }
        };
        Ok(Arg {
            kind,
            pos,
            text: self.src[pos..end].to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::lex::lex;
    use super::*;

    fn tree(src: &str) -> Result<Vec<Node>> {
        parse(src, lex(src)?)
    }

    #[test]
    fn parses_blocks() {
        let nodes = tree("{{if .A}}a{{else if .B}}b{{else}}c{{end}}").unwrap();
        let [Node::If(b)] = nodes.as_slice() else {
            panic!("{nodes:?}")
        };
        assert!(matches!(b.body.as_slice(), [Node::Text(t)] if t == "a"));
        let [Node::If(inner)] = b.els.as_slice() else {
            panic!("{b:?}")
        };
        assert!(matches!(inner.els.as_slice(), [Node::Text(t)] if t == "c"));

        let nodes = tree("{{range $i, $e := .L}}{{$e}}{{end}}").unwrap();
        let [Node::Range(r)] = nodes.as_slice() else {
            panic!("{nodes:?}")
        };
        assert_eq!(r.pipe.decl, vec!["i".to_owned(), "e".to_owned()]);
    }

    #[test]
    fn command_text_for_errors() {
        let nodes = tree(r#"{{ index .Labels "k" | upper }}"#).unwrap();
        let [Node::Action(p)] = nodes.as_slice() else {
            panic!("{nodes:?}")
        };
        assert_eq!(p.cmds[0].text, r#"index .Labels "k""#);
        assert_eq!(p.cmds[0].pos, 3);
        assert_eq!(p.cmds[1].text, "upper");
    }

    #[test]
    fn parse_errors() {
        let msg = |s: &str| tree(s).unwrap_err().to_string();
        assert_eq!(
            msg("{{nope .A}}"),
            "template: :1: function \"nope\" not defined"
        );
        assert!(msg("{{if .A}}x").contains("missing {{end}}"));
        assert!(msg("{{end}}").contains("unexpected {{end}}"));
        assert!(msg("{{}}").contains("missing value"));
        assert!(msg("{{(.A}}").contains("unclosed left paren"));
    }
}
