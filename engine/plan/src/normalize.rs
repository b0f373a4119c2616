//! Normalisation: drop what the server populates, so a diff shows only what
//! a person or a manifest changed.
//!
//! Server defaults need no special case here: the desired side of a diff is
//! the server-side apply dry-run result, which carries the same defaults as
//! the live object.

use serde_json::{Map, Value};

/// `metadata` fields the server owns.
const SERVER_METADATA: [&str; 8] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The annotation in which apply records the digest of the manifest it
/// applied (its fast no-op check).
pub const DIGEST_ANNOTATION: &str = "capstan.dev/applied-digest";

/// Annotations that record history, not intent.
const HISTORY_ANNOTATIONS: [&str; 2] = ["kubectl.kubernetes.io/last-applied-configuration", DIGEST_ANNOTATION];

/// A copy of `object` without server-populated fields, `status`, history
/// annotations or empty `labels`/`annotations` maps.
pub fn normalize(object: &Value) -> Value {
    let mut out = object.clone();
    let Some(map) = out.as_object_mut() else { return out };
    map.remove("status");
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in SERVER_METADATA {
            meta.remove(key);
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for key in HISTORY_ANNOTATIONS {
                annotations.remove(key);
            }
        }
        drop_empty(meta, "annotations");
        drop_empty(meta, "labels");
    }
    out
}

fn drop_empty(map: &mut Map<String, Value>, key: &str) {
    if map.get(key).is_some_and(|v| v.is_null() || v.as_object().is_some_and(Map::is_empty)) {
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_server_fields_keeps_intent() {
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7", "generation": 2,
                "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{"manager": "capstan"}],
                "labels": {}, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "capstan.dev/applied-digest": "ab", "keep": "me"}},
            "data": {"k": "v"}, "status": {"x": 1}
        });
        assert_eq!(
            normalize(&live),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n", "annotations": {"keep": "me"}}, "data": {"k": "v"}})
        );
    }
}
