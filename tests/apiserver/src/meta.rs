//! Object metadata helpers: timestamps, uids, name validation, and the
//! few server-side defaults the server applies.

use crate::catalog::ResourceType;
use crate::status::{ApiError, ApiResult};
use serde_json::{Map, Value, json};
use std::hash::{BuildHasher, Hasher};

/// Now, as a Kubernetes `Time` (RFC 3339, whole seconds, UTC).
pub(crate) fn now() -> String {
    let ts = k8s_openapi::jiff::Timestamp::now();
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

/// A random version-4-shaped UUID.
pub(crate) fn uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// Five random lowercase alphanumerics, for `generateName`.
pub(crate) fn name_suffix() -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = random_u64();
    (0..5)
        .map(|_| {
            let c = CHARS[(n % CHARS.len() as u64) as usize] as char;
            n /= CHARS.len() as u64;
            c
        })
        .collect()
}

/// Whether an `Accept` header asks for `PartialObjectMetadata` (kube's
/// `get_metadata`, `list_metadata`, `metadata_watcher`).
pub(crate) fn wants_metadata_only(accept: &str) -> bool {
    accept.contains("as=PartialObjectMetadata")
}

/// The `PartialObjectMetadata` form of an object.
pub(crate) fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A string field of `metadata`.
pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// The `metadata` object, created when missing.
pub(crate) fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"].as_object_mut().expect("metadata is an object")
}

const DNS1123_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Validates an object name for the resource; returns the 422 message.
pub(crate) fn validate_name(rt: &ResourceType, name: &str) -> Option<String> {
    let invalid = |rule: &str| Some(format!("Invalid value: \"{name}\": {rule}"));
    match rt.plural.as_str() {
        "namespaces" if !is_label(name) => invalid(DNS1123_LABEL),
        "services" if !(is_label(name) && name.as_bytes()[0].is_ascii_lowercase()) => invalid(DNS1035_LABEL),
        "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings" => {
            (name.contains('/') || name.contains('%') || name == "." || name == "..")
                .then(|| format!("Invalid value: \"{name}\": may not contain '/' or '%'"))
        }
        _ if name.len() > 253 || !name.split('.').all(is_label) => invalid(DNS1123_SUBDOMAIN),
        _ => None,
    }
}

/// Checks `metadata.name` (after generateName) and returns it.
pub(crate) fn checked_name(rt: &ResourceType, obj: &mut Value) -> ApiResult<String> {
    let name = meta_str(obj, "name").unwrap_or_default().to_string();
    let name = if name.is_empty() {
        match meta_str(obj, "generateName") {
            Some(prefix) if !prefix.is_empty() => {
                let generated = format!("{prefix}{}", name_suffix());
                metadata_mut(obj).insert("name".into(), json!(generated));
                generated
            }
            _ => {
                return Err(ApiError::invalid(
                    &rt.group,
                    &rt.kind,
                    "",
                    vec![(
                        "metadata.name".into(),
                        "Required value: name or generateName is required".into(),
                        "FieldValueRequired",
                    )],
                ));
            }
        }
    } else {
        name
    };
    if let Some(msg) = validate_name(rt, &name) {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            &name,
            vec![("metadata.name".into(), msg, "FieldValueInvalid")],
        ));
    }
    Ok(name)
}

/// Defaults a client-written object gets before field ownership is
/// computed: protocol TCP on ports of the built-in kinds.
pub(crate) fn default_fields(rt: &ResourceType, obj: &mut Value) {
    if rt.builtin {
        default_port_protocols(obj);
    }
}

fn default_port_protocols(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if k == "ports"
                    && let Some(items) = child.as_array_mut()
                {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        let is_port = item.contains_key("containerPort") || item.contains_key("port");
                        if is_port && !item.contains_key("protocol") {
                            item.insert("protocol".into(), json!("TCP"));
                        }
                    }
                }
                default_port_protocols(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(default_port_protocols),
        _ => {}
    }
}

/// Server-set status and metadata of a newly created object of a few kinds
/// (Namespace phase, CRD conditions).
pub(crate) fn server_defaults_on_create(rt: &ResourceType, obj: &mut Value, now: &str) {
    if !rt.builtin {
        return;
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => {
            let name = meta_str(obj, "name").unwrap_or_default().to_string();
            let meta = metadata_mut(obj);
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let meta = metadata_mut(obj);
            let fins = meta.entry("finalizers").or_insert_with(|| json!([]));
            if let Some(list) = fins.as_array_mut() {
                list.push(json!(crate::catalog::CRD_CLEANUP_FINALIZER));
            }
            crd_status(obj, now, false);
        }
        _ => {}
    }
}

/// The status of a CRD whose names are accepted: `Established` once the
/// collector served it (a moment after creation, as on a real server).
pub(crate) fn crd_status(obj: &mut Value, now: &str, established: bool) {
    let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let stored: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().filter(|v| v["storage"] == json!(true)).map(|v| v["name"].clone()).collect())
        .unwrap_or_default();
    let condition = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    let mut conditions = vec![condition("NamesAccepted", "NoConflicts", "no conflicts found")];
    if established {
        conditions.push(condition("Established", "InitialNamesAccepted", "the initial names have been accepted"));
    } else {
        conditions.push(json!({"type": "Established", "status": "False", "lastTransitionTime": now, "reason": "Installing", "message": "the initial names have been accepted"}));
    }
    obj["status"] = json!({
        "conditions": conditions,
        "acceptedNames": names,
        "storedVersions": stored,
    });
}

/// Validates a CRD's spec; returns the 422 causes.
pub(crate) fn validate_crd(obj: &Value) -> Vec<(String, String, &'static str)> {
    let mut causes = Vec::new();
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let (group, plural) = (s("/spec/group"), s("/spec/names/plural"));
    let required = |field: &str| (field.to_string(), "Required value".to_string(), "FieldValueRequired");
    if group.is_empty() {
        causes.push(required("spec.group"));
    }
    if plural.is_empty() {
        causes.push(required("spec.names.plural"));
    }
    if s("/spec/names/kind").is_empty() {
        causes.push(required("spec.names.kind"));
    }
    if !matches!(s("/spec/scope"), "Namespaced" | "Cluster") {
        causes.push((
            "spec.scope".into(),
            format!("Unsupported value: \"{}\": supported values: \"Cluster\", \"Namespaced\"", s("/spec/scope")),
            "FieldValueNotSupported",
        ));
    }
    let versions = obj.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push((
            "spec.versions".into(),
            "Invalid value: null: must have exactly one version marked as storage version".into(),
            "FieldValueInvalid",
        ));
    } else if versions.iter().filter(|v| v["storage"] == json!(true)).count() != 1 {
        causes.push((
            "spec.versions".into(),
            "Invalid value: must have exactly one version marked as storage version".into(),
            "FieldValueInvalid",
        ));
    }
    let name = s("/metadata/name");
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push((
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
            "FieldValueInvalid",
        ));
    }
    causes
}
