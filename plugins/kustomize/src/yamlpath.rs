//! Dotted field paths (`spec.containers.[name=app].image`,
//! `spec.containers[0].image`, `*`) as used by replacements and vars.

use serde_json::{Map, Value};

use crate::error::{Result, msg};

/// One segment of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    /// A map field.
    Field(String),
    /// A list element by position.
    Index(usize),
    /// List elements whose field `.0` equals `.1` (`.0` empty: scalar elements).
    Match(String, String),
    /// Every element.
    Wild,
}

/// Splits a dotted path; dots inside brackets do not split.
pub fn split(path: &str) -> Vec<Seg> {
    let mut raw = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => raw.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    raw.push(cur);
    let mut out = Vec::new();
    for r in raw {
        if r.is_empty() {
            continue;
        }
        // `containers[0]` → `containers`, `[0]`
        if !r.starts_with('[')
            && let Some(i) = r.find('[').filter(|_| r.ends_with(']'))
        {
            out.push(Seg::Field(r[..i].to_string()));
            out.push(bracket(&r[i..]));
            continue;
        }
        out.push(if r.starts_with('[') && r.ends_with(']') {
            bracket(&r)
        } else if r == "*" {
            Seg::Wild
        } else {
            Seg::Field(r)
        });
    }
    out
}

fn bracket(s: &str) -> Seg {
    let inner = &s[1..s.len() - 1];
    if let Some((k, v)) = inner.split_once('=') {
        Seg::Match(k.to_string(), v.to_string())
    } else if let Ok(i) = inner.parse() {
        Seg::Index(i)
    } else {
        Seg::Field(inner.to_string())
    }
}

fn elem_matches(e: &Value, k: &str, v: &str) -> bool {
    if k.is_empty() {
        return crate::kustfile::scalar_string(e) == v;
    }
    e.get(k).is_some_and(|x| !x.is_object() && !x.is_array() && crate::kustfile::scalar_string(x) == v)
}

/// The first node at `segs`.
pub fn lookup<'a>(v: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    let Some((s, rest)) = segs.split_first() else { return Some(v) };
    match (s, v) {
        (Seg::Field(f), Value::Object(m)) => lookup(m.get(f)?, rest),
        (Seg::Field(f), Value::Array(a)) => {
            f.parse::<usize>().ok().and_then(|i| a.get(i)).and_then(|x| lookup(x, rest))
        }
        (Seg::Index(i), Value::Array(a)) => lookup(a.get(*i)?, rest),
        (Seg::Match(k, val), Value::Array(a)) => {
            a.iter().find(|e| elem_matches(e, k, val)).and_then(|x| lookup(x, rest))
        }
        (Seg::Wild, Value::Array(a)) => a.iter().find_map(|x| lookup(x, rest)),
        _ => None,
    }
}

/// Calls `f` on every node at `segs`, creating missing map fields and
/// `[k=v]` elements when `create` is set. Returns how many nodes were visited.
pub fn visit_mut(
    v: &mut Value,
    segs: &[Seg],
    create: Option<&Value>,
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<usize> {
    let Some((s, rest)) = segs.split_first() else {
        f(v)?;
        return Ok(1);
    };
    let new_child = || if rest.is_empty() { create.cloned().unwrap_or(Value::Null) } else { container_for(&rest[0]) };
    match s {
        Seg::Field(name) => {
            if v.is_null() && create.is_some() && name.parse::<usize>().is_ok() {
                *v = Value::Array(Vec::new());
            }
            if let Value::Array(a) = v {
                if let Ok(i) = name.parse::<usize>() {
                    if i == a.len() && create.is_some() {
                        a.push(new_child());
                    }
                    return match a.get_mut(i) {
                        Some(x) => visit_mut(x, rest, create, f),
                        None => Ok(0),
                    };
                }
                return Ok(0);
            }
            if v.is_null() && create.is_some() {
                *v = Value::Object(Map::new());
            }
            let Value::Object(m) = v else { return Ok(0) };
            if !m.contains_key(name) {
                if create.is_none() {
                    return Ok(0);
                }
                m.insert(name.clone(), new_child());
            }
            visit_mut(m.get_mut(name).expect("present"), rest, create, f)
        }
        Seg::Index(i) => match v {
            Value::Array(a) => match a.get_mut(*i) {
                Some(x) => visit_mut(x, rest, create, f),
                None => Ok(0),
            },
            _ => Ok(0),
        },
        Seg::Match(k, val) => {
            if v.is_null() && create.is_some() {
                *v = Value::Array(Vec::new());
            }
            let Value::Array(a) = v else { return Ok(0) };
            let mut n = 0;
            for e in a.iter_mut().filter(|e| elem_matches(e, k, val)) {
                n += visit_mut(e, rest, create, f)?;
            }
            if n == 0 && create.is_some() && !k.is_empty() && !a.iter().any(|e| elem_matches(e, k, val)) {
                let mut m = Map::new();
                m.insert(k.clone(), Value::String(val.clone()));
                a.push(Value::Object(m));
                let last = a.last_mut().expect("pushed");
                n += visit_mut(last, rest, create, f)?;
            }
            Ok(n)
        }
        Seg::Wild => {
            let mut n = 0;
            match v {
                Value::Array(a) => {
                    for e in a.iter_mut() {
                        n += visit_mut(e, rest, create, f)?;
                    }
                }
                Value::Object(m) => {
                    for (_, e) in m.iter_mut() {
                        n += visit_mut(e, rest, create, f)?;
                    }
                }
                _ => return Err(msg("wildcard on a scalar")),
            }
            Ok(n)
        }
    }
}

fn container_for(s: &Seg) -> Value {
    match s {
        Seg::Field(n) if n.parse::<usize>().is_ok() => Value::Array(Vec::new()),
        Seg::Field(_) => Value::Object(Map::new()),
        _ => Value::Array(Vec::new()),
    }
}
