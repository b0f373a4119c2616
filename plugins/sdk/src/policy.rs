//! What every policy (validator) plugin needs to decide which objects a
//! rule is about, the way the API server decides at admission: an object's
//! group, version, scope and namespace, its namespace's labels, label
//! selectors, and reading policy files that must stay inside the snapshot.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ObjectRef;

/// Kinds that are cluster-scoped in Kubernetes: an object of another kind
/// is namespaced (in the Application's destination namespace when it names none).
pub const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "RuntimeClass",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "FlowSchema",
    "PriorityLevelConfiguration",
    "CertificateSigningRequest",
];

/// The plural resource name of a kind, as the API server's REST mapper
/// guesses it (`Ingress` → `ingresses`, `NetworkPolicy` → `networkpolicies`).
pub fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower == "endpoints" {
        return lower;
    }
    if let Some(stem) = lower.strip_suffix('y').filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u'])) {
        return format!("{stem}ies");
    }
    if lower.ends_with('s') || lower.ends_with('x') || lower.ends_with("ch") || lower.ends_with("sh") {
        return format!("{lower}es");
    }
    format!("{lower}s")
}

/// One object as admission sees it.
#[derive(Debug, Clone)]
pub struct Admitted<'a> {
    /// The object.
    pub json: &'a Value,
    /// Its reference, for diagnostics.
    pub object: ObjectRef,
    /// API group (`""` for core).
    pub group: &'a str,
    /// Version.
    pub version: &'a str,
    /// Namespace (the destination's when it names none); `None` when cluster-scoped.
    pub namespace: Option<String>,
    /// Its Namespace object: the rendered one, or one with its name and the
    /// label Kubernetes gives every namespace (`kubernetes.io/metadata.name`);
    /// the object itself for a Namespace; `None` when cluster-scoped.
    pub namespace_object: Option<Value>,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> Admitted<'a> {
    /// `namespaces` are the rendered Namespace objects by name ([`namespaces`]).
    pub fn new(json: &'a Value, default_namespace: Option<&str>, namespaces: &HashMap<&str, &Value>) -> Self {
        let text = |pointer: &str| json.pointer(pointer).and_then(Value::as_str).unwrap_or_default();
        let api_version = text("/apiVersion");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let kind = text("/kind");
        let own_namespace = json.pointer("/metadata/namespace").and_then(Value::as_str);
        let namespace =
            if CLUSTER_SCOPED.contains(&kind) { None } else { own_namespace.or(default_namespace).map(str::to_owned) };
        let namespace_object = match (kind, &namespace) {
            ("Namespace", _) => Some(json.clone()),
            (_, Some(ns)) => Some(namespaces.get(ns.as_str()).map(|n| (*n).clone()).unwrap_or_else(|| {
                serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}})
            })),
            (_, None) => None,
        };
        Self {
            object: ObjectRef {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                namespace: own_namespace.map(str::to_owned),
                name: text("/metadata/name").to_owned(),
            },
            json,
            group,
            version,
            namespace,
            namespace_object,
        }
    }

    /// The object's labels.
    pub fn labels(&self) -> &Map<String, Value> {
        self.json.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or(&EMPTY)
    }

    /// Its namespace's labels (empty when cluster-scoped).
    pub fn namespace_labels(&self) -> &Map<String, Value> {
        self.namespace_object
            .as_ref()
            .and_then(|n| n.pointer("/metadata/labels"))
            .and_then(Value::as_object)
            .unwrap_or(&EMPTY)
    }

    /// Whether a namespace selector applies: to namespaced objects and
    /// Namespaces, never to other cluster-scoped objects.
    pub fn has_namespace(&self) -> bool {
        self.namespace_object.is_some()
    }
}

/// The rendered Namespace objects, by name.
pub fn namespaces(items: &[Value]) -> HashMap<&str, &Value> {
    items
        .iter()
        .filter(|i| i.get("kind").and_then(Value::as_str) == Some("Namespace"))
        .filter_map(|i| Some((i.pointer("/metadata/name")?.as_str()?, i)))
        .collect()
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Every pair must be present.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Every requirement must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<Requirement>,
}

