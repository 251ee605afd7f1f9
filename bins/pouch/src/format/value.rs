//! How template values print and test, following Go's `fmt` and `text/template` on values
//! decoded from JSON (`map[string]interface{}`, `[]interface{}`, strings, numbers, bools, nil).

use serde_json::Value;

/// Prints a value the way `{{.X}}` does: strings raw, arrays `[a b]`, maps `map[k:v]` with
/// sorted keys, and a missing/nil value as `<no value>`.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_owned(),
        other => {
            let mut out = String::new();
            write_go(other, &mut out);
            out
        }
    }
}

/// Go's `%v` for nested values: nil inside a collection prints `<nil>`.
pub fn write_go(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_go(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("map[");
            // serde_json's map is ordered by key, which is also what Go's fmt prints.
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_go(item, out);
            }
            out.push(']');
        }
    }
}

/// Go template truth: false, 0, nil and empty strings, arrays and maps are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// The Go type name a JSON value decodes to, for error messages.
pub fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "interface {}",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// The value as a string argument (`upper`, `join`, …): strings as-is, others printed.
pub fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => display(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_go() {
        assert_eq!(display(&json!("raw \"text\"")), "raw \"text\"");
        assert_eq!(display(&json!(null)), "<no value>");
        assert_eq!(display(&json!(42)), "42");
        assert_eq!(display(&json!(1.5)), "1.5");
        assert_eq!(display(&json!(true)), "true");
        assert_eq!(display(&json!(["sh", "-c", null])), "[sh -c <nil>]");
        assert_eq!(display(&json!([])), "[]");
        assert_eq!(
            display(&json!({"b": {"x": 1}, "a": ["y"]})),
            "map[a:[y] b:map[x:1]]"
        );
        assert_eq!(display(&json!({})), "map[]");
    }

    #[test]
    fn truthiness() {
        for v in [
            json!(null),
            json!(false),
            json!(0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [
            json!(true),
            json!(-1),
            json!("x"),
            json!([0]),
            json!({"a": 0}),
        ] {
            assert!(truthy(&v), "{v}");
        }
    }
}
