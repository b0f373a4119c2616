//! Schema facts for built-in kinds: strategic-merge list keys and scopes.
//!
//! The tables in `schema_data.rs` are generated from the Kubernetes OpenAPI
//! (as encoded in the `k8s-openapi` crate) by `tools/gen_schema.py`; see that
//! script to regenerate. Unknown kinds (CRDs) have no schema: they are
//! treated as namespaced, and their lists merge by kyaml's inferred keys.
//! Scopes are kustomize's own, by exact apiVersion ([`namespaced`]).

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

use crate::resource::Gvk;

#[path = "schema_data.rs"]
mod data;

/// How a list field merges in a strategic merge patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// Not a mergeable list (a map field, or an atomic list).
    None,
    /// A list of objects merged by this key.
    Map(&'static str),
    /// A list of scalars merged as a set.
    Set,
}

/// One field of a schema type.
#[derive(Debug)]
pub struct Field {
    /// JSON name.
    pub name: &'static str,
    /// List semantics.
    pub list: List,
    /// Index of the field's (element) type in the type table, or `u16::MAX`.
    pub child: u16,
}

/// One built-in kind.
#[derive(Debug)]
pub struct Kind {
    /// API group.
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Root type index, or `u16::MAX`.
    pub root: u16,
}

/// A position in the schema.
#[derive(Debug, Clone)]
pub enum Ty {
    /// A type of the built-in table.
    Static(u16),
    /// A definition of a custom OpenAPI document (`openapi.path`).
    Custom(Rc<Value>, Value),
}

/// A position in the schema, if known.
pub type TypeRef = Option<Ty>;

/// What a field is, as far as merging goes.
pub struct FieldInfo {
    /// List semantics.
    pub list: List,
    /// The field's (element) type.
    pub child: TypeRef,
}

thread_local! {
    static CUSTOM: RefCell<Option<Rc<Value>>> = const { RefCell::new(None) };
}

/// Installs (or clears) the custom OpenAPI document for this build, as
/// kustomize's `openapi:` field does (it is global to the build).
pub fn set_custom(doc: Option<Value>) {
    CUSTOM.with(|c| *c.borrow_mut() = doc.map(Rc::new));
}

fn custom_root(gvk: &Gvk) -> TypeRef {
    let doc = CUSTOM.with(|c| c.borrow().clone())?;
    let defs = doc.get("definitions")?.as_object()?;
    let def = defs.values().find(|d| {
        d.get("x-kubernetes-group-version-kind").and_then(Value::as_array).is_some_and(|a| {
            a.iter().any(|g| {
                g.get("kind").and_then(Value::as_str) == Some(&gvk.kind)
                    && g.get("group").and_then(Value::as_str).unwrap_or("") == gvk.group
                    && g.get("version")
                        .and_then(Value::as_str)
                        .is_none_or(|v| v == gvk.version || gvk.version.is_empty())
            })
        })
    })?;
    let def = def.clone();
    Some(Ty::Custom(doc, def))
}

/// Resolves a `$ref` in the custom document; definitions it lacks come from
/// the built-in schema (kustomize merges the two).
fn resolve(doc: &Rc<Value>, v: &Value) -> TypeRef {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/definitions/");
            match doc.get("definitions").and_then(|d| d.get(name)) {
                Some(d) => Some(Ty::Custom(doc.clone(), d.clone())),
                None => data::TYPE_NAMES
                    .binary_search_by(|(n, _)| (*n).cmp(name))
                    .ok()
                    .map(|i| Ty::Static(data::TYPE_NAMES[i].1)),
            }
        }
        None => v.is_object().then(|| Ty::Custom(doc.clone(), v.clone())),
    }
}

fn find_kind(gvk: &Gvk) -> Option<&'static Kind> {
    let exact = data::KINDS.iter().find(|k| k.kind == gvk.kind && k.group == gvk.group && k.version == gvk.version);
    exact.or_else(|| data::KINDS.iter().find(|k| k.kind == gvk.kind && k.group == gvk.group)).or_else(|| {
        // Old groups (extensions/v1beta1 Deployment…) share the schema of today's kind.
        let legacy = matches!(gvk.group.as_str(), "extensions" | "apps");
        data::KINDS.iter().find(|k| k.kind == gvk.kind && (legacy || gvk.group.is_empty() || k.group.is_empty()))
    })
}

/// Whether kustomize takes objects of this group, version and kind for
/// namespaced (unknown ones are; see [`CLUSTER_SCOPED`]).
pub fn namespaced(group: &str, version: &str, kind: &str) -> bool {
    if kind.is_empty() {
        return true;
    }
    // A build asks this for the same few kinds again and again.
    thread_local! {
        static SEEN: RefCell<Vec<(String, String, bool)>> = const { RefCell::new(Vec::new()) };
    }
    let api_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    if let Some(hit) = SEEN.with(|s| s.borrow().iter().find(|(a, k, _)| *a == api_version && k == kind).map(|x| x.2)) {
        return hit;
    }
    let v = lookup_namespaced(&api_version, kind);
    SEEN.with(|s| s.borrow_mut().push((api_version, kind.to_string(), v)));
    v
}

