//! `ignoreDifferences`: fields whose differences are not drift.
//!
//! Three selectors, as in Argo CD: JSON pointers (`/spec/replicas`), jq-like
//! paths and field managers. The jq subset understood is what Argo CD users
//! write in practice: `.a.b`, `.a["dotted.key"]`, `.a[0]`, `.a[]` and a
//! trailing `| select(.field == "value")` on a `[]`. Anything else is an
//! error naming the path, never a silently ignored rule.
//! `managedFieldsManagers` strips every field the named managers own in the
//! live object's `managedFields` (the `fieldsV1` format).
//!
//! [`IgnoreRules::respect`] carries the rules over to apply (Argo CD's
//! `RespectIgnoreDifferences`): an ignored field that is live is not
//! re-applied from Git, so another writer's value (an HPA's replicas)
//! stays.

use capstan_types::IgnoreDifference;
use serde_json::{Map, Value};

use crate::{Error, Result};

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// A map key (or, on an array, an index written as a pointer segment).
    Key(String),
    /// An array index.
    Index(usize),
    /// Every element of an array.
    All,
    /// Elements of an array whose `field` equals `value`.
    Select(String, Value),
}

#[derive(Debug, Clone)]
struct Rule {
    group: String,
    kind: String,
    name: Option<String>,
    namespace: Option<String>,
    paths: Vec<Vec<Segment>>,
    managers: Vec<String>,
}

/// Compiled `ignoreDifferences` of one Application.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

impl IgnoreRules {
    /// Parses every path; fails on the first it cannot read.
    pub fn new(entries: &[IgnoreDifference]) -> Result<Self> {
        let rules = entries.iter().map(compile).collect::<Result<_>>()?;
        Ok(Self { rules })
    }

    /// Removes ignored fields from `object` (desired or live). `live` is the
    /// live object whose `managedFields` say which fields a manager owns.
    pub fn strip(&self, object: &mut Value, live: Option<&Value>) {
        let matching: Vec<&Rule> = self.rules.iter().filter(|r| r.matches(object)).collect();
        for rule in matching {
            for path in &rule.paths {
                remove_path(object, path);
            }
            let entries = live.and_then(|l| l.pointer("/metadata/managedFields")).and_then(Value::as_array);
            for entry in entries.into_iter().flatten() {
                let manager = entry.get("manager").and_then(Value::as_str).unwrap_or_default();
                if rule.managers.iter().any(|m| m == manager)
                    && let Some(fields) = entry.get("fieldsV1").and_then(Value::as_object)
                {
                    strip_fieldset(object, fields);
                }
            }
        }
    }
}

impl IgnoreRules {
    /// Leaves ignored fields of `desired` to `live` before an apply by
    /// `manager`: a field live that `manager` does not own is dropped from
    /// `desired` (its owner keeps it); one it owns keeps its live value (so
    /// it stays owned and unchanged). Fields not live yet are applied from
    /// Git. Paths through lists are compared-ignored but applied as in Git:
    /// list items have no stable owner path to check.
    pub fn respect(&self, desired: &mut Value, live: &Value, manager: &str) {
        let entries: &[Value] =
            live.pointer("/metadata/managedFields").and_then(Value::as_array).map_or(&[], Vec::as_slice);
        let ours = entries
            .iter()
            .find(|e| e["manager"] == manager && e["operation"] == "Apply")
            .and_then(|e| e.get("fieldsV1"));
        let matching: Vec<&Rule> = self.rules.iter().filter(|r| r.matches(desired)).collect();
        for rule in matching {
            for path in &rule.paths {
                let keys: Option<Vec<&str>> =
                    path.iter().map(|s| if let Segment::Key(k) = s { Some(k.as_str()) } else { None }).collect();
                let Some(keys) = keys else { continue };
                let Some(current) = keys.iter().try_fold(live, |v, k| v.as_object()?.get(*k)) else { continue };
                let owned = ours.is_some_and(|set| keys.iter().try_fold(set, |s, k| s.get(format!("f:{k}"))).is_some());
                if owned {
                    set_path(desired, &keys, current.clone());
                } else {
                    remove_path(desired, path);
                }
            }
            for entry in entries.iter().filter(|e| e["manager"] != manager) {
                let name = entry.get("manager").and_then(Value::as_str).unwrap_or_default();
                if rule.managers.iter().any(|m| m == name)
                    && let Some(fields) = entry.get("fieldsV1").and_then(Value::as_object)
                {
                    strip_fieldset(desired, fields);
                }
            }
        }
    }
}

