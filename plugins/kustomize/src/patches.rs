//! Patches: `patches` (SMP or JSON 6902, optional `target`),
//! `patchesStrategicMerge` and `patchesJson6902`, and their plugins.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Error, Result, msg};
use capstan_plugin::yaml::Rules;

use crate::resource::{Gvk, ResId, Resource, read_yaml, str_at};
use crate::selector::Selector;
use crate::smp::{self, Outcome};
use crate::target::Ctx;

/// A loaded patch.
pub enum Loaded {
    /// Strategic merge patch documents.
    Smp(Vec<Value>),
    /// JSON 6902 operations.
    Json(Vec<Value>),
}

/// Reads a patch given inline or as a file path.
pub fn load(ctx: &Ctx, field: &str, path: Option<&str>, inline: Option<&str>) -> Result<(Loaded, String)> {
    let (text, name) = match (path, inline) {
        (Some(p), None) => {
            let (full, text) = ctx.read(field, p)?;
            (text, crate::fs::show(&full))
        }
        (None, Some(t)) => (t.to_string(), format!("{} (inline patch)", ctx.file)),
        (Some(_), Some(_)) => {
            return Err(Error::field(&ctx.file, field, "patch and path can't be set at the same time"));
        }
        (None, None) => {
            return Err(Error::field(
                &ctx.file,
                field,
                "must specify one of patch and path (empty file path and empty jsonOp)",
            ));
        }
    };
    let docs = read_patch(&text, &name).map_err(|e| e.within(&ctx.file, field))?;
    if docs.is_empty() {
        return Err(Error::field(&ctx.file, field, format!("patch appears to be empty: '{name}'")));
    }
    if docs.len() == 1 && docs[0].is_array() {
        let ops = docs[0].as_array().cloned().unwrap_or_default();
        return Ok((Loaded::Json(ops), name));
    }
    if docs.iter().any(|d| !d.is_object()) {
        return Err(Error::field(&ctx.file, field, format!("unable to parse SM or JSON patch from '{name}'")));
    }
    Ok((Loaded::Smp(docs), name))
}

/// A patch's documents as kustomize reads them: a strategic-merge patch as
/// a resource (kyaml), a JSON 6902 patch with sigs.k8s.io/yaml.
fn read_patch(text: &str, name: &str) -> Result<Vec<Value>> {
    let smp = read_yaml(text, name, Rules::Kustomize);
    match &smp {
        Ok(docs) if !(docs.len() == 1 && docs[0].is_array()) => smp,
        _ => match read_yaml(text, name, Rules::Kubectl) {
            Ok(docs) if docs.len() == 1 && docs[0].is_array() => Ok(docs),
            Ok(_) => smp,
            Err(e) => smp.and(Err(e)),
        },
    }
}

fn patch_id(p: &Value) -> ResId {
    ResId {
        gvk: Gvk::from_api(str_at(p, &["apiVersion"]), str_at(p, &["kind"])),
        name: str_at(p, &["metadata", "name"]).to_string(),
        namespace: str_at(p, &["metadata", "namespace"]).to_string(),
    }
}

/// Applies one SMP document to a resource; `false` when it deletes it.
pub fn apply_smp(r: &mut Resource, patch: &Value, allow_name: bool, allow_kind: bool) -> Result<bool> {
    let (name, ns, kind) = (r.name().to_string(), r.namespace().to_string(), str_at(&r.obj, &["kind"]).to_string());
    let api = r.obj.get("apiVersion").cloned();
    if allow_name || allow_kind {
        r.remember_id();
    }
    // Like kyaml, take the schema of the object, else of the patch.
    let patch_gvk = Gvk::from_api(str_at(patch, &["apiVersion"]), str_at(patch, &["kind"]));
    let ty = crate::schema::root(&r.gvk()).or_else(|| crate::schema::root(&patch_gvk));
    smp::clear_empty_values(&mut r.obj, &mut r.empty_values, &ty);
    smp::normalize(&mut r.obj, &ty);
    if smp::merge(&mut r.obj, patch, &ty)? == Outcome::Delete {
        return Ok(false);
    }
    if r.obj.as_object().is_none_or(|m| m.is_empty()) {
        return Ok(false);
    }
    if !allow_kind {
        crate::resource::set_at(&mut r.obj, &["kind"], Value::String(kind));
        if let Some(api) = api {
            crate::resource::set_at(&mut r.obj, &["apiVersion"], api);
        }
    }
    if !allow_name {
        crate::resource::set_at(&mut r.obj, &["metadata", "name"], Value::String(name));
    }
    if ns.is_empty() {
        if let Some(m) = r.obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("namespace");
        }
    } else {
        crate::resource::set_at(&mut r.obj, &["metadata", "namespace"], Value::String(ns));
    }
    Ok(true)
}

