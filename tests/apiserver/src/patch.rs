//! PATCH bodies other than apply: JSON patch (RFC 6902), JSON merge patch
//! (RFC 7386) and strategic merge patch (built-in kinds only, as on a real
//! server: lists with merge keys merge by key, `$patch: delete|replace`,
//! `$deleteFromPrimitiveList/…`; `$setElementOrder` and `$retainKeys` are
//! accepted and ignored).

use crate::fields::{ListType, Path, PathElement, Schema};
use crate::status::{ApiError, ApiResult};
use serde_json::{Map, Value};

/// The patch formats, by Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply)
    Apply,
}

impl PatchType {
    /// The patch type for a Content-Type header.
    pub(crate) fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Parses a JSON or YAML body.
pub(crate) fn parse_body(body: &[u8]) -> ApiResult<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    serde_yaml::from_slice::<Value>(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

/// The body of a server-side apply. `application/apply-patch+yaml` goes
/// through the API server's YAML reader even when it holds JSON, and that
/// reader refuses characters a YAML stream may not contain (C0 controls
/// but tab, LF and CR; DEL; C1 controls but NEL; U+FFFE, U+FFFF) with a
/// 400, as kube-apiserver does.
pub(crate) fn parse_apply_body(body: &[u8], content_type: &str) -> ApiResult<Value> {
    let yaml = content_type.split(';').next().unwrap_or_default().trim() == "application/apply-patch+yaml";
    let refused = |c: char| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{85}')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    };
    if yaml && String::from_utf8_lossy(body).chars().any(refused) {
        return Err(ApiError::bad_request(
            "error decoding YAML: error converting YAML to JSON: yaml: control characters are not allowed",
        ));
    }
    parse_body(body)
}

/// Applies a non-apply patch to `old`.
pub(crate) fn apply_patch(old: &Value, body: &[u8], kind: PatchType, schema: &Schema) -> ApiResult<Value> {
    let mut doc = old.clone();
    match kind {
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &p).map_err(|e| ApiError::invalid_patch(e.to_string()))?;
        }
        PatchType::Merge => {
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding merge patch: {e}")))?;
            json_patch::merge(&mut doc, &p);
        }
        PatchType::Strategic => {
            if !schema.builtin {
                return Err(ApiError::unsupported_media_type("application/strategic-merge-patch+json"));
            }
            let p: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding strategic merge patch: {e}")))?;
            strategic_merge(&mut doc, &p, &mut Path::new(), schema);
        }
        PatchType::Apply => unreachable!("apply patches are handled by managed::apply"),
    }
    Ok(doc)
}

/// Strategic merge of `patch` into `doc` at `path`.
pub(crate) fn strategic_merge(doc: &mut Value, patch: &Value, path: &mut Path, schema: &Schema) {
    let Some(p) = patch.as_object() else {
        *doc = patch.clone();
        return;
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = p.clone();
            replaced.shift_remove("$patch");
            *doc = Value::Object(replaced);
            return;
        }
        Some("delete") => {
            *doc = Value::Object(Map::new());
            return;
        }
        _ => {}
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let d = doc.as_object_mut().expect("made an object above");
    for (k, pv) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(remove)) = (d.get_mut(field).and_then(Value::as_array_mut), pv.as_array()) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if pv.is_null() {
            d.shift_remove(k);
            continue;
        }
        path.push(PathElement::Field(k.clone()));
        let slot = d.entry(k.clone()).or_insert(Value::Null);
        match (pv, schema.list_type(path)) {
            (Value::Array(items), ListType::Map(keys)) => merge_keyed_list(slot, items, &keys[0], path, schema),
            (Value::Array(items), ListType::Set) => {
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                let list = slot.as_array_mut().expect("made an array above");
                for item in items {
                    if !list.contains(item) {
                        list.push(item.clone());
                    }
                }
            }
            (Value::Object(_), _) if slot.is_object() => strategic_merge(slot, pv, path, schema),
            (Value::Object(o), _) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, &Value::Object(o.clone()), path, schema);
                *slot = fresh;
            }
            _ => *slot = pv.clone(),
        }
        path.pop();
    }
}

fn merge_keyed_list(slot: &mut Value, items: &[Value], key: &str, path: &mut Path, schema: &Schema) {
    if items.iter().any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace")) {
        let kept: Vec<Value> = items.iter().filter(|i| i.get("$patch").is_none()).cloned().collect();
        *slot = Value::Array(kept);
        return;
    }
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    let list = slot.as_array_mut().expect("made an array above");
    for item in items {
        let id = item.get(key);
        let pos = id.and_then(|id| list.iter().position(|x| x.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        path.push(PathElement::Key(String::new()));
        match (pos, delete) {
            (Some(i), true) => {
                list.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut list[i], item, path, schema),
            (None, false) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, item, path, schema);
                list.push(fresh);
            }
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_containers_by_name_and_env_by_name() {
        let mut doc = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}
        ]}});
        let patch = json!({"spec": {"containers": [
            {"name": "a", "env": [{"name": "Y", "value": "2"}]},
            {"name": "b", "$patch": "delete"},
            {"name": "c", "image": "c:1"}
        ]}});
        strategic_merge(&mut doc, &patch, &mut Path::new(), &Schema::BUILTIN);
        assert_eq!(
            doc,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                {"name": "c", "image": "c:1"}
            ]}})
        );
    }

    #[test]
    fn strategic_merge_replaces_atomic_lists_and_deletes_nulls() {
        let mut doc = json!({"spec": {"args": ["a", "b"], "x": 1}, "metadata": {"finalizers": ["f1"]}});
        let patch = json!({"spec": {"args": ["c"], "x": null}, "metadata": {"finalizers": ["f2"]}});
        strategic_merge(&mut doc, &patch, &mut Path::new(), &Schema::BUILTIN);
        assert_eq!(doc, json!({"spec": {"args": ["c"]}, "metadata": {"finalizers": ["f1", "f2"]}}));
    }

    #[test]
    fn merge_patch_and_json_patch() {
        let old = json!({"data": {"a": "1", "b": "2"}});
        let merged = apply_patch(&old, br#"{"data":{"a":null,"c":"3"}}"#, PatchType::Merge, &Schema::BUILTIN).unwrap();
        assert_eq!(merged, json!({"data": {"b": "2", "c": "3"}}));
        let jp =
            apply_patch(&old, br#"[{"op":"replace","path":"/data/a","value":"9"}]"#, PatchType::Json, &Schema::BUILTIN)
                .unwrap();
        assert_eq!(jp, json!({"data": {"a": "9", "b": "2"}}));
        let bad =
            apply_patch(&old, br#"[{"op":"test","path":"/data/a","value":"0"}]"#, PatchType::Json, &Schema::BUILTIN);
        assert_eq!(bad.unwrap_err().code, 422);
    }

    #[test]
    fn strategic_merge_is_refused_for_custom_resources() {
        let err = apply_patch(&json!({}), b"{}", PatchType::Strategic, &Schema::CUSTOM).unwrap_err();
        assert_eq!(err.code, 415);
    }
}
