//! Sprig's list and dict functions. Dicts are Go maps: `set`, `unset`,
//! `merge` and `mergeOverwrite` change the map they are given.

use std::collections::BTreeMap;

use super::{FR, arity, at_least, is_empty, list_arg, map_arg, string, strval, to_i64};
use crate::template::{Funcs, Map, Value};

fn list_of(v: &Value, name: &str) -> Result<Vec<Value>, crate::template::FnError> {
    match v {
        Value::List(l) => Ok(l.to_vec()),
        Value::Nil => Ok(Vec::new()),
        v => Err(format!("Cannot find {name} on type {}", v.type_name()).into()),
    }
}

pub fn register(f: &mut Funcs) {
    f.insert("list", |_, a| Ok(Value::list(a)));
    f.insert("tuple", |_, a| Ok(Value::list(a)));
    for name in ["append", "push", "mustAppend", "mustPush"] {
        f.insert(name, |_, a| {
            arity(&a, 2, "append")?;
            let mut l = list_of(&a[0], "append")?;
            l.push(a[1].clone());
            Ok(Value::list(l))
        });
    }
    for name in ["prepend", "mustPrepend"] {
        f.insert(name, |_, a| {
            arity(&a, 2, "prepend")?;
            let mut l = vec![a[1].clone()];
            l.extend(list_of(&a[0], "prepend")?);
            Ok(Value::list(l))
        });
    }
    f.insert("concat", |_, a| {
        let mut out = Vec::new();
        for l in &a {
            out.extend(list_of(l, "concat")?);
        }
        Ok(Value::list(out))
    });
    for name in ["first", "mustFirst"] {
        f.insert(name, |_, a| Ok(list_of(&a[0], "first")?.first().cloned().unwrap_or_default()));
    }
    for name in ["last", "mustLast"] {
        f.insert(name, |_, a| Ok(list_of(&a[0], "last")?.last().cloned().unwrap_or_default()));
    }
    for name in ["rest", "mustRest"] {
        f.insert(name, |_, a| {
            let l = list_of(&a[0], "rest")?;
            Ok(if l.is_empty() { Value::Nil } else { Value::list(l[1..].to_vec()) })
        });
    }
    for name in ["initial", "mustInitial"] {
        f.insert(name, |_, a| {
            let l = list_of(&a[0], "initial")?;
            Ok(if l.is_empty() { Value::Nil } else { Value::list(l[..l.len() - 1].to_vec()) })
        });
    }
    for name in ["reverse", "mustReverse"] {
        f.insert(name, |_, a| {
            let mut l = list_of(&a[0], "reverse")?;
            l.reverse();
            Ok(Value::list(l))
        });
    }
    for name in ["uniq", "mustUniq"] {
        f.insert(name, |_, a| {
            let mut out: Vec<Value> = Vec::new();
            for v in list_of(&a[0], "uniq")? {
                if !out.iter().any(|o| o.deep_eq(&v)) {
                    out.push(v);
                }
            }
            Ok(Value::list(out))
        });
    }
    for name in ["without", "mustWithout"] {
        f.insert(name, |_, a| {
            at_least(&a, 1, "without")?;
            let l = list_of(&a[0], "without")?;
            Ok(Value::list(l.into_iter().filter(|v| !a[1..].iter().any(|o| o.deep_eq(v))).collect()))
        });
    }
    for name in ["has", "mustHas"] {
        f.insert(name, |_, a| {
            arity(&a, 2, "has")?;
            Ok(Value::Bool(list_of(&a[1], "has")?.iter().any(|v| v.deep_eq(&a[0]))))
        });
    }
    for name in ["compact", "mustCompact"] {
        f.insert(name, |_, a| {
            Ok(Value::list(list_of(&a[0], "compact")?.into_iter().filter(|v| !is_empty(v)).collect()))
        });
    }
    for name in ["slice", "mustSlice"] {
        f.insert(name, |_, a| {
            at_least(&a, 1, "slice")?;
            if let Value::Str(s) = &a[0] {
                let start = a.get(1).map_or(0, to_i64) as usize;
                let end = a.get(2).map_or(s.len() as i64, to_i64) as usize;
                return s
                    .get(start..end)
                    .map(Value::str)
                    .ok_or_else(|| format!("slice index out of range [{start}:{end}]").into());
            }
            let l = list_of(&a[0], "slice")?;
            let start = a.get(1).map_or(0, to_i64) as usize;
            let end = a.get(2).map_or(l.len() as i64, to_i64) as usize;
            if start > end || end > l.len() {
                return Err(format!("slice bounds out of range [{start}:{end}] with capacity {}", l.len()).into());
            }
            Ok(Value::list(l[start..end].to_vec()))
        });
    }
    f.insert("chunk", |_, a| {
        arity(&a, 2, "chunk")?;
        let size = super::int(&a, 0)?.max(1) as usize;
        let l = list_of(&a[1], "chunk")?;
        Ok(Value::list(l.chunks(size).map(|c| Value::list(c.to_vec())).collect()))
    });
    f.insert("dict", |_, a| {
        let mut m = BTreeMap::new();
        for pair in a.chunks(2) {
            m.insert(strval(&pair[0]), pair.get(1).cloned().unwrap_or_default());
        }
        Ok(Value::map(m))
    });
    f.insert("get", |_, a| {
        arity(&a, 2, "get")?;
        Ok(map_arg(&a, 0)?.borrow().get(string(&a, 1)?).cloned().unwrap_or(Value::str("")))
    });
    f.insert("set", |_, a| {
        arity(&a, 3, "set")?;
        let m = map_arg(&a, 0)?;
        m.borrow_mut().insert(string(&a, 1)?.to_string(), a[2].clone());
        Ok(Value::Map(m))
    });
    f.insert("unset", |_, a| {
        arity(&a, 2, "unset")?;
        let m = map_arg(&a, 0)?;
        m.borrow_mut().remove(string(&a, 1)?);
        Ok(Value::Map(m))
    });
    f.insert("hasKey", |_, a| {
        arity(&a, 2, "hasKey")?;
        Ok(Value::Bool(map_arg(&a, 0)?.borrow().contains_key(string(&a, 1)?)))
    });
    f.insert("pluck", |_, a| {
        at_least(&a, 1, "pluck")?;
        let key = string(&a, 0)?;
        let mut out = Vec::new();
        for (i, _) in a.iter().enumerate().skip(1) {
            if let Some(v) = map_arg(&a, i)?.borrow().get(key) {
                out.push(v.clone());
            }
        }
        Ok(Value::list(out))
    });
    f.insert("keys", |_, a| {
        let mut out = Vec::new();
        for i in 0..a.len() {
            out.extend(map_arg(&a, i)?.borrow().keys().map(|k| Value::str(k.as_str())));
        }
        Ok(Value::list(out))
    });
    f.insert("values", |_, a| {
        arity(&a, 1, "values")?;
        Ok(Value::list(map_arg(&a, 0)?.borrow().values().cloned().collect()))
    });
    f.insert("pick", |_, a| {
        at_least(&a, 1, "pick")?;
        let m = map_arg(&a, 0)?;
        let m = m.borrow();
        let keys: Vec<String> = a[1..].iter().map(strval).collect();
        Ok(Value::map(m.iter().filter(|(k, _)| keys.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()))
    });
    f.insert("omit", |_, a| {
        at_least(&a, 1, "omit")?;
        let m = map_arg(&a, 0)?;
        let m = m.borrow();
        let keys: Vec<String> = a[1..].iter().map(strval).collect();
        Ok(Value::map(m.iter().filter(|(k, _)| !keys.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()))
    });
    for name in ["merge", "mustMerge"] {
        f.insert(name, |_, a| merge_all(a, false));
    }
    for name in ["mergeOverwrite", "mustMergeOverwrite"] {
        f.insert(name, |_, a| merge_all(a, true));
    }
    for name in ["deepCopy", "mustDeepCopy"] {
        f.insert(name, |_, a| {
            arity(&a, 1, "deepCopy")?;
            Ok(a[0].deep_copy())
        });
    }
    f.insert("dig", |_, a| {
        at_least(&a, 3, "dig")?;
        let n = a.len();
        let mut cur = Value::Map(map_arg(&a, n - 1)?);
        for k in &a[..n - 2] {
            let key = strval(k);
            let next = match &cur {
                Value::Map(m) => m.borrow().get(&key).cloned(),
                _ => None,
            };
            match next {
                Some(v) => cur = v,
                None => return Ok(a[n - 2].clone()),
            }
        }
        Ok(cur)
    });
    f.insert("sortAlphaList", |_, a| Ok(Value::list(list_arg(&a, 0)?.to_vec())));
}

fn merge_all(a: Vec<Value>, overwrite: bool) -> FR {
    at_least(&a, 1, "merge")?;
    let dst = map_arg(&a, 0)?;
    for src in &a[1..] {
        if let Value::Map(s) = src {
            merge_into(&dst, s, overwrite);
        }
    }
    Ok(Value::Map(dst))
}

/// mergo's `Merge` (fill what `dst` lacks or holds empty) and `WithOverride`.
fn merge_into(dst: &Map, src: &Map, overwrite: bool) {
    if std::rc::Rc::ptr_eq(dst, src) {
        return;
    }
    let src = src.borrow();
    for (k, sv) in src.iter() {
        let dv = dst.borrow().get(k).cloned();
        match (&dv, sv) {
            (Some(Value::Map(d)), Value::Map(s)) => merge_into(d, s, overwrite),
            (Some(d), _) if !overwrite && !is_empty(d) => {}
            (Some(d), Value::Map(_) | Value::List(_)) if overwrite && matches!(sv, Value::Nil) && !is_empty(d) => {}
            _ => {
                dst.borrow_mut().insert(k.clone(), sv.clone());
            }
        }
    }
}
