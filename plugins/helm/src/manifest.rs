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

/// The hook annotation's key as JSON writes it.
static HOOK_KEY: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new("\"helm.sh/hook\""));

/// One document of the output, with the template it came from.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `# Source:` path.
    pub source: String,
    /// The object as JSON text (`None` for a document of comments only).
    pub json: Option<String>,
    /// Its `kind` ("" when it has none, or not a string).
    kind: String,
    /// Its `helm.sh/hook` annotation, when set and not null.
    hook: Option<Json>,
    /// Its place in [`INSTALL_ORDER`] (after it when the kind is not there).
    rank: usize,
}

impl Manifest {
    /// Reads one document of `source`; errors name the template. The line
    /// reader writes a plain document's JSON straight away (reading it into
    /// values and encoding them was a tenth of an umbrella's render); only
    /// its `kind` and `metadata` are read back, for the order and hooks.
    pub fn read(source: String, doc: &str) -> Result<Manifest> {
        match crate::yaml::parse_json(doc) {
            Some(None) => return Ok(Manifest::new(source, None, None, None)),
            Some(Some(object)) if object.text.starts_with('{') => {
                let field = |key| object.field(key).and_then(|text| serde_json::from_str::<Json>(text).ok());
                // The writer writes that key as it is: metadata without the
                // text has no hook, and most documents are not read again.
                let metadata = match object.field("metadata") {
                    Some(text) if HOOK_KEY.find(text.as_bytes()).is_some() => field("metadata"),
                    _ => None,
                };
                let kind = field("kind");
                return Ok(Manifest::new(source, Some(object.text), kind.as_ref(), metadata.as_ref()));
            }
            // Not a mapping: the reader below words Helm's error.
            _ => {}
        }
        Ok(match parse_doc(&source, doc)? {
            Some(o) => Manifest::new(source, Some(o.to_string()), o.get("kind"), o.get("metadata")),
            None => Manifest::new(source, None, None, None),
        })
    }

    /// A document's manifest from its JSON text and its `kind` and
    /// `metadata` (`metadata` may be left out when it holds no hook).
    fn new(source: String, json: Option<String>, kind: Option<&Json>, metadata: Option<&Json>) -> Manifest {
        let kind = kind.and_then(Json::as_str).unwrap_or("").to_string();
        let hook = metadata.and_then(hook_of).filter(|h| !h.is_null()).cloned();
        Manifest { source, rank: rank(&kind), kind, hook, json }
    }

    /// The object as a value (read back from its JSON text).
    pub fn object(&self) -> Option<Json> {
        self.json.as_deref().and_then(|text| serde_json::from_str(text).ok())
    }
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
        a.rank
            .cmp(&b.rank)
            .then_with(|| if a.rank == INSTALL_ORDER.len() { a.kind.cmp(&b.kind) } else { std::cmp::Ordering::Equal })
    });
}

/// `annotations["helm.sh/hook"]` of an object's `metadata` (looked up by
/// key: a JSON pointer unescapes its path on every call).
fn hook_of(metadata: &Json) -> Option<&Json> {
    metadata.get("annotations")?.get("helm.sh/hook")
}

fn is_test_hook(hook: &Json) -> bool {
    hook.as_str().is_some_and(|h| h.split(',').any(|e| matches!(e.trim(), "test" | "test-success")))
}

/// Parses one document into a value; errors name the template.
fn parse_doc(source: &str, doc: &str) -> Result<Option<Json>> {
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
            let m = Manifest::read(path.clone(), doc)?;
            match &m.hook {
                Some(hook) => {
                    if !(skip_tests && is_test_hook(hook)) {
                        hooks.push(m)
                    }
                }
                None => generic.push(m),
            }
        }
    }
    sort_by_kind(&mut generic);
    sort_by_kind(&mut hooks);
    generic.extend(hooks);
    Ok(generic)
}
