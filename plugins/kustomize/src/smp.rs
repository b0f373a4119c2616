//! Strategic merge patches, as kustomize's kyaml `merge2` applies them:
//! maps merge recursively, `null` deletes, lists merge by the schema's merge
//! key or are replaced (always, for kinds without a schema), and the
//! `$patch: delete|replace|merge` directive is honoured (like kyaml,
//! other `$…` keys such as `$retainKeys` are copied, not interpreted).

use capstan_plugin::yaml::PlainValue;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::schema::{self, List, TypeRef};

/// Outcome of merging into a node.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Keep the (merged) node.
    Keep,
    /// The patch deletes the node.
    Delete,
}

fn directive(m: &Map<String, Value>) -> Option<&str> {
    m.get("$patch").and_then(Value::as_str)
}

/// Removes `$patch` directives from a patch value being copied into the result.
pub fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(k, _)| *k != "$patch").map(|(k, v)| (k.clone(), strip(v))).collect())
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|x| !x.as_object().is_some_and(|m| directive(m).is_some() && m.len() == 1))
                .map(strip)
                .collect(),
        ),
        v => v.clone(),
    }
}

/// A patch value with no counterpart in the destination, as kyaml adds it:
/// without `$patch` directives and without the map fields the patch sets
/// to null (a null clears a field; there is none to clear).
fn added(v: &Value) -> Value {
    match strip(v) {
        Value::Object(m) => {
            Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, added(&v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| if x.is_object() { added(x) } else { x.clone() }).collect()),
        v => v,
    }
}

/// kyaml walks the whole destination while merging: keyed lists that hold
/// several elements with one key collapse to one (at the first position,
/// with the last element's content), even where the patch does not reach.
pub fn normalize(dest: &mut Value, ty: &TypeRef) {
    let Some(m) = dest.as_object_mut() else { return };
    if ty.is_none() {
        return;
    }
    for (k, v) in m.iter_mut() {
        let Some(f) = schema::field(ty, k) else { continue };
        match v {
            Value::Object(_) => normalize(v, &f.child),
            Value::Array(items) => {
                if let List::Map(key) = f.list {
                    // Matched as the merge matches them: by every key of
                    // `match_keys`, an element lacking one never collapses.
                    let keys = match_keys(key, items, &[]);
                    let mut out: Vec<Value> = Vec::with_capacity(items.len());
                    for it in items.drain(..) {
                        let same = identity(&it, &keys)
                            .and_then(|id| out.iter().position(|o| identity(o, &keys).is_some_and(|o| o == id)));
                        match same {
                            Some(i) => out[i] = it,
                            None => out.push(it),
                        }
                    }
                    *items = out;
                }
                for it in items.iter_mut() {
                    normalize(it, &f.child);
                }
            }
            _ => {}
        }
    }
}

/// kyaml's walk also clears the empty values (`key:`, unlike `key: null`)
/// of every map it reaches: all of the object's maps, and the elements of
/// lists it merges by key; other lists it takes whole. Those cleared are
/// forgotten, the others kept for the next patch.
pub fn clear_empty_values(dest: &mut Value, empty_values: &mut Vec<PlainValue>, ty: &TypeRef) {
    empty_values.retain(|e| {
        let tokens: Vec<String> = e.pointer.split('/').skip(1).map(crate::json6902::unescape).collect();
        !clear_at(dest, &tokens, ty)
    });
}

