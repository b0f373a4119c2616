//! JSON 6902 patches (`add`, `remove`, `replace`, `move`, `copy`, `test`)
//! over JSON pointers, with evanphx/json-patch's behaviour on edge cases.

use serde_json::Value;

use crate::error::{Result, msg};

/// One JSON pointer reference token, unescaped (`~1` is `/`, `~0` is `~`).
pub(crate) fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

fn parse_ptr(p: &str) -> Result<Vec<String>> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let rest = p.strip_prefix('/').ok_or_else(|| msg(format!("invalid JSON pointer '{p}'")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn index(seg: &str, len: usize, for_add: bool) -> Result<usize> {
    if seg == "-" && for_add {
        return Ok(len);
    }
    let i: i64 = seg.parse().map_err(|_| msg(format!("invalid array index '{seg}'")))?;
    let i = if i < 0 { len as i64 + i } else { i };
    let max = if for_add { len } else { len.saturating_sub(1) };
    if i < 0 || i as usize > max || (!for_add && len == 0) {
        return Err(msg(format!("array index {seg} out of bounds")));
    }
    Ok(i as usize)
}

fn parent<'a>(doc: &'a mut Value, path: &[String], full: &str) -> Result<&'a mut Value> {
    let mut cur = doc;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(seg).ok_or_else(|| msg(format!("doc is missing path: {full}")))?,
            Value::Array(a) => {
                let len = a.len();
                let i = index(seg, len, false)?;
                &mut a[i]
            }
            _ => return Err(msg(format!("doc is missing path: {full}"))),
        };
    }
    Ok(cur)
}

fn get(doc: &Value, path: &[String], full: &str) -> Result<Value> {
    let mut cur = doc;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get(seg).ok_or_else(|| msg(format!("doc is missing path: {full}")))?,
            Value::Array(a) => &a[index(seg, a.len(), false)?],
            _ => return Err(msg(format!("doc is missing path: {full}"))),
        };
    }
    Ok(cur.clone())
}

fn add(doc: &mut Value, path: &[String], v: Value, full: &str) -> Result<()> {
    let Some((last, init)) = path.split_last() else {
        *doc = v;
        return Ok(());
    };
    match parent(doc, init, full)? {
        Value::Object(m) => {
            m.insert(last.clone(), v);
        }
        Value::Array(a) => {
            let i = index(last, a.len(), true)?;
            a.insert(i, v);
        }
        _ => return Err(msg(format!("add operation does not apply: doc is missing path: {full}"))),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &[String], full: &str) -> Result<Value> {
    let Some((last, init)) = path.split_last() else {
        return Err(msg("cannot remove the whole document"));
    };
    match parent(doc, init, full)? {
        Value::Object(m) => m
            .shift_remove(last)
            .ok_or_else(|| msg(format!("remove operation does not apply: doc is missing path: \"{full}\""))),
        Value::Array(a) => {
            let i = index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err(msg(format!("remove operation does not apply: doc is missing path: \"{full}\""))),
    }
}

/// Applies a list of operations to `doc`.
pub fn apply(doc: &mut Value, ops: &[Value]) -> Result<()> {
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path_s = op.get("path").and_then(Value::as_str).unwrap_or("");
        let path = parse_ptr(path_s)?;
        let from = || -> Result<Vec<String>> { parse_ptr(op.get("from").and_then(Value::as_str).unwrap_or("")) };
        let value = || op.get("value").cloned().unwrap_or(Value::Null);
        match kind {
            "add" => add(doc, &path, value(), path_s)?,
            "remove" => {
                remove(doc, &path, path_s)?;
            }
            "replace" => {
                get(doc, &path, path_s)
                    .map_err(|_| msg(format!("replace operation does not apply: doc is missing key: {path_s}")))?;
                if path.is_empty() {
                    *doc = value();
                } else {
                    *parent(doc, &path, path_s)? = value();
                }
            }
            "move" => {
                let f = from()?;
                let v = remove(doc, &f, path_s)?;
                add(doc, &path, v, path_s)?;
            }
            "copy" => {
                let v = get(doc, &from()?, path_s)?;
                add(doc, &path, v, path_s)?;
            }
            "test" => {
                let v = get(doc, &path, path_s)?;
                if v != value() {
                    return Err(msg(format!("testing value {path_s} failed")));
                }
            }
            other => return Err(msg(format!("unexpected JSON patch op '{other}'"))),
        }
    }
    Ok(())
}