/// Sets `value` at the map path `keys`, creating maps on the way.
fn set_path(object: &mut Value, keys: &[&str], value: Value) {
    let Some((last, parents)) = keys.split_last() else { return };
    let mut at = object;
    for key in parents {
        let Some(map) = at.as_object_mut() else { return };
        at = map.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(map) = at.as_object_mut() {
        map.insert(last.to_string(), value);
    }
}

impl Rule {
    fn matches(&self, object: &Value) -> bool {
        let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let group = text("/apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
        let opt = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        (self.kind == "*" || self.kind == text("/kind"))
            && (self.group == "*" || self.group == group)
            && opt(&self.name, text("/metadata/name"))
            && opt(&self.namespace, text("/metadata/namespace"))
    }
}

fn compile(entry: &IgnoreDifference) -> Result<Rule> {
    let bad = |path: &str, reason: &str| Error::IgnorePath {
        kind: entry.kind.clone(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let mut paths = Vec::new();
    for pointer in &entry.json_pointers {
        paths.push(parse_pointer(pointer).ok_or_else(|| bad(pointer, "a JSON pointer starts with '/'"))?);
    }
    for jq in &entry.jq_path_expressions {
        paths.push(parse_jq(jq).map_err(|reason| bad(jq, reason))?);
    }
    Ok(Rule {
        group: entry.group.clone(),
        kind: entry.kind.clone(),
        name: entry.name.clone(),
        namespace: entry.namespace.clone(),
        paths,
        managers: entry.managed_fields_managers.clone(),
    })
}

fn parse_pointer(pointer: &str) -> Option<Vec<Segment>> {
    let rest = pointer.strip_prefix('/')?;
    Some(rest.split('/').map(|s| Segment::Key(s.replace("~1", "/").replace("~0", "~"))).collect())
}

fn parse_jq(expr: &str) -> std::result::Result<Vec<Segment>, &'static str> {
    let mut parts = expr.split('|').map(str::trim);
    let mut path = parse_jq_path(parts.next().unwrap_or_default())?;
    for filter in parts {
        let inner = filter
            .strip_prefix("select(")
            .and_then(|f| f.strip_suffix(')'))
            .ok_or("only `select(.field == \"value\")` filters are supported")?;
        let (field, value) = inner.split_once("==").ok_or("a select needs `==`")?;
        let field = field
            .trim()
            .strip_prefix('.')
            .filter(|f| !f.is_empty() && !f.contains(['.', '[']))
            .ok_or("select compares one top-level field")?;
        let value: Value =
            serde_json::from_str(value.trim()).map_err(|_| "the selected value must be a JSON literal")?;
        match path.last_mut() {
            Some(last @ Segment::All) => *last = Segment::Select(field.to_owned(), value),
            _ => return Err("select must follow `[]`"),
        }
    }
    Ok(path)
}

fn parse_jq_path(path: &str) -> std::result::Result<Vec<Segment>, &'static str> {
    let mut rest = path.strip_prefix('.').ok_or("a jq path starts with '.'")?;
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (inside, tail) = after.split_once(']').ok_or("unclosed '['")?;
            segments.push(match inside.trim() {
                "" => Segment::All,
                quoted if quoted.starts_with('"') => {
                    Segment::Key(serde_json::from_str(quoted).map_err(|_| "bad quoted key")?)
                }
                index => Segment::Index(index.parse().map_err(|_| "an index must be a number")?),
            });
            rest = tail.strip_prefix('.').unwrap_or(tail);
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        if end == 0 {
            return Err("empty key");
        }
        segments.push(Segment::Key(rest[..end].to_owned()));
        rest = rest[end..].strip_prefix('.').unwrap_or(&rest[end..]);
    }
    if segments.is_empty() {
        return Err("the path selects the whole object");
    }
    Ok(segments)
}

fn remove_path(value: &mut Value, path: &[Segment]) {
    let Some((first, rest)) = path.split_first() else { return };
    match (value, first) {
        (Value::Object(map), Segment::Key(key)) if rest.is_empty() => {
            map.remove(key);
        }
        (Value::Object(map), Segment::Key(key)) => {
            if let Some(child) = map.get_mut(key) {
                remove_path(child, rest);
            }
        }
        (Value::Array(items), Segment::Key(key)) => {
            if let Ok(index) = key.parse::<usize>() {
                remove_at(items, index, rest);
            }
        }
        (Value::Array(items), Segment::Index(index)) => remove_at(items, *index, rest),
        (Value::Array(items), Segment::All) if rest.is_empty() => items.clear(),
        (Value::Array(items), Segment::All) => items.iter_mut().for_each(|item| remove_path(item, rest)),
        (Value::Array(items), Segment::Select(field, want)) => {
            let selected = |item: &Value| item.get(field) == Some(want);
            if rest.is_empty() {
                items.retain(|item| !selected(item));
            } else {
                items.iter_mut().filter(|item| selected(item)).for_each(|item| remove_path(item, rest));
            }
        }
        _ => {}
    }
}

fn remove_at(items: &mut Vec<Value>, index: usize, rest: &[Segment]) {
    if index >= items.len() {
        return;
    }
    if rest.is_empty() {
        items.remove(index);
    } else {
        remove_path(&mut items[index], rest);
    }
}

/// Removes from `value` every leaf of a `fieldsV1` set (`f:` keys, `k:`
/// list keys, `v:` set values, `i:` indices).
fn strip_fieldset(value: &mut Value, set: &Map<String, Value>) {
    let mut doomed = Vec::new();
    for (key, sub) in set {
        let children = sub.as_object().filter(|m| m.keys().any(|k| k != "."));
        if let Some(name) = key.strip_prefix("f:") {
            let Some(map) = value.as_object_mut() else { continue };
            match children {
                None => {
                    map.remove(name);
                }
                Some(children) => {
                    if let Some(child) = map.get_mut(name) {
                        strip_fieldset(child, children);
                    }
                }
            }
            continue;
        }
        let Some(items) = value.as_array_mut() else { continue };
        let position = list_position(items, key);
        // "." on a list element: the manager added the element itself.
        let whole = sub.as_object().is_none_or(|m| m.contains_key("."));
        if let Some(index) = position {
            match children {
                Some(children) if !whole => strip_fieldset(&mut items[index], children),
                _ => doomed.push(index),
            }
        }
    }
    if let Some(items) = value.as_array_mut() {
        doomed.sort_unstable();
        doomed.dedup();
        for index in doomed.into_iter().rev() {
            items.remove(index);
        }
    }
}

fn list_position(items: &[Value], key: &str) -> Option<usize> {
    if let Some(json) = key.strip_prefix("k:") {
        let want: Map<String, Value> = serde_json::from_str(json).ok()?;
        items.iter().position(|item| want.iter().all(|(k, v)| item.get(k) == Some(v)))
    } else if let Some(json) = key.strip_prefix("v:") {
        let want: Value = serde_json::from_str(json).ok()?;
        items.iter().position(|item| *item == want)
    } else {
        key.strip_prefix("i:")?.parse().ok().filter(|i| *i < items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(entry: serde_json::Value) -> IgnoreRules {
        IgnoreRules::new(&[serde_json::from_value(entry).unwrap()]).unwrap()
    }

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "annotations": {"a.b/c": "x", "keep": "y"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "envoy"}]}}}})
    }

    #[test]
    fn pointers_and_jq_paths() {
        let mut d = deployment();
        rules(json!({"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas", "/metadata/annotations/a.b~1c"]})).strip(&mut d, None);
        assert_eq!(d["spec"].get("replicas"), None);
        assert_eq!(d["metadata"]["annotations"], json!({"keep": "y"}));
        let mut d = deployment();
        let jq = json!({"group": "apps", "kind": "Deployment", "jqPathExpressions": [
            ".spec.template.spec.containers[].image", ".metadata.annotations[\"a.b/c\"]",
            ".spec.template.spec.containers[] | select(.name == \"sidecar\")"]});
        rules(jq).strip(&mut d, None);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "web", "env": [{"name": "A", "value": "1"}]}])
        );
        assert_eq!(d["metadata"]["annotations"], json!({"keep": "y"}));
    }

    #[test]
    fn rules_match_group_kind_and_name() {
        let mut d = deployment();
        rules(json!({"kind": "Deployment", "jsonPointers": ["/spec/replicas"]})).strip(&mut d, None);
        rules(json!({"group": "apps", "kind": "Deployment", "name": "other", "jsonPointers": ["/spec/replicas"]}))
            .strip(&mut d, None);
        assert_eq!(d["spec"]["replicas"], 3, "core group and another name must not match apps/web");
    }

    #[test]
    fn managers_fields_are_stripped() {
        let mut live = deployment();
        live["metadata"]["managedFields"] = json!([
            {"manager": "hpa", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "injector", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"sidecar\"}": {".": {}, "f:name": {}, "f:image": {}},
                "k:{\"name\":\"web\"}": {"f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}},
            {"manager": "capstan", "operation": "Apply", "fieldsV1": {"f:metadata": {"f:annotations": {"f:keep": {}}}}}
        ]);
        let mut d = deployment();
        rules(json!({"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["hpa", "injector"]}))
            .strip(&mut d, Some(&live));
        assert_eq!(
            d["spec"],
            json!({"template": {"spec": {"containers": [{"name": "web", "image": "nginx", "env": []}]}}})
        );
        assert_eq!(d["metadata"]["annotations"]["keep"], "y");
    }

    #[test]
    fn respected_fields_stay_with_their_live_owner() {
        let rule = rules(
            json!({"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas", "/metadata/annotations/keep"]}),
        );
        let mut live = deployment();
        live["spec"]["replicas"] = json!(7);
        live["metadata"]["managedFields"] = json!([
            {"manager": "hpa", "operation": "Update", "subresource": "scale", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "capstan", "operation": "Apply", "fieldsV1": {"f:metadata": {"f:annotations": {"f:keep": {}}}}}
        ]);
        live["metadata"]["annotations"]["keep"] = json!("live");
        let mut desired = deployment();
        rule.respect(&mut desired, &live, "capstan");
        assert_eq!(desired["spec"].get("replicas"), None, "the HPA's field is left to it");
        assert_eq!(desired["metadata"]["annotations"]["keep"], "live", "our own field keeps its live value");
        let mut fresh = deployment();
        rule.respect(&mut fresh, &json!({"metadata": {}}), "capstan");
        assert_eq!(fresh["spec"]["replicas"], 3, "not live yet: applied from Git");
    }

    #[test]
    fn unreadable_paths_are_errors() {
        for (path, reason) in [
            ("spec.x", "starts with '.'"),
            (".a[x]", "number"),
            (".a | length", "select"),
            (".a.b | select(.n == \"x\")", "follow `[]`"),
        ] {
            let entry: IgnoreDifference =
                serde_json::from_value(json!({"kind": "Deployment", "jqPathExpressions": [path]})).unwrap();
            let err = IgnoreRules::new(&[entry]).unwrap_err().to_string();
            assert!(err.contains(&format!("{path:?}")) && err.contains(reason), "{err}");
        }
    }
}