/// Removes the empty value at `tokens` if kyaml's walk reaches it.
fn clear_at(v: &mut Value, tokens: &[String], ty: &TypeRef) -> bool {
    let (Some(m), Some((first, rest))) = (v.as_object_mut(), tokens.split_first()) else { return false };
    if rest.is_empty() {
        // Still empty: no transformer has set it since it was read.
        let empty = m.get(first).is_some_and(|x| x.is_null() || x.as_str() == Some(""));
        return empty && m.shift_remove(first).is_some();
    }
    let child_ty = schema::child(ty, first);
    match m.get_mut(first) {
        Some(Value::Array(items)) => {
            let keyed = matches!(schema::field(ty, first).map(|f| f.list), Some(List::Map(_)));
            let Some((index, rest)) = rest.split_first() else { return false };
            let item = index.parse::<usize>().ok().and_then(|i| items.get_mut(i));
            keyed && item.is_some_and(|item| clear_at(item, rest, &child_ty))
        }
        Some(child) => clear_at(child, rest, &child_ty),
        None => false,
    }
}

/// Merges `patch` into `dest` (both objects) under schema type `ty`.
pub fn merge(dest: &mut Value, patch: &Value, ty: &TypeRef) -> Result<Outcome> {
    let Some(pm) = patch.as_object() else {
        *dest = patch.clone();
        return Ok(Outcome::Keep);
    };
    match directive(pm) {
        Some("delete") => return Ok(Outcome::Delete),
        Some("replace") => {
            *dest = strip(patch);
            return Ok(Outcome::Keep);
        }
        _ => {}
    }
    if !dest.is_object() {
        *dest = Value::Object(Map::new());
    }
    let dm = dest.as_object_mut().expect("object");
    for (k, pv) in pm {
        // kyaml knows one directive, `$patch`; other `$…` keys
        // (`$retainKeys`, `$setElementOrder/…`) are copied like fields.
        if k == "$patch" {
            continue;
        }
        match pv {
            Value::Null => {
                dm.shift_remove(k);
            }
            Value::Object(po) => {
                let child_ty = schema::child(ty, k);
                match dm.get_mut(k) {
                    Some(dv) if dv.is_object() => {
                        if merge(dv, pv, &child_ty)? == Outcome::Delete {
                            dm.shift_remove(k);
                        }
                    }
                    _ => {
                        if directive(po) != Some("delete") {
                            dm.insert(k.clone(), added(pv));
                        }
                    }
                }
            }
            Value::Array(pa) => {
                let field = schema::field(ty, k);
                let child_ty = schema::child(ty, k);
                match dm.get_mut(k) {
                    Some(Value::Array(da)) => {
                        let strategy = match field.as_ref().map(|f| f.list) {
                            Some(List::Map(key)) => Some(key),
                            Some(List::Set) => Some(""),
                            // Without a schema kyaml replaces lists.
                            _ => None,
                        };
                        match strategy {
                            Some("") => merge_set(da, pa),
                            Some(key) => merge_keyed(da, pa, key, &child_ty)?,
                            None => *da = strip_list(pa),
                        }
                    }
                    _ => {
                        dm.insert(k.clone(), Value::Array(strip_list(pa)));
                    }
                }
            }
            v => {
                dm.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Outcome::Keep)
}

fn strip_list(pa: &[Value]) -> Vec<Value> {
    pa.iter().filter(|x| x.as_object().is_none_or(|m| directive(m).is_none())).map(strip).collect()
}

// kustomize merges with `ListIncreaseDirection: Prepend`: the patch's
// elements come first (merged with their counterparts), then the
// destination's other elements in their order.
fn merge_set(da: &mut Vec<Value>, pa: &[Value]) {
    let mut out: Vec<Value> = Vec::new();
    for v in pa.iter().chain(da.iter()) {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    *da = out;
}

/// The keys kyaml matches the elements of a keyed list by: the merge key
/// and, for container ports, the protocol too (the schema's list-map keys),
/// each only when some element of either list has it.
fn match_keys<'k>(key: &'k str, da: &[Value], pa: &[Value]) -> Vec<&'k str> {
    let listed: &[&'k str] = match key {
        "containerPort" => &["containerPort", "protocol"],
        _ => return vec![key],
    };
    listed.iter().copied().filter(|k| *k == key || da.iter().chain(pa).any(|e| e.get(*k).is_some())).collect()
}

/// An element's values of `keys`, or `None` when it lacks one: such an
/// element of the destination is kept as it is, never matched.
fn identity<'v>(element: &'v Value, keys: &[&str]) -> Option<Vec<&'v Value>> {
    keys.iter().map(|k| element.get(*k)).collect()
}

