//! Deletion and what follows it: finalizers, propagation policies,
//! namespace termination, ownerReference garbage collection, and removal
//! of custom resources whose CRD is gone.
//!
//! [`delete`] is the DELETE verb. [`sweep`] plays the namespace controller
//! and the garbage collector; the server runs it in the background after
//! every write, so cascades are eventually consistent, as on a real
//! cluster: poll for the outcome, do not expect it in the DELETE response.

use crate::catalog::{self, NAMESPACE_KEY, ResourceType};
use crate::meta::{self, meta_str, metadata_mut};
use crate::status::{ApiError, ApiResult};
use crate::store::Store;
use serde_json::{Value, json};
use std::collections::HashSet;

/// How dependents are treated when their owner is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Propagation {
    /// Owner goes now, dependents are collected afterwards (the default).
    Background,
    /// Owner stays (finalizer `foregroundDeletion`) until its dependents are gone.
    Foreground,
    /// Dependents lose their ownerReference and stay (finalizer `orphan`).
    Orphan,
}

impl Propagation {
    /// Parses `propagationPolicy`.
    pub(crate) fn parse(s: Option<&str>) -> ApiResult<Propagation> {
        match s {
            None | Some("") | Some("Background") => Ok(Propagation::Background),
            Some("Foreground") => Ok(Propagation::Foreground),
            Some("Orphan") => Ok(Propagation::Orphan),
            Some(other) => Err(ApiError::bad_request(format!("unknown propagationPolicy {other:?}"))),
        }
    }
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn set_finalizers(obj: &mut Value, list: &[String]) {
    let meta = metadata_mut(obj);
    if list.is_empty() {
        meta.shift_remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(list));
    }
}

/// DELETE of one object. Returns the object: gone, or marked for deletion
/// (deletionTimestamp set) while finalizers remain.
pub(crate) fn delete(
    store: &mut Store,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    policy: Propagation,
    dry_run: bool,
) -> ApiResult<Value> {
    let key = rt.key();
    let old = store.get(&key, ns, name).cloned().ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
    if old.pointer("/metadata/deletionTimestamp").is_some() && policy == Propagation::Background {
        return Ok(old);
    }
    let mut new = old.clone();
    let mut fins = finalizers(&old);
    if key == NAMESPACE_KEY {
        new["status"]["phase"] = json!("Terminating");
    } else {
        let extra = match policy {
            Propagation::Foreground => Some("foregroundDeletion"),
            Propagation::Orphan => Some("orphan"),
            Propagation::Background => None,
        };
        if let Some(f) = extra
            && !fins.iter().any(|x| x == f)
        {
            fins.push(f.to_string());
        }
        set_finalizers(&mut new, &fins);
        if fins.is_empty() {
            return Ok(if dry_run { old } else { store.remove(&key, ns, name).unwrap_or(old) });
        }
    }
    let meta = metadata_mut(&mut new);
    if !meta.contains_key("deletionTimestamp") {
        meta.insert("deletionTimestamp".into(), json!(meta::now()));
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    }
    Ok(if dry_run || new == old { new } else { store.put(&key, new) })
}

/// All stored objects as (resource key, object) pairs.
fn everything(store: &Store) -> Vec<(String, Value)> {
    store
        .keys()
        .into_iter()
        .flat_map(|k| store.list(&k, None).into_iter().map(move |o| (k.clone(), o.clone())).collect::<Vec<_>>())
        .collect()
}

