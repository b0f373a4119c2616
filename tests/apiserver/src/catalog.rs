//! The resource types the server serves: a table of built-in kinds plus one
//! entry per served version of each stored CustomResourceDefinition.
//!
//! Discovery, routing and storage all look resources up here, so a CRD is
//! served the moment it is stored.

use crate::fields::Schema;
use crate::store::Store;
use serde_json::Value;

/// The standard verbs of a resource.
pub(crate) const ALL_VERBS: &[&str] =
    &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// The resource key of CustomResourceDefinitions in the store.
pub(crate) const CRD_KEY: &str = "apiextensions.k8s.io/customresourcedefinitions";
/// The finalizer that holds a deleted CRD until its objects are gone.
pub(crate) const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";
/// The resource key of Namespaces in the store.
pub(crate) const NAMESPACE_KEY: &str = "/namespaces";

/// One served resource at one version.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ResourceType {
    /// API group ("" for core).
    pub(crate) group: String,
    /// Version.
    pub(crate) version: String,
    /// Kind.
    pub(crate) kind: String,
    /// Plural resource name (URL segment).
    pub(crate) plural: String,
    /// Singular name.
    pub(crate) singular: String,
    /// Namespaced or cluster-scoped.
    pub(crate) namespaced: bool,
    /// kubectl short names.
    pub(crate) short_names: Vec<String>,
    /// Categories (`all`).
    pub(crate) categories: Vec<String>,
    /// Whether `/status` is a subresource.
    pub(crate) has_status: bool,
    /// Whether objects carry `metadata.generation`.
    pub(crate) generation: bool,
    /// Verbs.
    pub(crate) verbs: Vec<String>,
    /// Built-in (false: from a CRD).
    pub(crate) builtin: bool,
    /// The CRD version's `openAPIV3Schema` (custom resources only).
    pub(crate) openapi: Option<Value>,
}

impl ResourceType {
    /// `v1` or `group/version`.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The storage key, shared by all versions: `group/plural`.
    pub(crate) fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// Merge-key knowledge for server-side apply.
    pub(crate) fn schema(&self) -> Schema {
        if self.builtin { Schema::BUILTIN } else { Schema::custom(self.openapi.clone()) }
    }
}

/// (group, version, kind, plural, namespaced, short names, status, generation, in "all")
type Row = (&'static str, &'static str, &'static str, &'static str, bool, &'static [&'static str], bool, bool, bool);

#[rustfmt::skip]
const BUILTINS: &[Row] = &[
    ("", "v1", "Namespace", "namespaces", false, &["ns"], true, false, false),
    ("", "v1", "ConfigMap", "configmaps", true, &["cm"], false, false, false),
    ("", "v1", "Secret", "secrets", true, &[], false, false, false),
    ("", "v1", "Service", "services", true, &["svc"], true, false, true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], false, false, false),
    ("", "v1", "Pod", "pods", true, &["po"], true, false, true),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], true, false, false),
    ("", "v1", "PersistentVolume", "persistentvolumes", false, &["pv"], true, false, false),
    ("", "v1", "Event", "events", true, &["ev"], false, false, false),
    ("", "v1", "Endpoints", "endpoints", true, &["ep"], false, false, false),
    ("", "v1", "LimitRange", "limitranges", true, &["limits"], false, false, false),
    ("", "v1", "ResourceQuota", "resourcequotas", true, &["quota"], true, false, false),
    ("apps", "v1", "Deployment", "deployments", true, &["deploy"], true, true, true),
    ("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"], true, true, true),
    ("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"], true, true, true),
    ("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"], true, true, true),
    ("apps", "v1", "ControllerRevision", "controllerrevisions", true, &[], false, false, false),
    ("batch", "v1", "Job", "jobs", true, &[], true, true, true),
    ("batch", "v1", "CronJob", "cronjobs", true, &["cj"], true, true, true),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true, &["ing"], true, true, false),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, &["netpol"], false, true, false),
    ("networking.k8s.io", "v1", "IngressClass", "ingressclasses", false, &[], false, false, false),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, &["pdb"], true, true, false),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], true, false, true),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true, &[], false, false, false),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, &[], false, false, false),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, &[], false, false, false),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, &[], false, false, false),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, &["crd", "crds"], true, true, false),
    ("coordination.k8s.io", "v1", "Lease", "leases", true, &[], false, false, false),
    ("events.k8s.io", "v1", "Event", "events", true, &["ev"], false, false, false),
    ("apiregistration.k8s.io", "v1", "APIService", "apiservices", false, &[], true, false, false),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", false, &["sc"], false, false, false),
    ("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, &["pc"], false, true, false),
];

