//! From rendered text to objects, as `helm template` prints them: each
//! file split on `---`, documents kept in file order, files in path order,
//! then a stable sort by kind in Helm's install order (unknown kinds last,
//! alphabetically); hooks after the rest, sorted the same way.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::error::{Error, Result};

/// Helm's `InstallOrder`.
const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// One document of the output, with the template it came from.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `# Source:` path.
    pub source: String,
    /// The parsed object (`None` for a document of comments only).
    pub object: Option<Json>,
    /// Its place in [`INSTALL_ORDER`] (after it when the kind is not there).
    rank: usize,
}

impl Manifest {
    /// A document from `source`.
    pub fn new(source: String, object: Option<Json>) -> Manifest {
        let rank = rank(kind(&object));
        Manifest { source, object, rank }
    }
}

fn kind(object: &Option<Json>) -> &str {
    object.as_ref().and_then(|o| o.get("kind")).and_then(Json::as_str).unwrap_or("")
}

/// Helm's `SplitManifests`: documents separated by lines starting `---`
/// (what follows the dashes on that line begins the next document).
pub fn split(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("---") {
            docs.push(&text[start..pos]);
            start = pos + 3;
        }
        pos += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

fn rank(kind: &str) -> usize {
    INSTALL_ORDER.iter().position(|k| *k == kind).unwrap_or(INSTALL_ORDER.len())
}

/// Known kinds in install order, then the others by name; stable. Each
/// document's rank is found once, not once per comparison.
fn sort_by_kind(v: &mut [Manifest]) {
    v.sort_by(|a, b| {
        a.rank.cmp(&b.rank).then_with(|| {
            if a.rank == INSTALL_ORDER.len() { kind(&a.object).cmp(kind(&b.object)) } else { std::cmp::Ordering::Equal }
        })
    });
}

/// `metadata.annotations["helm.sh/hook"]` (looked up by key: a JSON
/// pointer unescapes its path on every call).
fn hook(obj: &Json) -> Option<&Json> {
    obj.get("metadata")?.get("annotations")?.get("helm.sh/hook")
}

fn is_hook(obj: &Json) -> bool {
    hook(obj).is_some_and(|h| !h.is_null())
}

fn is_test_hook(obj: &Json) -> bool {
    hook(obj).and_then(Json::as_str).is_some_and(|h| h.split(',').any(|e| matches!(e.trim(), "test" | "test-success")))
}

/// Parses one document; errors name the template.
pub fn parse_doc(source: &str, doc: &str) -> Result<Option<Json>> {
    let v = crate::yaml::parse(doc).map_err(|e| Error::Yaml {
        source_path: source.to_string(),
        msg: format!("error converting YAML to JSON: {e}"),
    })?;
    match v {
        Json::Null => Ok(None),
        Json::Object(_) => Ok(Some(v)),
        // encoding/json's words for what the document is instead.
        _ => Err(Error::Yaml {
            source_path: source.to_string(),
            msg: format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type releaseutil.SimpleHead",
                match v {
                    Json::Array(_) => "array",
                    Json::String(_) => "string",
                    Json::Number(_) => "number",
                    _ => "bool",
                }
            ),
        }),
    }
}

/// Sorts rendered files into output order: regular manifests by kind, then
/// hooks by kind (test hooks dropped when `skip_tests`).
pub fn order(files: &BTreeMap<String, String>, skip_tests: bool) -> Result<Vec<Manifest>> {
    let mut generic = Vec::new();
    let mut hooks = Vec::new();
    for (path, text) in files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || base == "NOTES.txt" || text.trim().is_empty() {
            continue;
        }
        for doc in split(text) {
            let m = Manifest::new(path.clone(), parse_doc(path, doc)?);
            match &m.object {
                Some(o) if is_hook(o) => {
                    if !(skip_tests && is_test_hook(o)) {
                        hooks.push(m)
                    }
                }
                _ => generic.push(m),
            }
        }
    }
    sort_by_kind(&mut generic);
    sort_by_kind(&mut hooks);
    generic.extend(hooks);
    Ok(generic)
}
