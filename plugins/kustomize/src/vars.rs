//! Legacy `vars`: `$(NAME)` in the `varReference` fields is replaced by a
//! field of a referenced object, after names are final.

use serde::Deserialize;
use serde_json::Value;

use crate::config::Config;
use crate::error::{Result, msg};
use crate::fieldspec::{self, Create};
use crate::resource::{Gvk, Resource};

/// A `vars` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Var {
    /// Variable name.
    pub name: String,
    /// Referenced object.
    #[serde(alias = "objRef")]
    pub objref: ObjRef,
    /// Field of it.
    #[serde(alias = "fieldRef")]
    pub fieldref: FieldRef,
}

/// Object reference of a var.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ObjRef {
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub api_version: String,
    pub group: String,
    pub version: String,
}

/// Field reference of a var.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FieldRef {
    /// Dotted path; `metadata.name` when empty. (Go's JSON decoding takes
    /// `fieldPath` too: field names match case-insensitively.)
    #[serde(alias = "fieldPath")]
    pub fieldpath: String,
}

/// Binds a var to the one object its `objref` names (kustomize's `MergeVars`).
pub fn bind(res: &mut [Resource], v: &Var) -> Result<()> {
    let mut want = Gvk::from_api(&v.objref.api_version, &v.objref.kind);
    if !v.objref.group.is_empty() {
        want.group = v.objref.group.clone();
    }
    if !v.objref.version.is_empty() {
        want.version = v.objref.version.clone();
    }
    let hits: Vec<usize> = (0..res.len())
        .filter(|i| {
            res[*i].all_ids().any(|id| {
                id.gvk.selected_by(&want)
                    && id.name == v.objref.name
                    && (v.objref.namespace.is_empty()
                        || id.effective_ns() == v.objref.namespace
                        || id.namespace == v.objref.namespace)
            })
        })
        .collect();
    match hits.as_slice() {
        [i] => {
            res[*i].ref_vars.push(v.name.clone());
            Ok(())
        }
        [] => Ok(()),
        _ => Err(msg(format!("found {} resId matches for var {} (unable to disambiguate)", hits.len(), v.name))),
    }
}

fn value_of(res: &[Resource], v: &Var) -> Result<Value> {
    let r = res
        .iter()
        .find(|r| r.ref_vars.contains(&v.name))
        .ok_or_else(|| msg(format!("var '{}' cannot be mapped to a field in the set of known resources", v.name)))?;
    let path = if v.fieldref.fieldpath.is_empty() { "metadata.name" } else { &v.fieldref.fieldpath };
    crate::yamlpath::lookup(&r.obj, &crate::yamlpath::split(path))
        .cloned()
        .ok_or_else(|| msg(format!("field specified in var '{}' ({path}) not found in corresponding resource", v.name)))
}

/// Expands `$(NAME)` in `s`; a string that is only one reference takes the
/// var's typed value.
fn expand(s: &str, vals: &[(String, Value)]) -> Value {
    if let Some(inner) = s.strip_prefix("$(").and_then(|x| x.strip_suffix(')'))
        && let Some((_, v)) = vals.iter().find(|(n, _)| n == inner)
    {
        return v.clone();
    }
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            if b[i + 1] == b'('
                && let Some(end) = s[i + 2..].find(')')
            {
                let name = &s[i + 2..i + 2 + end];
                if let Some((_, v)) = vals.iter().find(|(n, _)| n == name) {
                    out.push_str(&crate::kustfile::scalar_string(v));
                } else {
                    out.push_str(&s[i..i + 3 + end]);
                }
                i += 3 + end;
                continue;
            }
        }
        let ch = s[i..].chars().next().expect("char");
        out.push(ch);
        i += ch.len_utf8();
    }
    Value::String(out)
}

fn subst(node: &mut Value, vals: &[(String, Value)]) {
    match node {
        Value::String(s) if s.contains('$') => *node = expand(s, vals),
        Value::Array(a) => a.iter_mut().for_each(|x| {
            if x.is_string() {
                subst(x, vals)
            }
        }),
        Value::Object(m) => m.iter_mut().for_each(|(_, x)| {
            if x.is_string() {
                subst(x, vals)
            }
        }),
        _ => {}
    }
}

/// Resolves every var into the `varReference` fields.
pub fn resolve(res: &mut [Resource], vars: &[Var], config: &Config) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut vals = Vec::new();
    for v in vars {
        vals.push((v.name.clone(), value_of(res, v)?));
    }
    for r in res.iter_mut() {
        let gvk = r.gvk();
        for fs in &config.var_reference {
            if !fs.applies_to(&gvk) {
                continue;
            }
            fieldspec::apply_path(&mut r.obj, &fs.path, false, Create::Scalar, &mut |node| {
                subst(node, &vals);
                Ok(())
            })?;
        }
    }
    Ok(())
}
