//! Name references: after prefixes, suffixes, namespaces and hashes changed
//! ids, every field that names another object (per the `nameReference`
//! config) is updated to the referent's new name (and namespace).

use serde_json::Value;

use crate::config::Config;
use crate::error::{Result, msg};
use crate::fieldspec::{self, Create, FieldSpec};
use crate::resource::{Gvk, ResId, Resource};

struct Cand<'a> {
    past: &'a [ResId],
    cur: &'a ResId,
    prefixes: &'a [String],
    suffixes: &'a [String],
}

struct Referrer<'a> {
    cur: &'a ResId,
    prefixes: &'a [String],
    suffixes: &'a [String],
    rb_namespaces: Vec<String>,
}

fn ns_equal(a: &ResId, b: &ResId) -> bool {
    a.effective_ns() == b.effective_ns()
}

/// Candidates, indexed by every name they had.
struct Cands<'a> {
    list: Vec<Cand<'a>>,
    by_name: std::collections::HashMap<&'a str, Vec<usize>>,
}

fn select<'c, 'a>(
    cands: &'c Cands<'a>,
    old: &str,
    target: &Gvk,
    role_kind: Option<&str>,
    referrer: &Referrer,
    ns_filter: Option<&str>,
    is_map: bool,
) -> Result<Option<&'c Cand<'a>>> {
    let Some(named) = cands.by_name.get(old) else { return Ok(None) };
    let mut c: Vec<&Cand> = named
        .iter()
        .map(|i| &cands.list[*i])
        .filter(|c| could_be_referenced(c, referrer))
        .filter(|c| c.past.iter().any(|id| id.gvk.selected_by(target)))
        .filter(|c| role_kind.is_none_or(|k| c.past.iter().any(|id| id.gvk.kind == k)))
        .filter(|c| {
            ns_filter.is_none_or(|ns| {
                c.past
                    .iter()
                    .chain([c.cur])
                    .any(|id| id.namespace == ns || (ns == "default" && id.namespace.is_empty()))
            })
        })
        .collect();
    if !referrer.cur.gvk.namespaced() {
        // cluster-scoped referrers may point anywhere
    } else {
        c.retain(|x| !x.cur.gvk.namespaced() || x.cur.gvk.kind == "ServiceAccount" || ns_equal(x.cur, referrer.cur));
    }
    if c.len() == 1 {
        return Ok(Some(c[0]));
    }
    c.retain(|x| same_ending(x.prefixes, referrer.prefixes) && same_ending(x.suffixes, referrer.suffixes));
    match c.len() {
        0 => Ok(None),
        1 => Ok(Some(c[0])),
        _ => {
            let same =
                c.iter().all(|x| x.cur.name == c[0].cur.name && (!is_map || x.cur.namespace == c[0].cur.namespace));
            if same {
                Ok(Some(c[0]))
            } else {
                let ids: Vec<String> = c.iter().map(|x| x.cur.to_string()).collect();
                Err(msg(format!("found multiple possible referrals: {}", ids.join(", "))))
            }
        }
    }
}

/// kustomize's `SameEndingSubSlice`: one stack ends like the other (two
/// empty stacks match; an empty and a non-empty one do not).
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}

fn could_be_referenced(c: &Cand, r: &Referrer) -> bool {
    if !r.cur.gvk.namespaced() || !c.cur.gvk.namespaced() || ns_equal(c.cur, r.cur) {
        return true;
    }
    r.rb_namespaces.contains(&c.cur.namespace)
}

/// Updates every name reference.
pub fn fix(res: &mut [Resource], config: &Config) -> Result<()> {
    // The objects are edited while every resource's ids stay readable as
    // candidates: take them out for the duration.
    let ids: Vec<ResId> = res.iter().map(Resource::id).collect();
    let mut objs: Vec<Value> = res.iter_mut().map(|r| std::mem::take(&mut r.obj)).collect();
    let fixed = fix_objects(res, &ids, &mut objs, config);
    for (r, obj) in res.iter_mut().zip(objs) {
        r.obj = obj;
    }
    fixed
}