/// The built-in resource types.
pub(crate) fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|&(group, version, kind, plural, namespaced, short, has_status, generation, all)| {
            let verbs: Vec<String> = ALL_VERBS
                .iter()
                .filter(|v| !(plural == "namespaces" && **v == "deletecollection"))
                .map(|v| v.to_string())
                .collect();
            ResourceType {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
                plural: plural.into(),
                singular: kind.to_lowercase(),
                namespaced,
                short_names: short.iter().map(|s| s.to_string()).collect(),
                categories: if all { vec!["all".into()] } else { Vec::new() },
                has_status,
                generation,
                verbs,
                builtin: true,
                openapi: None,
            }
        })
        .collect()
}

/// The resource types one CRD serves (one per served version).
pub(crate) fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let Some(versions) = spec["versions"].as_array() else {
        return Vec::new();
    };
    // A terminating CRD stays served until its objects are gone, so their
    // finalizers can still be removed.
    let kind = s(&names["kind"]);
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(false))
        .map(|v| ResourceType {
            group: s(&spec["group"]),
            version: s(&v["name"]),
            kind: kind.clone(),
            plural: s(&names["plural"]),
            singular: names["singular"].as_str().map(str::to_string).unwrap_or_else(|| kind.to_lowercase()),
            namespaced: spec["scope"].as_str() == Some("Namespaced"),
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            has_status: v.pointer("/subresources/status").is_some(),
            generation: true,
            verbs: ALL_VERBS.iter().map(|v| v.to_string()).collect(),
            builtin: false,
            openapi: v.pointer("/schema/openAPIV3Schema").cloned(),
        })
        .collect()
}

/// Whether a CRD serves `group`/`plural` (cheap check before [`from_crd`],
/// which copies the schema).
fn crd_serves(crd: &Value, group: &str, plural: &str) -> bool {
    crd.pointer("/spec/group").and_then(Value::as_str) == Some(group)
        && crd.pointer("/spec/names/plural").and_then(Value::as_str) == Some(plural)
}

/// Whether a CRD's kinds are served: once it is Established, and while it
/// terminates (so its objects' finalizers can still be removed).
pub(crate) fn established(crd: &Value) -> bool {
    crd.pointer("/metadata/deletionTimestamp").is_some()
        || crd
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"))
}

/// Every served resource type: built-ins, then custom resources.
pub(crate) fn all(store: &Store) -> Vec<ResourceType> {
    let mut out = builtins();
    for crd in store.list(CRD_KEY, None).into_iter().filter(|crd| established(crd)) {
        out.extend(from_crd(crd));
    }
    out
}

/// The storage keys of every stored resource type, established or not
/// (without copying schemas).
pub(crate) fn served_keys(store: &Store) -> std::collections::HashSet<String> {
    let mut keys: std::collections::HashSet<String> = builtins().iter().map(ResourceType::key).collect();
    for crd in store.list(CRD_KEY, None) {
        let s = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        keys.insert(format!("{}/{}", s("/spec/group"), s("/spec/names/plural")));
    }
    keys
}

/// The resource served at `group/version/plural`.
pub(crate) fn lookup(store: &Store, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
    let matches = |r: &ResourceType| r.group == group && r.version == version && r.plural == plural;
    if let Some(r) = builtins().into_iter().find(matches) {
        return Some(r);
    }
    store
        .list(CRD_KEY, None)
        .into_iter()
        .filter(|crd| crd_serves(crd, group, plural) && established(crd))
        .flat_map(from_crd)
        .find(matches)
}

/// A resource type stored under `key` (any served version).
pub(crate) fn by_key(store: &Store, key: &str) -> Option<ResourceType> {
    if let Some(r) = builtins().into_iter().find(|r| r.key() == key) {
        return Some(r);
    }
    let (group, plural) = key.split_once('/')?;
    store.list(CRD_KEY, None).into_iter().filter(|crd| crd_serves(crd, group, plural)).flat_map(from_crd).next()
}
