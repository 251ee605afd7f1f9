//! Template functions: docker's additions (`json`, `upper`, `join`, `pad`, …) and the Go
//! builtins people use in `--format` (`index`, `len`, `print*`, comparisons, `and`/`or`/`not`).

use std::cmp::Ordering;

use serde_json::Value;

use super::value::{as_text, display, go_type, truthy, write_go};

const NAMES: &[&str] = &[
    "json", "upper", "lower", "title", "join", "split", "pad", "truncate", "index", "len", "print",
    "println", "printf", "eq", "ne", "lt", "le", "gt", "ge", "not", "and", "or",
];

/// Functions that, when rendering a table header, return their first argument unchanged: the
/// header row feeds column titles through the same template, and `{{upper .Name}}` should still
/// title its column "NAME" (docker's `HeaderFunctions`).
const HEADER_PASSTHROUGH: &[&str] = &[
    "json", "upper", "lower", "title", "join", "split", "pad", "truncate", "index",
];

pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

type FnResult = Result<Value, String>;

fn text_arg(args: &[Value], i: usize) -> String {
    args.get(i).map(as_text).unwrap_or_default()
}

fn int_arg(args: &[Value], i: usize) -> Result<usize, String> {
    match args.get(i) {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| format!("invalid count {n}")),
        Some(other) => Err(format!("expected integer; found {}", display(other))),
        None => Err("missing argument".to_owned()),
    }
}

fn arity(args: &[Value], want: usize) -> Result<(), String> {
    if args.len() == want {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args: want {want} got {}",
            args.len()
        ))
    }
}

/// Calls `name`; `header` selects the table-header behaviour described on
/// [`HEADER_PASSTHROUGH`]. Errors are the text after "error calling NAME: ".
pub fn call(name: &str, args: Vec<Value>, header: bool) -> FnResult {
    if header && HEADER_PASSTHROUGH.contains(&name) {
        return Ok(args.into_iter().next().unwrap_or(Value::Null));
    }
    match name {
        "json" => {
            arity(&args, 1)?;
            serde_json::to_string(&args[0])
                .map(Value::String)
                .map_err(|e| e.to_string())
        }
        "upper" => Ok(Value::String(text_arg(&args, 0).to_uppercase())),
        "lower" => Ok(Value::String(text_arg(&args, 0).to_lowercase())),
        "title" => Ok(Value::String(title(&text_arg(&args, 0)))),
        "join" => {
            arity(&args, 2)?;
            let sep = text_arg(&args, 1);
            match &args[0] {
                Value::Array(items) => Ok(Value::String(
                    items.iter().map(as_text).collect::<Vec<_>>().join(&sep),
                )),
                other => Err(format!(
                    "wrong type for value; expected []string; got {}",
                    go_type(other)
                )),
            }
        }
        "split" => {
            arity(&args, 2)?;
            let (s, sep) = (text_arg(&args, 0), text_arg(&args, 1));
            Ok(Value::Array(
                s.split(sep.as_str())
                    .map(|p| Value::String(p.to_owned()))
                    .collect(),
            ))
        }
        "pad" => {
            arity(&args, 3)?;
            let (before, after) = (int_arg(&args, 1)?, int_arg(&args, 2)?);
            let s = text_arg(&args, 0);
            Ok(Value::String(format!(
                "{}{s}{}",
                " ".repeat(before),
                " ".repeat(after)
            )))
        }
        "truncate" => {
            arity(&args, 2)?;
            let n = int_arg(&args, 1)?;
            Ok(Value::String(text_arg(&args, 0).chars().take(n).collect()))
        }
        "index" => index(args),
        "len" => {
            arity(&args, 1)?;
            let n = match &args[0] {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                other => return Err(format!("len of type {}", go_type(other))),
            };
            Ok(Value::from(n))
        }
        "print" => Ok(Value::String(sprint(&args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(go_v).collect();
            Ok(Value::String(parts.join(" ") + "\n"))
        }
        "printf" => {
            let fmt = text_arg(&args, 0);
            Ok(Value::String(sprintf(&fmt, args.get(1..).unwrap_or(&[]))))
        }
        "eq" => {
            let (first, rest) = args
                .split_first()
                .ok_or("missing argument for comparison")?;
            if rest.is_empty() {
                return Err("missing argument for comparison".to_owned());
            }
            Ok(Value::Bool(rest.iter().any(|other| equal(first, other))))
        }
        "ne" => {
            arity(&args, 2)?;
            Ok(Value::Bool(!equal(&args[0], &args[1])))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(&args, 2)?;
            let ord = compare(&args[0], &args[1])?;
            Ok(Value::Bool(match name {
                "lt" => ord == Ordering::Less,
                "le" => ord != Ordering::Greater,
                "gt" => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        "not" => {
            arity(&args, 1)?;
            Ok(Value::Bool(!truthy(&args[0])))
        }
        "and" => Ok(pick(args, false)),
        "or" => Ok(pick(args, true)),
        other => Err(format!("function {other:?} not defined")),
    }
}

/// `and` returns the first false argument (else the last); `or` the first true one.
fn pick(args: Vec<Value>, want: bool) -> Value {
    let mut last = Value::Null;
    for a in args {
        if truthy(&a) == want {
            return a;
        }
        last = a;
    }
    last
}

fn index(args: Vec<Value>) -> FnResult {
    let mut iter = args.into_iter();
    let mut cur = iter.next().ok_or("index of untyped nil")?;
    for key in iter {
        cur = match (cur, &key) {
            // A missing map key yields the zero value, which prints as `<no value>`.
            (Value::Object(mut m), Value::String(k)) => m.remove(k).unwrap_or(Value::Null),
            (Value::Array(mut a), Value::Number(n)) => {
                let i = n.as_u64().and_then(|i| usize::try_from(i).ok());
                match i {
                    Some(i) if i < a.len() => a.swap_remove(i),
                    _ => return Err(format!("index out of range: {n}")),
                }
            }
            (Value::Null, _) => return Err("index of untyped nil".to_owned()),
            (other, key) => {
                return Err(format!(
                    "can't index item of type {} with {}",
                    go_type(&other),
                    display(key)
                ));
            }
        };
    }
    Ok(cur)
}

/// Go's `%v`.
fn go_v(v: &Value) -> String {
    let mut s = String::new();
    write_go(v, &mut s);
    s
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&go_v(a));
    }
    out
}

/// A `fmt.Sprintf` covering the verbs templates use: `%s %v %d %q %%`.
fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        match verb {
            's' | 'v' | 'd' => out.push_str(&go_v(arg)),
            'q' => out.push_str(&serde_json::to_string(&as_text(arg)).unwrap_or_default()),
            other => out.push_str(&format!("%!{other}({})", go_v(arg))),
        }
    }
    out
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y))
            .ok_or_else(|| "incomparable numbers".to_owned()),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err("incompatible types for comparison".to_owned()),
    }
}

