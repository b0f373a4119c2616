//! Structural-schema behaviour of custom resources: pruning of fields the
//! CRD's `openAPIV3Schema` does not declare, and `default` values.
//!
//! Real API servers prune unknown fields silently (with a warning) unless
//! `x-kubernetes-preserve-unknown-fields` is set, so a GitOps tool that
//! applies undeclared fields sees them vanish and diffs forever; this
//! server does the same so that shows up in tests. Type validation is not
//! modelled.

use serde_json::Value;

/// Root fields never pruned.
const ROOT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata"];

/// Drops fields `schema` does not declare, at the object root; returns the
/// dropped fields as dotted paths (`spec.bogus`, `spec.items[0].extra`).
pub(crate) fn prune(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut dropped = Vec::new();
    prune_node(obj, schema, true, "", &mut dropped);
    dropped
}

fn preserves(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") }
}

fn prune_node(value: &mut Value, schema: &Value, root: bool, at: &str, dropped: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let embedded = schema.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true));
            let keep_unknown = preserves(schema) || additional == Some(&Value::Bool(true));
            map.retain(|k, _| {
                let keep = keep_unknown
                    || props.is_some_and(|p| p.contains_key(k))
                    || additional.is_some_and(Value::is_object)
                    || ((root || embedded) && ROOT_FIELDS.contains(&k.as_str()));
                if !keep {
                    dropped.push(join(at, k));
                }
                keep
            });
            for (k, v) in map.iter_mut() {
                if (root || embedded) && ROOT_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                let child = props.and_then(|p| p.get(k)).or_else(|| additional.filter(|a| a.is_object()));
                if let Some(s) = child {
                    prune_node(v, s, false, &join(at, k), dropped);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_node(item, s, false, &format!("{at}[{i}]"), dropped);
                }
            }
        }
        _ => {}
    }
}

/// Fills in `default` values of absent properties (inside present objects).
pub(crate) fn apply_defaults(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, s) in props {
                    if !map.contains_key(k)
                        && let Some(d) = s.get("default")
                    {
                        map.insert(k.clone(), d.clone());
                    }
                }
                for (k, v) in map.iter_mut() {
                    if let Some(s) = props.get(k) {
                        apply_defaults(v, s);
                    }
                }
            } else if let Some(s) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for v in map.values_mut() {
                    apply_defaults(v, s);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                items.iter_mut().for_each(|i| apply_defaults(i, s));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "size": {"type": "integer", "default": 1},
                "mode": {"type": "string", "default": "fast"},
                "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "child": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {}}
            }},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
        }})
    }

    #[test]
    fn unknown_fields_are_pruned_unless_preserved() {
        let mut obj = json!({
            "apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w"},
            "spec": {"size": 3, "bogus": 1, "items": [{"name": "a", "extra": 2}], "labels": {"k": "v"},
                     "free": {"anything": {"goes": true}},
                     "child": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}},
            "status": {"ready": true, "phase": "x"},
            "top": 1
        });
        let dropped = prune(&mut obj, &schema());
        assert_eq!(dropped, ["top", "spec.bogus", "spec.items[0].extra", "spec.child.data", "status.phase"]);
        assert_eq!(
            obj,
            json!({
                "apiVersion": "x/v1", "kind": "W", "metadata": {"name": "w"},
                "spec": {"size": 3, "items": [{"name": "a"}], "labels": {"k": "v"},
                         "free": {"anything": {"goes": true}},
                         "child": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}},
                "status": {"ready": true}
            })
        );
    }

    #[test]
    fn defaults_fill_absent_properties() {
        let mut obj = json!({"spec": {"size": 3}});
        apply_defaults(&mut obj, &schema());
        assert_eq!(obj, json!({"spec": {"size": 3, "mode": "fast"}}));
        let mut bare = json!({"metadata": {"name": "w"}});
        apply_defaults(&mut bare, &schema());
        assert_eq!(bare, json!({"metadata": {"name": "w"}}), "absent parents are not created");
    }
}
