//! Server-side apply's typed conversion: an applied object must fit its
//! kind's schema, or a real API server refuses the whole apply with a 500
//! (`failed to create typed patch object (ns/name; group/version,
//! Kind=Kind): .spec.x: field not declared in schema`), whatever
//! `fieldValidation` says. Other writes prune such fields instead
//! ([`crate::structural`]).
//!
//! Custom resources are checked against their structural schema; built-in
//! kinds at the top level and in `metadata` only (the server has no OpenAPI
//! of built-in kinds below that).

use serde_json::Value;

use crate::catalog::ResourceType;
use crate::status::{ApiError, ApiResult};

/// Fields of `ObjectMeta`.
const OBJECT_META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Top-level fields (besides `apiVersion`, `kind`, `metadata`) of the
/// built-in kinds that do not have just `spec` and `status`.
const TOP_LEVEL: &[(&str, &[&str])] = &[
    ("ConfigMap", &["data", "binaryData", "immutable"]),
    ("Secret", &["data", "stringData", "type", "immutable"]),
    ("ServiceAccount", &["secrets", "imagePullSecrets", "automountServiceAccountToken"]),
    ("Endpoints", &["subsets"]),
    ("ControllerRevision", &["data", "revision"]),
    ("Role", &["rules"]),
    ("ClusterRole", &["rules", "aggregationRule"]),
    ("RoleBinding", &["subjects", "roleRef"]),
    ("ClusterRoleBinding", &["subjects", "roleRef"]),
    (
        "StorageClass",
        &[
            "provisioner",
            "parameters",
            "reclaimPolicy",
            "mountOptions",
            "allowVolumeExpansion",
            "volumeBindingMode",
            "allowedTopologies",
        ],
    ),
    ("PriorityClass", &["value", "globalDefault", "description", "preemptionPolicy"]),
];

/// Kinds whose fields are not listed here (free-form or many): not checked.
const UNCHECKED: &[&str] = &["Event"];

/// 500 when `body`, applied to `rt` as `name`, has fields its schema does
/// not declare. The message names the namespace the body gives (none when
/// it relies on the URL's), as the real server's does.
pub(crate) fn check_apply(rt: &ResourceType, name: &str, body: &Value) -> ApiResult<()> {
    let ns = body.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    let mut undeclared = Vec::new();
    if let Some(meta) = body.get("metadata").and_then(Value::as_object) {
        undeclared.extend(meta.keys().filter(|k| !OBJECT_META.contains(&k.as_str())).map(|k| format!(".metadata.{k}")));
    }
    if let Some(schema) = &rt.openapi {
        let mut copy = body.clone();
        undeclared.extend(crate::structural::prune(&mut copy, schema).into_iter().map(|f| format!(".{f}")));
    } else if rt.builtin && !UNCHECKED.contains(&rt.kind.as_str()) {
        let own = TOP_LEVEL.iter().find(|(k, _)| *k == rt.kind).map_or(&["spec", "status"][..], |(_, f)| f);
        if let Some(fields) = body.as_object() {
            undeclared.extend(
                fields
                    .keys()
                    .filter(|k| !["apiVersion", "kind", "metadata"].contains(&k.as_str()) && !own.contains(&k.as_str()))
                    .map(|k| format!(".{k}")),
            );
        }
    }
    if undeclared.is_empty() {
        return Ok(());
    }
    let errors: Vec<String> = undeclared.iter().map(|f| format!("{f}: field not declared in schema")).collect();
    let errors = if errors.len() == 1 { errors[0].clone() } else { format!("errors:\n  {}", errors.join("\n  ")) };
    Err(ApiError::internal(format!(
        "failed to create typed patch object ({ns}/{name}; {}, Kind={}): {errors}",
        if rt.group.is_empty() { format!("/{}", rt.version) } else { rt.api_version() },
        rt.kind
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn misspelt_builtin_fields_and_metadata_are_named() {
        let cm = crate::catalog::builtins().into_iter().find(|r| r.kind == "ConfigMap").unwrap();
        let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {}}, "data": {}});
        assert!(check_apply(&cm, "a", &ok).is_ok());
        let bad =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ns"}, "dtaa": {}});
        let error = check_apply(&cm, "a", &bad).unwrap_err();
        assert_eq!(error.code, 500);
        assert_eq!(
            error.message,
            "failed to create typed patch object (ns/a; /v1, Kind=ConfigMap): .dtaa: field not declared in schema"
        );
    }
}