/// [`fix`] on `objs`, the objects of `res` (whose ids are `ids`).
fn fix_objects(res: &[Resource], ids: &[ResId], objs: &mut [Value], config: &Config) -> Result<()> {
    let list: Vec<Cand> = res
        .iter()
        .zip(ids)
        .map(|(r, cur)| Cand { past: &r.prev, cur, prefixes: &r.prefixes, suffixes: &r.suffixes })
        .collect();
    // Only objects whose id changed can need their referrers fixed
    // (kustomize matches previous ids only).
    let mut by_name: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, c) in list.iter().enumerate() {
        let mut names: Vec<&str> = c.past.iter().map(|id| id.name.as_str()).collect();
        names.dedup();
        for n in names {
            let v = by_name.entry(n).or_default();
            if v.last() != Some(&i) {
                v.push(i);
            }
        }
    }
    let cands = Cands { list, by_name };
    let targets: Vec<Gvk> = config.name_reference.iter().map(|nr| nr.gvk()).collect();
    // The (referent, field spec) pairs for each referrer kind, found once
    // per kind rather than once per object.
    let mut specs_by_kind: Vec<(&Gvk, Vec<(usize, &FieldSpec)>)> = Vec::new();
    for ((r, cur), obj) in res.iter().zip(ids).zip(objs) {
        let org = &r.prev.first().unwrap_or(cur).gvk;
        let specs = match specs_by_kind.iter().position(|(g, _)| *g == org) {
            Some(k) => k,
            None => {
                let specs = config
                    .name_reference
                    .iter()
                    .enumerate()
                    .flat_map(|(t, nr)| nr.field_specs.iter().map(move |fs| (t, fs)))
                    .filter(|(_, fs)| fs.applies_to(org))
                    .collect();
                specs_by_kind.push((org, specs));
                specs_by_kind.len() - 1
            }
        };
        let specs = &specs_by_kind[specs].1;
        let rb_namespaces: Vec<String> = if cur.gvk.kind == "RoleBinding" {
            obj.get("subjects")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|s| s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
                        .filter_map(|s| s.get("namespace").and_then(Value::as_str).map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let referrer = Referrer { cur, prefixes: &r.prefixes, suffixes: &r.suffixes, rb_namespaces };
        let role_kind = crate::resource::str_at(obj, &["roleRef", "kind"]).to_string();
        for (t, fs) in specs {
            let role = fs.path.ends_with("roleRef/name").then_some(role_kind.as_str());
            fieldspec::apply_path(obj, &fs.path, false, Create::Scalar, &mut |node| {
                set_node(node, &cands, &targets[*t], role, &referrer)
            })?;
        }
    }
    Ok(())
}

fn set_node(node: &mut Value, cands: &Cands, target: &Gvk, role: Option<&str>, r: &Referrer) -> Result<()> {
    match node {
        Value::String(s) => {
            if let Some(c) = select(cands, s, target, role, r, None, false)? {
                *s = c.cur.name.clone();
            }
        }
        Value::Object(m) => {
            let Some(old) = m.get("name").and_then(Value::as_str).map(String::from) else {
                return Ok(());
            };
            if m.get("kind").and_then(Value::as_str).is_some_and(|k| k != target.kind) {
                return Ok(());
            }
            if m.get("namespace").is_some_and(|n| n.as_str().is_none_or(str::is_empty)) {
                return Err(msg(format!("Invalid Input: namespace is blank for resource \"{}\"", r.cur)));
            }
            let ns = m.get("namespace").and_then(Value::as_str).map(String::from);
            if let Some(c) = select(cands, &old, target, role, r, ns.as_deref(), true)? {
                if c.cur.name == old && c.cur.namespace.is_empty() {
                    return Ok(());
                }
                m.insert("name".into(), Value::String(c.cur.name.clone()));
                if !c.cur.namespace.is_empty() {
                    m.insert("namespace".into(), Value::String(c.cur.namespace.clone()));
                }
            }
        }
        Value::Array(items) => {
            for it in items {
                set_node(it, cands, target, role, r)?;
            }
        }
        _ => {}
    }
    Ok(())
}
