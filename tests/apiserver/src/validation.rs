//! The validation a real API server does that GitOps tools trip over most:
//! label and annotation syntax, workload selectors, immutable fields, and
//! the namespaces that may not be deleted. Everything else is accepted
//! (see the crate docs for what is not modelled).

use crate::catalog::ResourceType;
use crate::status::ApiError;
use serde_json::Value;

/// One 422 cause: (field, message, reason).
pub(crate) type Cause = (String, String, &'static str);

const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

fn key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if prefix.is_some_and(|p| !is_dns_subdomain(p)) {
        return Some(format!("Invalid value: \"{key}\": prefix part must be a lowercase RFC 1123 subdomain"));
    }
    (!is_name_part(name)).then(|| format!("Invalid value: \"{key}\": {QUALIFIED_NAME}"))
}

fn metadata_causes(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (field, values) in [("labels", true), ("annotations", false)] {
        let Some(map) = obj.pointer(&format!("/metadata/{field}")).and_then(Value::as_object) else {
            continue;
        };
        for (k, v) in map {
            if let Some(msg) = key_problem(k) {
                causes.push((format!("metadata.{field}"), msg, "FieldValueInvalid"));
            }
            let text = v.as_str().unwrap_or_default();
            if values && !text.is_empty() && !is_name_part(text) {
                let msg = format!("Invalid value: \"{text}\": {LABEL_VALUE}");
                causes.push((format!("metadata.{field}"), msg, "FieldValueInvalid"));
            }
        }
    }
    causes
}

fn is_workload(rt: &ResourceType) -> bool {
    rt.group == "apps" && matches!(rt.plural.as_str(), "deployments" | "statefulsets" | "daemonsets" | "replicasets")
}

fn workload_causes(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(selector) = obj.pointer("/spec/selector").filter(|s| !s.is_null()) else {
        return vec![("spec.selector".into(), "Required value".into(), "FieldValueRequired")];
    };
    let labels = obj.pointer("/spec/template/metadata/labels").and_then(Value::as_object);
    let wanted = selector.get("matchLabels").and_then(Value::as_object);
    let matches = wanted.is_none_or(|w| w.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)));
    if !matches {
        let shown = obj.pointer("/spec/template/metadata/labels").cloned().unwrap_or(Value::Null);
        causes.push((
            "spec.template.metadata.labels".into(),
            format!("Invalid value: {shown}: `selector` does not match template `labels`"),
            "FieldValueInvalid",
        ));
    }
    let containers = obj.pointer("/spec/template/spec/containers").and_then(Value::as_array);
    match containers {
        None => causes.push(("spec.template.spec.containers".into(), "Required value".into(), "FieldValueRequired")),
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                for f in ["name", "image"] {
                    if c.get(f).and_then(Value::as_str).is_none_or(str::is_empty) {
                        let field = format!("spec.template.spec.containers[{i}].{f}");
                        causes.push((field, "Required value".into(), "FieldValueRequired"));
                    }
                }
            }
        }
    }
    causes
}

/// Validates an object being created or updated (`old` on update).
pub(crate) fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let mut causes = metadata_causes(obj);
    if rt.builtin && is_workload(rt) {
        causes.extend(workload_causes(obj));
    }
    if let Some(old) = old {
        causes.extend(immutable_causes(rt, old, obj));
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    Err(ApiError::invalid(&rt.group, &rt.kind, name, causes))
}