fn find_by_id(res: &[Resource], id: &ResId) -> Result<usize> {
    let hits: Vec<usize> = (0..res.len()).filter(|i| res[*i].had(id)).collect();
    match hits.as_slice() {
        [i] => Ok(*i),
        [] => {
            // Fall back on the name and kind alone (a patch without group/version).
            let loose: Vec<usize> = (0..res.len())
                .filter(|i| {
                    res[*i].all_ids().any(|x| {
                        x.name == id.name
                            && x.gvk.kind == id.gvk.kind
                            && (id.gvk.version.is_empty() || x.gvk.version == id.gvk.version)
                            && (id.gvk.group.is_empty() || x.gvk.group == id.gvk.group)
                            && x.effective_ns() == id.effective_ns()
                    })
                })
                .collect();
            match loose.as_slice() {
                [i] => Ok(*i),
                [] => Err(msg(format!(
                    "no resource matches strategic merge patch \"{id}\": failed to find unique target for patch {id}"
                ))),
                _ => Err(msg(format!("multiple matches for Id {id}; failed to find unique target for patch {id}"))),
            }
        }
        _ => Err(msg(format!("multiple matches for Id {id}; failed to find unique target for patch {id}"))),
    }
}

/// Applies SMP documents to the objects they name.
pub fn apply_smp_by_id(res: &mut Vec<Resource>, docs: &[Value], allow_name: bool, allow_kind: bool) -> Result<()> {
    for d in docs {
        let id = patch_id(d);
        let i = find_by_id(res, &id)?;
        if !apply_smp(&mut res[i], d, allow_name, allow_kind)? {
            res.remove(i);
        }
    }
    Ok(())
}

/// Selects the objects a `target` picks.
pub fn select(res: &[Resource], target: &Value) -> Result<Vec<usize>> {
    let mut t = target.clone();
    if let Some(m) = t.as_object_mut() {
        // `target.apiVersion`-style legacy fields are not part of the selector.
        m.retain(|k, _| {
            matches!(
                k.as_str(),
                "group" | "version" | "kind" | "name" | "namespace" | "labelSelector" | "annotationSelector"
            )
        });
    }
    let sel: Selector = serde_json::from_value(t).map_err(|e| msg(format!("invalid patch target: {e}")))?;
    let c = sel.compile()?;
    let mut out = Vec::new();
    for (i, r) in res.iter().enumerate() {
        if c.matches(r)? {
            out.push(i);
        }
    }
    Ok(out)
}

/// The `PatchTransformer`: one patch, optionally on a target selection.
pub fn patch_transformer(
    res: &mut Vec<Resource>,
    loaded: &Loaded,
    target: Option<&Value>,
    options: &BTreeMap<String, bool>,
) -> Result<()> {
    let allow_name = options.get("allowNameChange").copied().unwrap_or(false);
    let allow_kind = options.get("allowKindChange").copied().unwrap_or(false);
    match (loaded, target) {
        (Loaded::Smp(docs), None) => apply_smp_by_id(res, docs, allow_name, allow_kind),
        (Loaded::Smp(docs), Some(_)) if docs.len() > 1 => Err(msg(
            "Multiple Strategic-Merge Patches in one `patches` entry is not allowed to set `patches.target` field",
        )),
        (Loaded::Smp(docs), Some(t)) => {
            let picked = select(res, t)?;
            let mut dead = Vec::new();
            for i in picked {
                for d in docs {
                    let mut d = d.clone();
                    if let Some(m) = d.as_object_mut() {
                        // The selection, not the patch, names the object.
                        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
                            if !allow_name {
                                meta.remove("name");
                            }
                            meta.remove("namespace");
                        }
                    }
                    if !apply_smp(&mut res[i], &d, allow_name, allow_kind)? {
                        dead.push(i);
                        break;
                    }
                }
            }
            dead.sort_unstable();
            for i in dead.into_iter().rev() {
                res.remove(i);
            }
            Ok(())
        }
        (Loaded::Json(_), None) => Err(msg("must specify a target for JSON patch")),
        (Loaded::Json(ops), Some(t)) => {
            for i in select(res, t)? {
                let r = &mut res[i];
                if allow_name || allow_kind {
                    r.remember_id();
                }
                let before = r.id();
                crate::json6902::apply(&mut r.obj, ops)?;
                if r.id() != before && r.prev.last() != Some(&before) {
                    r.prev.push(before);
                }
            }
            Ok(())
        }
    }
}
