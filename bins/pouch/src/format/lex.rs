//! Tokenizer for the Go-template subset: text, `{{ }}` actions and their operands.

use anyhow::{Result, anyhow};
use serde_json::Number;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Text(String),
    Open,
    Close,
    Dot,
    /// `.A.B` as `["A", "B"]`.
    Field(Vec<String>),
    /// `$x.A` as `("x", ["A"])`; the root variable `$` has an empty name.
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Num(Number),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

/// A token and the byte range of its source text (for "at <...>" in error messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
    pub end: usize,
}

/// 1-based line of a byte offset, as Go reports positions.
pub fn line_of(src: &str, pos: usize) -> usize {
    1 + src[..pos.min(src.len())].matches('\n').count()
}

pub fn parse_error(src: &str, pos: usize, msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("template: :{}: {msg}", line_of(src, pos))
}

/// True for the whitespace Go's trim markers (`{{- ` and ` -}}`) remove.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

pub fn lex(src: &str) -> Result<Vec<Token>> {
    let mut toks = Vec::new();
    let mut i = 0;
    let mut trim_next_text = false;
    while i < src.len() {
        let open = src[i..].find("{{").map_or(src.len(), |o| i + o);
        let mut text = &src[i..open];
        if trim_next_text {
            text = text.trim_start_matches(is_space);
        }
        let trim_left = src[open..].starts_with("{{- ")
            || src[open..].starts_with("{{-\t")
            || src[open..].starts_with("{{-\n");
        if trim_left {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            toks.push(Token {
                tok: Tok::Text(text.to_owned()),
                pos: i,
                end: open,
            });
        }
        if open == src.len() {
            break;
        }
        let start = open + if trim_left { 3 } else { 2 };
        let (end, trim_right) = lex_action(src, open, start, &mut toks)?;
        trim_next_text = trim_right;
        i = end;
    }
    Ok(toks)
}

/// Lexes one action starting after its `{{`; returns the offset after `}}` and whether it
/// ended with the ` -}}` trim marker.
fn lex_action(
    src: &str,
    open: usize,
    start: usize,
    toks: &mut Vec<Token>,
) -> Result<(usize, bool)> {
    let bytes = src.as_bytes();
    // Comments are dropped entirely.
    let inner = src[start..].trim_start_matches(is_space);
    if inner.starts_with("/*") {
        let from = src.len() - inner.len();
        let close = src[from..]
            .find("*/")
            .ok_or_else(|| parse_error(src, open, "unclosed comment"))?;
        let after = from + close + 2;
        let rest = src[after..].trim_start_matches(is_space);
        let trim = rest.starts_with("-}}");
        let rest = rest.strip_prefix('-').unwrap_or(rest);
        if !rest.starts_with("}}") {
            return Err(parse_error(
                src,
                open,
                "comment ends before closing delimiter",
            ));
        }
        return Ok((src.len() - rest.len() + 2, trim));
    }
    toks.push(Token {
        tok: Tok::Open,
        pos: open,
        end: start,
    });
    let mut i = start;
    loop {
        let Some(c) = src[i..].chars().next() else {
            return Err(parse_error(src, open, "unclosed action"));
        };
        if src[i..].starts_with("}}") {
            toks.push(Token {
                tok: Tok::Close,
                pos: i,
                end: i + 2,
            });
            return Ok((i + 2, false));
        }
        if is_space(c) {
            let after = src[i..].trim_start_matches(is_space);
            let j = src.len() - after.len();
            if after.starts_with("-}}") {
                toks.push(Token {
                    tok: Tok::Close,
                    pos: j,
                    end: j + 3,
                });
                return Ok((j + 3, true));
            }
            i = j;
            continue;
        }
        let pos = i;
        let tok =
            match c {
                '|' => {
                    i += 1;
                    Tok::Pipe
                }
                '(' => {
                    i += 1;
                    Tok::LParen
                }
                ')' => {
                    i += 1;
                    Tok::RParen
                }
                ',' => {
                    i += 1;
                    Tok::Comma
                }
                '=' => {
                    i += 1;
                    Tok::Assign
                }
                ':' if bytes.get(i + 1) == Some(&b'=') => {
                    i += 2;
                    Tok::Declare
                }
                '"' => {
                    let (s, end) = lex_quoted(src, i)?;
                    i = end;
                    Tok::Str(s)
                }
                '`' => {
                    let close = src[i + 1..]
                        .find('`')
                        .ok_or_else(|| parse_error(src, i, "unterminated raw quoted string"))?;
                    let s = src[i + 1..i + 1 + close].to_owned();
                    i += close + 2;
                    Tok::Str(s)
                }
                '.' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                    let (chain, end) = lex_chain(src, i);
                    i = end;
                    if chain.is_empty() {
                        Tok::Dot
                    } else {
                        Tok::Field(chain)
                    }
                }
                '$' => {
                    let name_end = ident_end(src, i + 1);
                    let name = src[i + 1..name_end].to_owned();
                    let (chain, end) = lex_chain(src, name_end);
                    i = end;
                    Tok::Var(name, chain)
                }
                c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                    let end = src[i + 1..]
                        .find(|c: char| {
                            !(c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_'))
                        })
                        .map_or(src.len(), |e| i + 1 + e);
                    let text = &src[i..end];
                    i = end;
                    Tok::Num(parse_number(text).ok_or_else(|| {
                        parse_error(src, pos, format!("bad number syntax: {text:?}"))
                    })?)
                }
                c if c.is_alphabetic() || c == '_' => {
                    let end = ident_end(src, i);
                    let word = &src[i..end];
                    i = end;
                    match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        _ => Tok::Ident(word.to_owned()),
                    }
                }
                other => {
                    return Err(parse_error(
                        src,
                        pos,
                        format!("unexpected {other:?} in command"),
                    ));
                }
            };
        toks.push(Token { tok, pos, end: i });
    }
}