/// Upper-cases the first letter of each space-separated word, leaving the rest alone.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_word_start = true;
    for c in s.chars() {
        if at_word_start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_word_start = c.is_whitespace();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call_ok(name: &str, args: Vec<Value>) -> Value {
        call(name, args, false).unwrap()
    }

    #[test]
    fn string_functions() {
        assert_eq!(call_ok("upper", vec![json!("abc")]), json!("ABC"));
        assert_eq!(call_ok("lower", vec![json!("ABC")]), json!("abc"));
        assert_eq!(
            call_ok("title", vec![json!("hello wORLD")]),
            json!("Hello WORLD")
        );
        assert_eq!(
            call_ok("join", vec![json!(["a", "b"]), json!(",")]),
            json!("a,b")
        );
        assert_eq!(
            call_ok("split", vec![json!("a:b"), json!(":")]),
            json!(["a", "b"])
        );
        assert_eq!(
            call_ok("pad", vec![json!("x"), json!(1), json!(2)]),
            json!(" x  ")
        );
        assert_eq!(
            call_ok("truncate", vec![json!("abcdef"), json!(3)]),
            json!("abc")
        );
        assert_eq!(
            call_ok("json", vec![json!({"b": 1, "a": "<"})]),
            json!(r#"{"a":"<","b":1}"#)
        );
    }

    #[test]
    fn index_and_len() {
        let labels = json!({"k": "v"});
        assert_eq!(
            call_ok("index", vec![labels.clone(), json!("k")]),
            json!("v")
        );
        assert_eq!(
            call_ok("index", vec![labels.clone(), json!("nope")]),
            json!(null)
        );
        assert_eq!(
            call_ok("index", vec![json!(["a", "b"]), json!(1)]),
            json!("b")
        );
        assert_eq!(
            call("index", vec![json!(["a"]), json!(3)], false).unwrap_err(),
            "index out of range: 3"
        );
        assert_eq!(call_ok("len", vec![labels]), json!(1));
        assert!(call("len", vec![json!(1)], false).is_err());
    }

    #[test]
    fn printing_and_logic() {
        assert_eq!(
            call_ok("print", vec![json!("a"), json!(1), json!(2)]),
            json!("a1 2")
        );
        assert_eq!(
            call_ok("println", vec![json!("a"), json!(1)]),
            json!("a 1\n")
        );
        assert_eq!(
            call_ok(
                "printf",
                vec![json!("%s=%d %q %%"), json!("k"), json!(3), json!("x")]
            ),
            json!("k=3 \"x\" %")
        );
        assert_eq!(
            call_ok("eq", vec![json!(1), json!(2), json!(1.0)]),
            json!(true)
        );
        assert_eq!(call_ok("ne", vec![json!("a"), json!("a")]), json!(false));
        assert_eq!(call_ok("lt", vec![json!(1), json!(2)]), json!(true));
        assert_eq!(call_ok("ge", vec![json!("b"), json!("a")]), json!(true));
        assert_eq!(call_ok("not", vec![json!("")]), json!(true));
        assert_eq!(
            call_ok("and", vec![json!(1), json!(""), json!(2)]),
            json!("")
        );
        assert_eq!(call_ok("or", vec![json!(""), json!("x")]), json!("x"));
    }

    #[test]
    fn header_mode_passes_titles_through() {
        assert_eq!(
            call("upper", vec![json!("IMAGE ID")], true).unwrap(),
            json!("IMAGE ID")
        );
        assert_eq!(
            call("json", vec![json!("SIZE")], true).unwrap(),
            json!("SIZE")
        );
    }
}
