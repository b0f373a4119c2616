//! `replacements` and the `ReplacementTransformer`: copy a field of one
//! object into fields of others, with delimiter/index and create options.

use capstan_plugin::yaml::resolve_plain;
use serde_json::Value;

use crate::error::{Result, msg};
use crate::kustfile::scalar_string;
use crate::resource::{Gvk, ResId, Resource};
use crate::yamlpath;

fn sel_str<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Whether any id of `r` is selected by a replacement selector.
fn id_selected(id: &ResId, sel: &Value) -> bool {
    let (mut group, mut version) = (sel_str(sel, "group").to_string(), sel_str(sel, "version").to_string());
    if let Some(av) = sel.get("apiVersion").and_then(Value::as_str) {
        let g = Gvk::from_api(av, "");
        group = g.group;
        version = g.version;
    }
    let want = Gvk { group, version, kind: sel_str(sel, "kind").to_string() };
    let name = sel_str(sel, "name");
    let ns = sel_str(sel, "namespace");
    id.gvk.selected_by(&want)
        && (name.is_empty() || name == id.name)
        && (ns.is_empty() || ns == id.effective_ns() || ns == id.namespace)
}

fn selected(r: &Resource, sel: &Value) -> Result<bool> {
    let labels = sel_str(sel, "labelSelector");
    if !labels.is_empty() && !crate::selector::label_match(labels, &r.labels())? {
        return Ok(false);
    }
    let annos = sel_str(sel, "annotationSelector");
    if !annos.is_empty() && !crate::selector::label_match(annos, &r.annotations())? {
        return Ok(false);
    }
    Ok(r.all_ids().any(|id| id_selected(&id, sel)))
}

fn options(v: Option<&Value>) -> (String, i64, bool) {
    let Some(o) = v else { return (String::new(), 0, false) };
    (
        sel_str(o, "delimiter").to_string(),
        o.get("index").and_then(Value::as_i64).unwrap_or(0),
        o.get("create").and_then(Value::as_bool).unwrap_or(false),
    )
}

/// Applies one replacement.
pub fn apply(res: &mut [Resource], rep: &Value) -> Result<()> {
    let source = rep
        .get("source")
        .filter(|_| rep.get("targets").and_then(Value::as_array).is_some_and(|t| !t.is_empty()))
        .ok_or_else(|| msg("replacements must specify a source and at least one target"))?;
    let mut hits = Vec::new();
    for (i, r) in res.iter().enumerate() {
        if selected(r, source)? {
            hits.push(i);
        }
    }
    let src = match hits.as_slice() {
        [i] => &res[*i],
        [] => return Err(msg(format!("nothing selected by {}", short(source)))),
        _ => return Err(msg(format!("multiple matches for selector {}", short(source)))),
    };
    let fp = source.get("fieldPath").and_then(Value::as_str).unwrap_or("metadata.name");
    let mut value = yamlpath::lookup(&src.obj, &yamlpath::split(fp))
        .filter(|v| !v.is_null())
        .cloned()
        .ok_or_else(|| msg(format!("fieldPath `{fp}` is missing for replacement source {}", short(source))))?;
    let (delim, index, _) = options(source.get("options"));
    if !delim.is_empty() {
        if value.is_object() || value.is_array() {
            return Err(msg("delimiter option can only be used with scalar nodes"));
        }
        let s = scalar_string(&value);
        let parts: Vec<&str> = s.split(delim.as_str()).collect();
        if index < 0 || index as usize >= parts.len() {
            return Err(msg(format!("options.index {index} is out of bounds for value {s}")));
        }
        value = Value::String(parts[index as usize].to_string());
    }
    let targets = rep.get("targets").and_then(Value::as_array).cloned().unwrap_or_default();
    for t in &targets {
        let sel = t.get("select").ok_or_else(|| msg("target must specify resources to select"))?;
        let rejects = t.get("reject").and_then(Value::as_array).cloned().unwrap_or_default();
        let paths: Vec<String> = match t.get("fieldPaths").and_then(Value::as_array) {
            Some(a) if !a.is_empty() => a.iter().map(scalar_string).collect(),
            _ => vec!["metadata.name".into()],
        };
        let (delim, index, create) = options(t.get("options"));
        for r in res.iter_mut() {
            if !selected(r, sel)? {
                continue;
            }
            let mut rejected = false;
            for rj in &rejects {
                if selected(r, rj)? {
                    rejected = true;
                }
            }
            if rejected {
                continue;
            }
            for p in &paths {
                let segs = yamlpath::split(p);
                let create_v =
                    create.then(|| if value.is_object() || value.is_array() { value.clone() } else { Value::Null });
                let n = yamlpath::visit_mut(&mut r.obj, &segs, create_v.as_ref(), &mut |node| {
                    set_value(node, &value, &delim, index)
                })?;
                if n == 0 {
                    return Err(msg(if create {
                        format!("unable to find or create field \"{p}\" in replacement target")
                    } else {
                        format!("unable to find field \"{p}\" in replacement target")
                    }));
                }
            }
        }
    }
    Ok(())
}

/// A selector as kustomize prints it (`Kind.version.group/name.namespace`).
fn short(v: &Value) -> String {
    let or = |k: &str, d: &str| {
        let s = sel_str(v, k);
        if s.is_empty() { d.to_string() } else { s.to_string() }
    };
    format!(
        "{}.{}.{}/{}.{}",
        or("kind", "[noKind]"),
        or("version", "[noVer]"),
        or("group", "[noGrp]"),
        or("name", "[noName]"),
        or("namespace", "[noNs]")
    )
}

fn set_value(node: &mut Value, value: &Value, delim: &str, index: i64) -> Result<()> {
    let mut value = value.clone();
    if !delim.is_empty() {
        if node.is_object() || node.is_array() {
            return Err(msg("delimiter option can only be used with scalar nodes"));
        }
        let cur = scalar_string(node);
        let mut parts: Vec<String> = cur.split(delim).map(String::from).collect();
        let v = scalar_string(&value);
        if index < 0 {
            parts.insert(0, v);
        } else if index as usize >= parts.len() {
            parts.push(v);
        } else {
            parts[index as usize] = v;
        }
        value = Value::String(parts.join(delim));
    }
    let is_scalar = |v: &Value| !v.is_object() && !v.is_array();
    if is_scalar(node) && is_scalar(&value) {
        // Scalars keep their type when the text allows it (kyaml copies the value, not the tag).
        let s = scalar_string(&value);
        *node = match node {
            Value::String(_) => Value::String(s),
            Value::Number(_) => match resolve_plain(&s) {
                n @ Value::Number(_) => n,
                _ => Value::String(s),
            },
            Value::Bool(_) => match resolve_plain(&s) {
                b @ Value::Bool(_) => b,
                _ => Value::String(s),
            },
            _ => {
                if value.is_string() {
                    resolve_plain(&s)
                } else {
                    value
                }
            }
        };
    } else {
        *node = value;
    }
    Ok(())
}