fn immutable_causes(rt: &ResourceType, old: &Value, new: &Value) -> Vec<Cause> {
    if !rt.builtin {
        return Vec::new();
    }
    let changed = |p: &str| old.pointer(p) != new.pointer(p);
    let immutable = |p: &str| {
        let field = p.trim_start_matches('/').replace('/', ".");
        let shown = new.pointer(p).cloned().unwrap_or(Value::Null);
        (field, format!("Invalid value: {shown}: field is immutable"), "FieldValueInvalid")
    };
    let mut causes = Vec::new();
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apps", "deployments" | "daemonsets" | "replicasets") if changed("/spec/selector") => {
            causes.push(immutable("/spec/selector"));
        }
        ("apps", "statefulsets") => {
            let allowed = [
                "replicas",
                "ordinals",
                "template",
                "updateStrategy",
                "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds",
            ];
            let strip = |v: &Value| {
                let mut spec = v.get("spec").cloned().unwrap_or(Value::Null);
                if let Some(m) = spec.as_object_mut() {
                    m.retain(|k, _| !allowed.contains(&k.as_str()));
                }
                spec
            };
            if strip(old) != strip(new) {
                causes.push((
                    "spec".into(),
                    "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', \
                     'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
                        .into(),
                    "FieldValueForbidden",
                ));
            }
        }
        ("batch", "jobs") => {
            for p in ["/spec/selector", "/spec/template"] {
                if changed(p) {
                    causes.push(immutable(p));
                }
            }
        }
        ("", "configmaps" | "secrets") if old.get("immutable") == Some(&Value::Bool(true)) => {
            for p in ["/data", "/binaryData", "/stringData", "/immutable"] {
                if changed(p) {
                    causes.push(immutable(p));
                }
            }
        }
        ("", "services") => {
            for p in ["/spec/clusterIP"] {
                if old.pointer(p).is_some() && new.pointer(p).is_some() && changed(p) {
                    causes.push(immutable(p));
                }
            }
        }
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") if changed("/roleRef") => {
            let shown = new.get("roleRef").cloned().unwrap_or(Value::Null);
            causes.push((
                "roleRef".into(),
                format!("Invalid value: {shown}: cannot change roleRef"),
                "FieldValueInvalid",
            ));
        }
        _ => {}
    }
    causes
}

/// Namespaces a real cluster refuses to delete.
pub(crate) fn undeletable_namespace(name: &str) -> Option<ApiError> {
    matches!(name, "default" | "kube-system" | "kube-public")
        .then(|| ApiError::forbidden(format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::builtins;
    use serde_json::json;

    fn rt(plural: &str) -> ResourceType {
        builtins().into_iter().find(|r| r.plural == plural).unwrap()
    }

    fn deployment(selector: &str, label: &str) -> Value {
        json!({"metadata": {"name": "d", "labels": {"app.kubernetes.io/name": "web"}},
               "spec": {"selector": {"matchLabels": {"app": selector}},
                        "template": {"metadata": {"labels": {"app": label}},
                                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    }

    #[test]
    fn labels_are_checked() {
        let bad = json!({"metadata": {"name": "x", "labels": {"ok": "bad value!", "-bad-key": "v"}}});
        let err = validate(&rt("configmaps"), &bad, None).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.contains("metadata.labels"), "{}", err.message);
        assert!(validate(&rt("configmaps"), &json!({"metadata": {"labels": {"a.b/c": "", "x": "y.z"}}}), None).is_ok());
    }

    #[test]
    fn selectors_must_match_templates_and_stay_immutable() {
        assert!(validate(&rt("deployments"), &deployment("web", "web"), None).is_ok());
        let err = validate(&rt("deployments"), &deployment("web", "db"), None).unwrap_err();
        assert!(err.message.contains("`selector` does not match template `labels`"), "{}", err.message);
        let err = validate(&rt("deployments"), &deployment("db", "db"), Some(&deployment("web", "web"))).unwrap_err();
        assert!(err.message.contains("spec.selector: Invalid value"), "{}", err.message);
        assert!(err.message.contains("field is immutable"), "{}", err.message);
        assert!(err.message.starts_with("Deployment.apps \"d\" is invalid"), "{}", err.message);
    }

    #[test]
    fn immutable_config_maps_and_protected_namespaces() {
        let old = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let new = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "2"}});
        assert!(validate(&rt("configmaps"), &new, Some(&old)).is_err());
        assert!(undeletable_namespace("default").is_some());
        assert!(undeletable_namespace("apps").is_none());
    }
}
