//! What Capstan's last apply of an object left behind, recorded on the
//! object itself, so an unchanged re-sync costs no request beyond the read.
//!
//! A real API server does not store a manifest as written: it canonicalises
//! quantities (`1024Mi` → `1Gi`), turns a Secret's `stringData` into `data`,
//! drops empty maps and lists, and fills defaults. Comparing the manifest
//! with the live object therefore never says "unchanged" there. What does
//! stay put is the set of fields Capstan owns: server-side apply records it
//! in `managedFields`, and any other writer that changes or removes one of
//! those fields takes it out of that set (an update moves ownership, a
//! forced apply too, a removal drops it).
//!
//! So [`DIGEST_ANNOTATION`] holds two digests, `<manifest>.<fields>`: the
//! manifest as rendered, and Capstan's owned field set as the apply that
//! wrote it left it (known from the dry run just before, which has the
//! same field set). An object is unchanged since the last apply when the
//! manifest digest matches the current manifest and the fields digest
//! matches the live object's current field set of manager `capstan`.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::FIELD_MANAGER;
pub use capstan_plan::normalize::DIGEST_ANNOTATION;

/// The digest of the manifest as rendered (before the annotation is added).
pub(crate) fn manifest_digest(object: &Value) -> String {
    hex::encode(&Sha256::digest(object.to_string().as_bytes())[..16])
}

/// The digest of the fields manager `capstan` owns through apply in `object`
/// (its `managedFields` entry with operation `Apply` on the main resource);
/// `None` when it owns none.
pub(crate) fn fields_digest(object: &Value) -> Option<String> {
    let entries = object.pointer("/metadata/managedFields")?.as_array()?;
    let ours = entries.iter().find(|e| {
        e["manager"] == FIELD_MANAGER
            && e["operation"] == "Apply"
            && e.get("subresource").and_then(Value::as_str).is_none_or(str::is_empty)
    })?;
    let mut canonical = String::new();
    write_canonical(ours.get("fieldsV1")?, &mut canonical);
    Some(hex::encode(&Sha256::digest(canonical.as_bytes())[..16]))
}

/// Sets [`DIGEST_ANNOTATION`] on `object` to `manifest` and, once known, `fields`.
pub(crate) fn stamp(object: &mut Value, manifest: &str, fields: Option<&str>) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let annotations = meta.entry("annotations").or_insert_with(|| Value::Object(Default::default()));
    if !annotations.is_object() {
        *annotations = Value::Object(Default::default());
    }
    annotations[DIGEST_ANNOTATION] = Value::String(match fields {
        Some(fields) => format!("{manifest}.{fields}"),
        None => manifest.to_owned(),
    });
}

/// The recorded annotation value of `object`.
pub(crate) fn recorded(object: &Value) -> Option<&str> {
    object.pointer("/metadata/annotations")?.get(DIGEST_ANNOTATION)?.as_str()
}

/// Whether `live` was last applied by Capstan from a manifest with digest
/// `manifest` and no other writer changed a field Capstan owns since.
pub(crate) fn unchanged_since_last_apply(manifest: &str, live: &Value) -> bool {
    match (recorded(live), fields_digest(live)) {
        (Some(recorded), Some(fields)) => recorded.split_once('.') == Some((manifest, fields.as_str())),
        _ => false,
    }
}

/// A Secret's `stringData` folded into `data` (base64), as the API server
/// does on write: applied as `data`, its keys are fields Capstan owns, so a
/// change of a value by another writer shows in the field set (`stringData`
/// is write-only and never shows a change).
pub(crate) fn fold_string_data(object: &mut Value) {
    if object.get("kind").and_then(Value::as_str) != Some("Secret") || object.get("apiVersion") != Some(&"v1".into()) {
        return;
    }
    let Some(map) = object.as_object_mut() else { return };
    let Some(Value::Object(strings)) = map.shift_remove("stringData") else { return };
    let data = map.entry("data").or_insert_with(|| Value::Object(Default::default()));
    if !data.is_object() {
        *data = Value::Object(Default::default());
    }
    for (key, value) in strings {
        let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        let encoded = serde_json::to_value(k8s_openapi::ByteString(text.into_bytes())).unwrap_or(Value::Null);
        data[key.as_str()] = encoded;
    }
}

/// JSON with object keys sorted, so the digest does not depend on the order
/// the server wrote them in.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(fields: Value, recorded: &str) -> Value {
        json!({"metadata": {"annotations": {DIGEST_ANNOTATION: recorded}, "managedFields": [
            {"manager": "capstan", "operation": "Apply", "fieldsV1": fields},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {}}},
        ]}})
    }

    #[test]
    fn unchanged_needs_the_manifest_and_our_field_set_as_recorded() {
        let fields = json!({"f:spec": {"f:replicas": {}, "f:template": {}}});
        let digest = fields_digest(&live(fields.clone(), "")).unwrap();
        let recorded = format!("m1.{digest}");
        assert!(unchanged_since_last_apply("m1", &live(fields.clone(), &recorded)));
        assert!(!unchanged_since_last_apply("m2", &live(fields.clone(), &recorded)), "the manifest changed");
        let taken = json!({"f:spec": {"f:template": {}}});
        assert!(!unchanged_since_last_apply("m1", &live(taken, &recorded)), "another writer took spec.replicas");
        assert!(!unchanged_since_last_apply("m1", &live(fields, "m1")), "recorded by an older Capstan");
        let reordered = json!({"f:spec": {"f:template": {}, "f:replicas": {}}});
        assert_eq!(fields_digest(&live(reordered, "")).unwrap(), digest, "key order does not matter");
    }

    #[test]
    fn string_data_folds_into_data() {
        let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "YQ==", "b": "b2xk"}, "stringData": {"b": "new", "c": "hunter2"}});
        fold_string_data(&mut secret);
        assert_eq!(secret["data"], json!({"a": "YQ==", "b": "bmV3", "c": "aHVudGVyMg=="}));
        assert!(secret.get("stringData").is_none());
        let mut config = json!({"apiVersion": "v1", "kind": "ConfigMap", "stringData": {"a": "b"}});
        fold_string_data(&mut config);
        assert_eq!(config["stringData"], json!({"a": "b"}), "only Secrets");
    }
}
