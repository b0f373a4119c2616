//! Go's builtin template functions with Go's rules: `eq` against several
//! operands, comparisons only between basic kinds of the same kind,
//! `index` and `len` errors in Go's words. (`and`/`or` short-circuit in the
//! executor.)

use std::cmp::Ordering;

use super::{FR, arity, at_least, strval};
use crate::template::format::sprintf;
use crate::template::{Exec, FnError, Funcs, Value};

pub fn register(f: &mut Funcs) {
    f.insert("and", |_, _| unreachable_fn());
    f.insert("or", |_, _| unreachable_fn());
    f.insert("not", |_, a| {
        arity(&a, 1, "not")?;
        Ok(Value::Bool(!a[0].truthy()))
    });
    f.insert("len", len);
    f.insert("index", index);
    f.insert("print", |_, a| Ok(Value::str(sprint(&a))));
    f.insert("println", |_, a| Ok(Value::str(a.iter().map(strval).collect::<Vec<_>>().join(" ") + "\n")));
    f.insert("printf", |_, a| {
        at_least(&a, 1, "printf")?;
        let fmt = super::string(&a, 0)?;
        Ok(Value::str(sprintf(fmt, &a[1..])))
    });
    f.insert("eq", |_, a| eq(&a).map(Value::Bool));
    f.insert("ne", |_, a| {
        arity(&a, 2, "ne")?;
        eq(&a).map(|b| Value::Bool(!b))
    });
    f.insert("lt", |_, a| cmp(&a, "lt").map(|o| Value::Bool(o == Ordering::Less)));
    f.insert("le", |_, a| cmp(&a, "le").map(|o| Value::Bool(o != Ordering::Greater)));
    f.insert("gt", |_, a| cmp(&a, "gt").map(|o| Value::Bool(o == Ordering::Greater)));
    f.insert("ge", |_, a| cmp(&a, "ge").map(|o| Value::Bool(o != Ordering::Less)));
    f.insert("html", |_, a| Ok(Value::str(html_escape(&sprint(&a)))));
    f.insert("urlquery", |_, a| Ok(Value::str(super::encoding::query_escape(&sprint(&a)))));
    f.insert("js", |_, a| Ok(Value::str(js_escape(&sprint(&a)))));
    f.insert("call", |_, _| Err("call is not supported: templates here hold no Go functions".into()));
}

fn unreachable_fn() -> FR {
    Err("internal: and/or are evaluated by the executor".into())
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
pub fn sprint(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&strval(v));
    }
    out
}

fn len(_: &mut Exec, a: Vec<Value>) -> FR {
    arity(&a, 1, "len")?;
    match &a[0] {
        Value::Str(s) => Ok(Value::Int(s.len() as i64)),
        Value::List(l) => Ok(Value::Int(l.len() as i64)),
        Value::Map(m) => Ok(Value::Int(m.borrow().len() as i64)),
        Value::Nil => Err("len of nil pointer".into()),
        Value::Obj(o) if o.entries().is_some() => Ok(Value::Int(o.entries().map_or(0, |e| e.len()) as i64)),
        v => Err(format!("len of type {}", v.type_name()).into()),
    }
}

fn index(_: &mut Exec, a: Vec<Value>) -> FR {
    at_least(&a, 1, "index")?;
    let mut item = a[0].clone();
    for key in &a[1..] {
        item = match (&item, key) {
            (Value::Map(m), Value::Str(k)) => m.borrow().get(&**k).cloned().unwrap_or_default(),
            (Value::Map(_), Value::Nil) => Value::Nil,
            (Value::Map(_), k) => return Err(format!("value has type {}; should be string", k.type_name()).into()),
            (Value::List(l), Value::Int(i) | Value::Int64(i)) => {
                if *i < 0 || *i as usize >= l.len() {
                    return Err(format!("index out of range: {i}").into());
                }
                l[*i as usize].clone()
            }
            (Value::Str(s), Value::Int(i) | Value::Int64(i)) => {
                if *i < 0 || *i as usize >= s.len() {
                    return Err(format!("index out of range: {i}").into());
                }
                Value::Int(s.as_bytes()[*i as usize] as i64)
            }
            (Value::List(_) | Value::Str(_), k) => {
                return Err(format!("cannot index slice/array with type {}", k.type_name()).into());
            }
            (Value::Nil, _) => return Err("index of untyped nil".into()),
            (v, _) => return Err(format!("can't index item of type {}", v.type_name()).into()),
        };
    }
    Ok(item)
}

#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

/// Go's `eq`: true when the first operand equals any of the others.
fn eq(a: &[Value]) -> Result<bool, FnError> {
    at_least(a, 1, "eq")?;
    if a.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    let x = &a[0];
    for y in &a[1..] {
        let truth = match (x, y) {
            (Value::Nil, _) | (_, Value::Nil) => matches!((x, y), (Value::Nil, Value::Nil)),
            (Value::Bool(p), Value::Bool(q)) => p == q,
            (Value::Int(p) | Value::Int64(p), Value::Int(q) | Value::Int64(q)) => p == q,
            (Value::Float(p), Value::Float(q)) => p == q,
            (Value::Str(p), Value::Str(q)) => p == q,
            _ if kind(x) != kind(y) && kind(x) != Kind::Other && kind(y) != Kind::Other => {
                return Err("incompatible types for comparison".into());
            }
            (Value::Map(_), _) | (Value::List(_), _) => {
                return Err(format!("non-comparable type {x}: {}", x.type_name()).into());
            }
            (_, Value::Map(_)) | (_, Value::List(_)) => {
                return Err(format!("non-comparable type {y}: {}", y.type_name()).into());
            }
            _ => return Err("incompatible types for comparison".into()),
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn cmp(a: &[Value], name: &str) -> Result<Ordering, FnError> {
    arity(a, 2, name)?;
    let (x, y) = (&a[0], &a[1]);
    if matches!(kind(x), Kind::Other | Kind::Bool) || matches!(kind(y), Kind::Other | Kind::Bool) {
        return Err("invalid type for comparison".into());
    }
    match (x, y) {
        (Value::Int(p) | Value::Int64(p), Value::Int(q) | Value::Int64(q)) => Ok(p.cmp(q)),
        (Value::Float(p), Value::Float(q)) => Ok(p.partial_cmp(q).unwrap_or(Ordering::Equal)),
        (Value::Str(p), Value::Str(q)) => Ok(p.cmp(q)),
        _ => Err("incompatible types for comparison".into()),
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\u000A"),
            '\r' => out.push_str("\\u000D"),
            '\t' => out.push_str("\\u0009"),
            c => out.push(c),
        }
    }
    out
}
