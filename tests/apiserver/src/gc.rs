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
use std::collections::{HashMap, HashSet};

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

fn id(obj: &Value) -> (String, String) {
    (meta_str(obj, "namespace").unwrap_or_default().to_string(), meta_str(obj, "name").unwrap_or_default().to_string())
}

fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str())
}

/// The next thing the controllers would do.
enum Action {
    /// Remove an object from storage (CRD gone, empty terminating namespace).
    Remove(String, Value),
    /// Delete an object with a propagation policy.
    Delete(String, Value, Propagation),
    /// Strip the owner's references from its dependents, then drop `orphan`.
    Orphan(String, Value, Vec<(String, Value)>),
    /// Drop a finalizer the controllers own.
    Release(String, Value, &'static str),
    /// Serve a new CRD (the real server's establishing controller).
    Establish(Value),
}

/// Finds the first pending action, scanning storage once without copying it.
fn next_action(store: &Store) -> Option<Action> {
    let served = catalog::served_keys(store);
    let keys = store.keys();
    let all: Vec<(&str, &Value)> =
        keys.iter().flat_map(|k| store.list(k, None).into_iter().map(move |o| (k.as_str(), o))).collect();
    let mut uids = HashSet::new();
    let mut terminating = HashSet::new();
    let mut occupied = HashSet::new();
    let mut dependents: HashMap<&str, Vec<(&str, &Value)>> = HashMap::new();
    for &(key, obj) in &all {
        uids.extend(meta_str(obj, "uid"));
        let deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
        if key == NAMESPACE_KEY && deleting {
            terminating.extend(meta_str(obj, "name"));
        }
        if key != NAMESPACE_KEY {
            occupied.extend(meta_str(obj, "namespace"));
        }
        for owner in owner_uids(obj) {
            dependents.entry(owner).or_default().push((key, obj));
        }
    }
    let owned = |k: &str, o: &Value| (k.to_string(), o.clone());
    for &(key, obj) in &all {
        if !served.contains(key) {
            // A custom resource whose CRD is gone goes with it.
            return Some(Action::Remove(key.into(), obj.clone()));
        }
        let uid = meta_str(obj, "uid").unwrap_or_default();
        let deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
        let fins = finalizers(obj);
        let deps = dependents.get(uid).map(Vec::as_slice).unwrap_or_default();
        if deleting && fins.iter().any(|f| f == "orphan") {
            let deps = deps.iter().map(|(k, o)| owned(k, o)).collect();
            return Some(Action::Orphan(key.into(), obj.clone(), deps));
        }
        if key == catalog::CRD_KEY && deleting && fins.iter().any(|f| f == catalog::CRD_CLEANUP_FINALIZER) {
            let cr_key = format!(
                "{}/{}",
                obj.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default(),
                obj.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or_default()
            );
            let objects = store.list(&cr_key, None);
            if objects.is_empty() {
                return Some(Action::Release(key.into(), obj.clone(), catalog::CRD_CLEANUP_FINALIZER));
            }
            if let Some(o) = objects.iter().find(|o| o.pointer("/metadata/deletionTimestamp").is_none()) {
                return Some(Action::Delete(cr_key, (*o).clone(), Propagation::Background));
            }
            continue;
        }
        if deleting && fins.iter().any(|f| f == "foregroundDeletion") {
            if deps.is_empty() {
                return Some(Action::Release(key.into(), obj.clone(), "foregroundDeletion"));
            }
            if let Some((k, d)) = deps.iter().find(|(_, d)| d.pointer("/metadata/deletionTimestamp").is_none()) {
                return Some(Action::Delete(k.to_string(), (*d).clone(), Propagation::Foreground));
            }
            continue;
        }
        if key == catalog::CRD_KEY && !catalog::established(obj) {
            return Some(Action::Establish(obj.clone()));
        }
        let name = meta_str(obj, "name").unwrap_or_default();
        if key == NAMESPACE_KEY && deleting && !occupied.contains(name) {
            return Some(Action::Remove(key.into(), obj.clone()));
        }
        let ns = meta_str(obj, "namespace").unwrap_or_default();
        if !ns.is_empty() && terminating.contains(ns) && !deleting {
            return Some(Action::Delete(key.into(), obj.clone(), Propagation::Background));
        }
        let mut owners = owner_uids(obj).peekable();
        if !deleting && owners.peek().is_some() && owners.all(|o| !uids.contains(o)) {
            return Some(Action::Delete(key.into(), obj.clone(), Propagation::Background));
        }
    }
    None
}

/// One step of the controllers (namespace termination, garbage collection,
/// CRD cleanup); returns whether anything changed. Call until it returns
/// false.
pub(crate) fn sweep(store: &mut Store) -> bool {
    let Some(action) = next_action(store) else { return false };
    match action {
        Action::Remove(key, obj) => {
            let (ns, name) = id(&obj);
            store.remove(&key, &ns, &name);
        }
        Action::Delete(key, obj, policy) => {
            let (ns, name) = id(&obj);
            if let Some(rt) = catalog::by_key(store, &key) {
                let _ = delete(store, &rt, &ns, &name, policy, false);
            }
        }
        Action::Orphan(key, owner, deps) => {
            let uid = json!(meta_str(&owner, "uid").unwrap_or_default());
            for (dk, mut d) in deps {
                let refs: Vec<Value> = d["metadata"]["ownerReferences"]
                    .as_array()
                    .map(|a| a.iter().filter(|r| r["uid"] != uid).cloned().collect())
                    .unwrap_or_default();
                if refs.is_empty() {
                    metadata_mut(&mut d).shift_remove("ownerReferences");
                } else {
                    d["metadata"]["ownerReferences"] = json!(refs);
                }
                store.put(&dk, d);
            }
            remove_finalizer(store, &key, &owner, "orphan");
        }
        Action::Release(key, obj, finalizer) => remove_finalizer(store, &key, &obj, finalizer),
        Action::Establish(mut crd) => {
            let created = meta_str(&crd, "creationTimestamp").unwrap_or_default().to_string();
            meta::crd_status(&mut crd, &created, true);
            store.put(catalog::CRD_KEY, crd);
        }
    }
    true
}

fn remove_finalizer(store: &mut Store, key: &str, obj: &Value, finalizer: &str) {
    let mut new = obj.clone();
    let fins: Vec<String> = finalizers(obj).into_iter().filter(|f| f != finalizer).collect();
    set_finalizers(&mut new, &fins);
    let (ns, name) = id(obj);
    if fins.is_empty() {
        store.remove(key, &ns, &name);
    } else {
        store.put(key, new);
    }
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