fn id(obj: &Value) -> (String, String) {
    (meta_str(obj, "namespace").unwrap_or_default().to_string(), meta_str(obj, "name").unwrap_or_default().to_string())
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| r["uid"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// One pass of the controllers; returns whether anything changed. Call
/// until it returns false.
pub(crate) fn sweep(store: &mut Store) -> bool {
    let all = everything(store);
    let served: HashSet<String> = catalog::all(store).into_iter().map(|r| r.key()).collect();
    let uids: HashSet<String> = all.iter().filter_map(|(_, o)| meta_str(o, "uid").map(str::to_string)).collect();
    let terminating: HashSet<String> = all
        .iter()
        .filter(|(k, o)| k == NAMESPACE_KEY && o.pointer("/metadata/deletionTimestamp").is_some())
        .map(|(_, o)| id(o).1)
        .collect();
    for (key, obj) in &all {
        let (ns, name) = id(obj);
        let Some(rt) = catalog::by_key(store, key) else {
            // A custom resource whose CRD is gone goes with it.
            if !served.contains(key) {
                store.remove(key, &ns, &name);
                return true;
            }
            continue;
        };
        let uid = meta_str(obj, "uid").unwrap_or_default().to_string();
        let deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
        let fins = finalizers(obj);
        // Only owners being deleted need their dependents.
        let dependents: Vec<(String, Value)> = if deleting {
            all.iter().filter(|(_, d)| owner_uids(d).contains(&uid)).cloned().collect()
        } else {
            Vec::new()
        };

        if deleting && fins.iter().any(|f| f == "orphan") {
            for (dk, mut d) in dependents.clone() {
                let refs: Vec<Value> = d["metadata"]["ownerReferences"]
                    .as_array()
                    .map(|a| a.iter().filter(|r| r["uid"] != json!(uid)).cloned().collect())
                    .unwrap_or_default();
                if refs.is_empty() {
                    metadata_mut(&mut d).shift_remove("ownerReferences");
                } else {
                    d["metadata"]["ownerReferences"] = json!(refs);
                }
                store.put(&dk, d);
            }
            return remove_finalizer(store, key, obj, "orphan");
        }
        if deleting && fins.iter().any(|f| f == "foregroundDeletion") {
            if dependents.is_empty() {
                return remove_finalizer(store, key, obj, "foregroundDeletion");
            } else {
                for (dk, d) in &dependents {
                    if d.pointer("/metadata/deletionTimestamp").is_none()
                        && let Some(drt) = catalog::by_key(store, dk)
                    {
                        let (dns, dname) = id(d);
                        let _ = delete(store, &drt, &dns, &dname, Propagation::Foreground, false);
                        return true;
                    }
                }
            }
            continue;
        }
        if key == NAMESPACE_KEY && deleting {
            let contents = all.iter().filter(|(k, o)| k != NAMESPACE_KEY && id(o).0 == name).count();
            if contents == 0 {
                store.remove(key, "", &name);
                return true;
            }
            continue;
        }
        if rt.namespaced && terminating.contains(&ns) && !deleting {
            let _ = delete(store, &rt, &ns, &name, Propagation::Background, false);
            return true;
        }
        let owners = owner_uids(obj);
        if !deleting && !owners.is_empty() && owners.iter().all(|o| !uids.contains(o)) {
            let _ = delete(store, &rt, &ns, &name, Propagation::Background, false);
            return true;
        }
    }
    false
}

fn remove_finalizer(store: &mut Store, key: &str, obj: &Value, finalizer: &str) -> bool {
    let mut new = obj.clone();
    let fins: Vec<String> = finalizers(obj).into_iter().filter(|f| f != finalizer).collect();
    set_finalizers(&mut new, &fins);
    let (ns, name) = id(obj);
    if fins.is_empty() {
        store.remove(key, &ns, &name);
    } else {
        store.put(key, new);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::builtins;

    fn rt(plural: &str) -> ResourceType {
        builtins().into_iter().find(|r| r.plural == plural).unwrap()
    }

    fn put(store: &mut Store, plural: &str, obj: Value) -> Value {
        store.put(&rt(plural).key(), obj)
    }

    fn settle(store: &mut Store) {
        for _ in 0..20 {
            if !sweep(store) {
                return;
            }
        }
        panic!("sweep did not settle");
    }

    #[test]
    fn namespace_deletion_removes_contents_then_namespace() {
        let mut store = Store::open(None, 100).unwrap();
        put(&mut store, "namespaces", json!({"metadata": {"name": "a", "uid": "ns-a"}}));
        put(&mut store, "configmaps", json!({"metadata": {"name": "c", "namespace": "a", "uid": "c1"}}));
        put(
            &mut store,
            "configmaps",
            json!({"metadata": {"name": "f", "namespace": "a", "uid": "c2", "finalizers": ["x/y"]}}),
        );
        let ns = delete(&mut store, &rt("namespaces"), "", "a", Propagation::Background, false).unwrap();
        assert_eq!(ns["status"]["phase"], "Terminating");
        settle(&mut store);
        assert!(store.get("/configmaps", "a", "c").is_none());
        let held = store.get("/configmaps", "a", "f").unwrap().clone();
        assert!(held.pointer("/metadata/deletionTimestamp").is_some());
        assert!(store.get(NAMESPACE_KEY, "", "a").is_some(), "held by the finalizer");
        let mut released = held.clone();
        metadata_mut(&mut released).shift_remove("finalizers");
        store.put("/configmaps", released);
        store.remove("/configmaps", "a", "f");
        settle(&mut store);
        assert!(store.get(NAMESPACE_KEY, "", "a").is_none());
    }

    #[test]
    fn owner_references_cascade_and_orphan() {
        let mut store = Store::open(None, 100).unwrap();
        let owner = |uid: &str| json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": uid}]);
        put(&mut store, "configmaps", json!({"metadata": {"name": "o", "namespace": "n", "uid": "u1"}}));
        put(
            &mut store,
            "secrets",
            json!({"metadata": {"name": "d", "namespace": "n", "uid": "u2", "ownerReferences": owner("u1")}}),
        );
        delete(&mut store, &rt("configmaps"), "n", "o", Propagation::Background, false).unwrap();
        settle(&mut store);
        assert!(store.get("/secrets", "n", "d").is_none());

        put(&mut store, "configmaps", json!({"metadata": {"name": "o", "namespace": "n", "uid": "u3"}}));
        put(
            &mut store,
            "secrets",
            json!({"metadata": {"name": "d", "namespace": "n", "uid": "u4", "ownerReferences": owner("u3")}}),
        );
        let marked = delete(&mut store, &rt("configmaps"), "n", "o", Propagation::Orphan, false).unwrap();
        assert_eq!(marked["metadata"]["finalizers"], json!(["orphan"]));
        settle(&mut store);
        assert!(store.get("/configmaps", "n", "o").is_none());
        let kept = store.get("/secrets", "n", "d").unwrap();
        assert!(kept.pointer("/metadata/ownerReferences").is_none());
    }

    #[test]
    fn foreground_keeps_owner_until_dependents_are_gone() {
        let mut store = Store::open(None, 100).unwrap();
        put(&mut store, "configmaps", json!({"metadata": {"name": "o", "namespace": "n", "uid": "u1"}}));
        put(
            &mut store,
            "secrets",
            json!({"metadata": {"name": "d", "namespace": "n", "uid": "u2",
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u1"}]}}),
        );
        let marked = delete(&mut store, &rt("configmaps"), "n", "o", Propagation::Foreground, false).unwrap();
        assert!(marked.pointer("/metadata/deletionTimestamp").is_some());
        settle(&mut store);
        assert!(store.get("/secrets", "n", "d").is_none());
        assert!(store.get("/configmaps", "n", "o").is_none());
    }
}