/// `key operator values`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// For `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Refuses an operator Kubernetes does not know, or values that do not fit it.
    pub fn check(&self) -> Result<(), String> {
        for (i, r) in self.match_expressions.iter().enumerate() {
            let ok = match r.operator.as_str() {
                "In" | "NotIn" => !r.values.is_empty(),
                "Exists" | "DoesNotExist" => r.values.is_empty(),
                _ => false,
            };
            if !ok {
                return Err(format!(
                    "matchExpressions[{i}]: operator {:?} with {} value(s) is not valid",
                    r.operator,
                    r.values.len()
                ));
            }
        }
        Ok(())
    }

    /// Whether `labels` satisfy the selector (an empty selector matches all).
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.match_labels.iter().all(|(k, v)| get(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|r| match r.operator.as_str() {
                "In" => get(&r.key).is_some_and(|v| r.values.iter().any(|x| x == v)),
                "NotIn" => get(&r.key).is_none_or(|v| !r.values.iter().any(|x| x == v)),
                "Exists" => labels.contains_key(&r.key),
                "DoesNotExist" => !labels.contains_key(&r.key),
                _ => false,
            })
    }
}

/// The files `path` names under `root` (the snapshot, preopened at `/`):
/// the file itself, or the files of a directory whose extension is one of
/// `extensions` (sorted, not recursive). Returns each file's path from the
/// root and its text. The path must stay in the snapshot: absolute paths
/// and `..` are refused (the preopen would refuse them too; this says why).
pub fn read_policy_files(root: &Path, path: &str, extensions: &[&str]) -> Result<Vec<(String, String)>, String> {
    let relative = Path::new(path.trim_start_matches("./"));
    if relative.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(format!("with.files: {path:?} must be a path inside the snapshot (no `..`, not absolute)"));
    }
    let full = root.join(relative);
    let read = |p: &Path| {
        let name = p.strip_prefix(root).unwrap_or(p).display().to_string();
        std::fs::read_to_string(p)
            .map(|text| (name.clone(), text))
            .map_err(|e| format!("with.files: failed to read {name}: {e}"))
    };
    if !full.is_dir() {
        return Ok(vec![read(&full)?]);
    }
    let mut entries: Vec<_> = std::fs::read_dir(&full)
        .map_err(|e| format!("with.files: failed to read {path}: {e}"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.contains(&e)))
        .collect();
    entries.sort();
    entries.iter().map(|p| read(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_follow_the_rest_mapper() {
        for (kind, resource) in [
            ("Deployment", "deployments"),
            ("Ingress", "ingresses"),
            ("NetworkPolicy", "networkpolicies"),
            ("Endpoints", "endpoints"),
            ("Gateway", "gateways"),
        ] {
            assert_eq!(plural(kind), resource);
        }
    }

    #[test]
    fn selectors_follow_kubernetes() {
        let labels: Map<String, Value> = serde_json::from_str(r#"{"team":"a","tier":"web"}"#).unwrap();
        let selector: LabelSelector = serde_json::from_str(
            r#"{"matchLabels":{"team":"a"},"matchExpressions":[{"key":"tier","operator":"In","values":["web","api"]},{"key":"x","operator":"DoesNotExist"}]}"#,
        )
        .unwrap();
        assert!(selector.matches(&labels));
        let not_in: LabelSelector =
            serde_json::from_str(r#"{"matchExpressions":[{"key":"tier","operator":"NotIn","values":["web"]}]}"#)
                .unwrap();
        assert!(!not_in.matches(&labels));
        let bad: LabelSelector =
            serde_json::from_str(r#"{"matchExpressions":[{"key":"a","operator":"Has"}]}"#).unwrap();
        assert!(bad.check().is_err());
    }
}