fn merge_keyed(da: &mut Vec<Value>, pa: &[Value], key: &str, elem_ty: &TypeRef) -> Result<()> {
    if pa.iter().any(|x| x.as_object().is_some_and(|m| directive(m) == Some("replace"))) {
        *da = strip_list(pa);
        return Ok(());
    }
    let keys = match_keys(key, da, pa);
    // By one key, kyaml puts the patch's elements first (merged or new),
    // then the rest; by several (a port's number and protocol), matched
    // elements keep their place and only new ones come first.
    let in_place = keys.len() > 1;
    let mut out = Vec::with_capacity(da.len() + pa.len());
    let mut used = vec![false; da.len()];
    let mut dest: Vec<Option<Value>> = std::mem::take(da).into_iter().map(Some).collect();
    for pv in pa {
        let Some(po) = pv.as_object() else {
            if !out.contains(pv) {
                out.push(pv.clone());
            }
            continue;
        };
        if directive(po) == Some("merge") && po.len() == 1 {
            continue;
        }
        let id = identity(pv, &keys);
        let pos = id.as_ref().and_then(|id| {
            (0..dest.len())
                .find(|i| !used[*i] && dest[*i].as_ref().is_some_and(|d| identity(d, &keys).as_ref() == Some(id)))
        });
        match pos {
            Some(i) => {
                used[i] = true;
                let mut d = dest[i].take().expect("matched once");
                let keep = merge(&mut d, pv, elem_ty)? == Outcome::Keep;
                match (keep, in_place) {
                    (true, true) => dest[i] = Some(d),
                    (true, false) => out.push(d),
                    (false, _) => {}
                }
            }
            // kyaml drops a patch element missing one of several keys.
            None if keys.len() > 1 && id.is_none() => {}
            None => {
                if directive(po) != Some("delete") {
                    out.push(added(pv));
                }
            }
        }
    }
    for (i, d) in dest.into_iter().enumerate() {
        if let Some(d) = d
            && (in_place || !used[i])
        {
            out.push(d);
        }
    }
    *da = out;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resource::Gvk;

    fn deployment_ty() -> TypeRef {
        schema::root(&Gvk { group: "apps".into(), version: "v1".into(), kind: "Deployment".into() })
    }

    #[test]
    fn keyed_lists_merge_with_patch_elements_first() {
        let mut dest = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
        ]}}}});
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "image": "proxy"},
            {"name": "app", "env": [{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}]}
        ]}}}});
        assert_eq!(merge(&mut dest, &patch, &deployment_ty()).unwrap(), Outcome::Keep);
        let containers = &dest["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["name"], "sidecar");
        assert_eq!(containers[1]["image"], "app:1");
        assert_eq!(containers[1]["env"], json!([{"name": "C", "value": "3"}, {"name": "A", "value": "1"}]));
    }

    #[test]
    fn lists_without_schema_are_replaced_and_null_deletes() {
        let mut dest = json!({"spec": {"items": [{"name": "a"}], "drop": 1}});
        let patch = json!({"spec": {"items": [{"name": "b"}], "drop": null}});
        merge(&mut dest, &patch, &None).unwrap();
        assert_eq!(dest, json!({"spec": {"items": [{"name": "b"}]}}));
    }

    #[test]
    fn patch_delete_and_replace_directives() {
        let mut dest = json!({"a": {"x": 1, "y": 2}});
        merge(&mut dest, &json!({"a": {"$patch": "replace", "z": 3}}), &None).unwrap();
        assert_eq!(dest, json!({"a": {"z": 3}}));
        assert_eq!(merge(&mut dest, &json!({"$patch": "delete"}), &None).unwrap(), Outcome::Delete);
    }
}