fn lookup_namespaced(api_version: &str, kind: &str) -> bool {
    !CLUSTER_SCOPED.iter().any(|(a, k)| *a == api_version && *k == kind)
}

/// The kinds kustomize v5.5 takes for cluster-scoped, by exact apiVersion:
/// those its built-in OpenAPI (Kubernetes v1.21.2, kyaml's
/// `precomputedIsNamespaceScoped`) lists with cluster scope. Every other
/// apiVersion and kind is namespaced to it, newer ones too
/// (`flowcontrol.apiserver.k8s.io/v1` FlowSchema, `admissionregistration.k8s.io/v1`
/// ValidatingAdmissionPolicy), so `namespace:` sets their namespace.
/// Regenerate with `tools/gen_scopes.py`.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
    ("apiregistration.k8s.io/v1", "APIService"),
    ("apiregistration.k8s.io/v1beta1", "APIService"),
    ("certificates.k8s.io/v1", "CertificateSigningRequest"),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "PriorityLevelConfiguration"),
    ("networking.k8s.io/v1", "IngressClass"),
    ("networking.k8s.io/v1beta1", "IngressClass"),
    ("node.k8s.io/v1", "RuntimeClass"),
    ("node.k8s.io/v1beta1", "RuntimeClass"),
    ("policy/v1beta1", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
    ("scheduling.k8s.io/v1beta1", "PriorityClass"),
    ("storage.k8s.io/v1", "CSIDriver"),
    ("storage.k8s.io/v1", "CSINode"),
    ("storage.k8s.io/v1", "StorageClass"),
    ("storage.k8s.io/v1", "VolumeAttachment"),
    ("storage.k8s.io/v1beta1", "CSIDriver"),
    ("storage.k8s.io/v1beta1", "CSINode"),
    ("storage.k8s.io/v1beta1", "StorageClass"),
    ("storage.k8s.io/v1beta1", "VolumeAttachment"),
    ("v1", "ComponentStatus"),
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "NodeProxyOptions"),
    ("v1", "PersistentVolume"),
];

/// The root type of a kind: the custom document's, else the built-in one.
pub fn root(gvk: &Gvk) -> TypeRef {
    custom_root(gvk).or_else(|| find_kind(gvk).map(|k| k.root).filter(|r| *r != u16::MAX).map(Ty::Static))
}

/// A field of a type.
pub fn field(t: &TypeRef, name: &str) -> Option<FieldInfo> {
    match t.as_ref()? {
        Ty::Static(i) => {
            let f = data::TYPES.get(*i as usize)?.iter().find(|f| f.name == name)?;
            Some(FieldInfo { list: f.list, child: Some(f.child).filter(|c| *c != u16::MAX).map(Ty::Static) })
        }
        Ty::Custom(doc, def) => {
            let prop = def.get("properties")?.get(name)?;
            if prop.get("type").and_then(Value::as_str) == Some("array") {
                let child = prop.get("items").and_then(|i| resolve(doc, i));
                let strategy = prop.get("x-kubernetes-patch-strategy").and_then(Value::as_str).unwrap_or("");
                let key = prop.get("x-kubernetes-patch-merge-key").and_then(Value::as_str);
                let list = if strategy.split(',').any(|s| s == "merge") {
                    match key {
                        Some(k) => List::Map(leak(k)),
                        None => List::Set,
                    }
                } else if prop.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
                    match prop.get("x-kubernetes-list-map-keys").and_then(|k| k.get(0)).and_then(Value::as_str) {
                        Some(k) => List::Map(leak(k)),
                        None => List::None,
                    }
                } else {
                    List::None
                };
                Some(FieldInfo { list, child })
            } else {
                Some(FieldInfo { list: List::None, child: resolve(doc, prop) })
            }
        }
    }
}

/// Merge keys of custom documents live for the whole program (a handful of
/// short strings), which keeps [`List`] `Copy` and allocation-free for the
/// built-in table.
fn leak(s: &str) -> &'static str {
    thread_local! {
        static KEYS: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    }
    KEYS.with(|k| {
        let mut k = k.borrow_mut();
        if let Some(x) = k.iter().find(|x| **x == s) {
            return *x;
        }
        let x: &'static str = Box::leak(s.to_string().into_boxed_str());
        k.push(x);
        x
    })
}

/// The type of a field (or of its elements).
pub fn child(t: &TypeRef, name: &str) -> TypeRef {
    field(t, name).and_then(|f| f.child)
}
