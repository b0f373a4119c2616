//! The function library: Go's builtins (`builtin`), Sprig as Helm ships it
//! (`strings`, `lists`, `math`, `encoding`, `misc`) and argument helpers
//! that reproduce Go's typed-parameter errors. Helm's own functions
//! (`include`, `tpl`, `required`...) live with the renderer.

mod builtin;
mod dates;
mod encoding;
mod goyaml;
mod lists;
mod math;
mod misc;
mod semver;
mod strings;

use crate::template::{FnError, Funcs, Value};

pub use encoding::{from_yaml_value, to_json, to_raw_json, to_yaml};

/// Every function of Go, Sprig and Helm's serialisers.
pub fn all() -> Funcs {
    let mut f = Funcs::default();
    builtin::register(&mut f);
    strings::register(&mut f);
    lists::register(&mut f);
    math::register(&mut f);
    encoding::register(&mut f);
    misc::register(&mut f);
    f
}

/// Result of a template function.
pub type FR = Result<Value, FnError>;

/// Fails unless exactly `n` arguments were given.
pub fn arity(args: &[Value], n: usize, name: &str) -> Result<(), FnError> {
    if args.len() != n {
        return Err(FnError::Raw(format!("wrong number of args for {name}: want {n} got {}", args.len())));
    }
    Ok(())
}

/// Fails unless at least `n` arguments were given.
pub fn at_least(args: &[Value], n: usize, name: &str) -> Result<(), FnError> {
    if args.len() < n {
        return Err(FnError::Raw(format!("wrong number of args for {name}: want at least {n} got {}", args.len())));
    }
    Ok(())
}

fn got(v: &Value) -> String {
    if matches!(v, Value::Nil) { "interface {}".into() } else { v.type_name() }
}

/// Argument `i` as a Go `string` parameter (no conversion, as Go).
pub fn string(args: &[Value], i: usize) -> Result<&str, FnError> {
    match args.get(i) {
        Some(Value::Str(s)) => Ok(s),
        Some(v) => Err(FnError::Arg(i, format!("wrong type for value; expected string; got {}", got(v)))),
        None => Err(FnError::Raw("missing argument".into())),
    }
}

/// Argument `i` as a Go `int` parameter (no conversion, as Go).
pub fn int(args: &[Value], i: usize) -> Result<i64, FnError> {
    match args.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        Some(v) => Err(FnError::Arg(i, format!("wrong type for value; expected int; got {}", got(v)))),
        None => Err(FnError::Raw("missing argument".into())),
    }
}

/// Argument `i` as a Go `[]interface{}` parameter.
pub fn list_arg(args: &[Value], i: usize) -> Result<std::rc::Rc<Vec<Value>>, FnError> {
    match args.get(i) {
        Some(Value::List(l)) => Ok(l.clone()),
        Some(Value::Nil) => Ok(Default::default()),
        Some(v) => Err(FnError::Arg(i, format!("wrong type for value; expected []interface {{}}; got {}", got(v)))),
        None => Err(FnError::Raw("missing argument".into())),
    }
}

/// Argument `i` as a Go `map[string]interface{}` parameter.
pub fn map_arg(args: &[Value], i: usize) -> Result<crate::template::Map, FnError> {
    match args.get(i) {
        Some(Value::Map(m)) => Ok(m.clone()),
        Some(v) => {
            Err(FnError::Arg(i, format!("wrong type for value; expected map[string]interface {{}}; got {}", got(v))))
        }
        None => Err(FnError::Raw("missing argument".into())),
    }
}

/// Sprig's `strval`/`toString`: a string as `fmt.Sprint` prints it.
pub fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Nil => "<nil>".into(),
        v => v.to_string(),
    }
}

/// `cast.ToInt64` as Sprig uses it: numbers truncate, numeric strings
/// parse, anything else is 0.
pub fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => *b as i64,
        Value::Str(s) => {
            let t = s.trim();
            t.parse::<i64>().ok().or_else(|| t.parse::<f64>().ok().map(|f| f as i64)).unwrap_or(0)
        }
        _ => 0,
    }
}

/// `cast.ToFloat64`.
pub fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => *b as i64 as f64,
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Sprig's `empty`: the zero value of its type (nil, false, 0, "", empty
/// list or map).
pub fn is_empty(v: &Value) -> bool {
    !v.truthy()
}

/// Converts the coalesced values into `.Values`: floats stay `float64`,
/// integers (only `set` makes them) are `int64`, as from `--set`.
pub fn from_values(v: serde_json::Value) -> Value {
    // Taken, not borrowed: the keys move into the template's maps.
    match v {
        serde_json::Value::Number(n) if !n.is_f64() => match n.as_i64() {
            Some(i) => Value::Int64(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::Array(a) => Value::list(a.into_iter().map(from_values).collect()),
        serde_json::Value::Object(o) => Value::map(o.into_iter().map(|(k, v)| (k, from_values(v))).collect()),
        v => from_json(&v),
    }
}

/// Converts a JSON value (parsed YAML or JSON) into a template value:
/// numbers become `float64`, as Helm's values do.
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::str(s.as_str()),
        serde_json::Value::Array(a) => Value::list(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => Value::map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    }
}