fn ident_end(src: &str, from: usize) -> usize {
    src[from..]
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(src.len(), |e| from + e)
}

/// Lexes `.A.B…` starting at a `.`; a lone `.` yields an empty chain.
fn lex_chain(src: &str, mut i: usize) -> (Vec<String>, usize) {
    let mut chain = Vec::new();
    while src[i..].starts_with('.') {
        let end = ident_end(src, i + 1);
        if end == i + 1 {
            // A bare dot: only meaningful as the first element.
            if chain.is_empty() {
                i += 1;
            }
            break;
        }
        chain.push(src[i + 1..end].to_owned());
        i = end;
    }
    (chain, i)
}

fn parse_number(text: &str) -> Option<Number> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(n.into());
    }
    let f: f64 = text.parse().ok()?;
    Number::from_f64(f)
}

/// Lexes a Go interpreted string literal starting at its opening quote.
fn lex_quoted(src: &str, start: usize) -> Result<(String, usize)> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + off + 1)),
            '\n' => break,
            '\\' => match chars.next().map(|(_, e)| e) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('\'') => out.push('\''),
                Some('0') => out.push('\0'),
                other => {
                    return Err(parse_error(
                        src,
                        start,
                        format!("unsupported escape sequence \\{}", other.unwrap_or(' ')),
                    ));
                }
            },
            c => out.push(c),
        }
    }
    Err(parse_error(src, start, "unterminated quoted string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_text_and_fields() {
        assert_eq!(
            toks("a {{.A.B}} b"),
            vec![
                Tok::Text("a ".into()),
                Tok::Open,
                Tok::Field(vec!["A".into(), "B".into()]),
                Tok::Close,
                Tok::Text(" b".into()),
            ]
        );
        assert_eq!(toks("{{.}}"), vec![Tok::Open, Tok::Dot, Tok::Close]);
    }

    #[test]
    fn lexes_operands() {
        assert_eq!(
            toks(r#"{{index .L "k\"q" | printf `%s` 3 -1.5 true nil}}"#),
            vec![
                Tok::Open,
                Tok::Ident("index".into()),
                Tok::Field(vec!["L".into()]),
                Tok::Str("k\"q".into()),
                Tok::Pipe,
                Tok::Ident("printf".into()),
                Tok::Str("%s".into()),
                Tok::Num(3.into()),
                Tok::Num(Number::from_f64(-1.5).unwrap()),
                Tok::Bool(true),
                Tok::Nil,
                Tok::Close,
            ]
        );
        assert_eq!(
            toks("{{range $k, $v := $.M}}"),
            vec![
                Tok::Open,
                Tok::Ident("range".into()),
                Tok::Var("k".into(), vec![]),
                Tok::Comma,
                Tok::Var("v".into(), vec![]),
                Tok::Declare,
                Tok::Var(String::new(), vec!["M".into()]),
                Tok::Close,
            ]
        );
    }

    #[test]
    fn trim_markers_and_comments() {
        assert_eq!(
            toks("a  {{- .X -}}\n b{{/* note */}}c"),
            vec![
                Tok::Text("a".into()),
                Tok::Open,
                Tok::Field(vec!["X".into()]),
                Tok::Close,
                Tok::Text("b".into()),
                Tok::Text("c".into()),
            ]
        );
    }

    #[test]
    fn lex_errors() {
        assert_eq!(
            lex("{{.A").unwrap_err().to_string(),
            "template: :1: unclosed action"
        );
        assert!(lex("{{\"abc}}").is_err());
        assert!(
            lex("x\n{{ # }}")
                .unwrap_err()
                .to_string()
                .starts_with("template: :2:")
        );
    }
}
