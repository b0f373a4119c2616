//! The little schema knowledge server-side apply needs: which lists are
//! associative (and by which keys), which are sets, which maps are atomic.
//!
//! Real API servers read this from the OpenAPI schema
//! (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
//! `x-kubernetes-map-type`). Here a table keyed by field name covers the
//! common built-in kinds; custom resources read those markers from their
//! CRD's `openAPIV3Schema` (lists without markers are atomic).

use super::PathElement;
use serde_json::Value;
use std::sync::Arc;

/// How a list merges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListType {
    /// Replaced as a whole; one owner.
    Atomic,
    /// Items are scalars identified by value.
    Set,
    /// Items are objects identified by these key fields.
    Map(Vec<String>),
}

/// Schema knowledge for one kind of object.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Schema {
    /// Whether the built-in merge-key table applies (false for custom resources).
    pub(crate) builtin: bool,
    /// A custom resource's `openAPIV3Schema`, when its CRD has one.
    pub(crate) openapi: Option<Arc<Value>>,
}

impl Schema {
    /// The schema of a built-in kind.
    pub(crate) const BUILTIN: Schema = Schema { builtin: true, openapi: None };
    /// The schema of a custom resource without an OpenAPI schema.
    #[cfg(test)]
    pub(crate) const CUSTOM: Schema = Schema { builtin: false, openapi: None };

    /// The schema of a custom resource with this `openAPIV3Schema`.
    pub(crate) fn custom(openapi: Option<Value>) -> Schema {
        Schema { builtin: false, openapi: openapi.map(Arc::new) }
    }

    /// How the list at `path` merges.
    pub(crate) fn list_type(&self, path: &[PathElement]) -> ListType {
        if let Some(node) = self.node(path) {
            match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("map") => {
                    let keys = node
                        .get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|ks| ks.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
                        .unwrap_or_default();
                    return ListType::Map(keys);
                }
                Some("set") => return ListType::Set,
                Some(_) => return ListType::Atomic,
                None => {}
            }
        }
        list_type(path, self.builtin)
    }

    /// Whether the map at `path` is atomic (label selectors are).
    pub(crate) fn is_atomic_map(&self, path: &[PathElement]) -> bool {
        if let Some(node) = self.node(path) {
            let marker = node.get("x-kubernetes-map-type").and_then(Value::as_str);
            return marker == Some("atomic");
        }
        // LabelSelector is `+structType=atomic`, Service's selector `+mapType=atomic`.
        self.builtin
            && matches!(last_field(path), Some(f) if f == "selector" || (f.ends_with("Selector") && f != "nodeSelector"))
    }

    /// The OpenAPI schema node at `path`, for custom resources with one.
    fn node(&self, path: &[PathElement]) -> Option<&Value> {
        let mut node = self.openapi.as_deref()?;
        if path.first() == Some(&PathElement::Field("metadata".into())) {
            return None;
        }
        for pe in path {
            node = match pe {
                PathElement::Field(f) => node
                    .get("properties")
                    .and_then(|p| p.get(f))
                    .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?,
                _ => node.get("items")?,
            };
        }
        Some(node)
    }
}

fn last_field(path: &[PathElement]) -> Option<&str> {
    match path.last() {
        Some(PathElement::Field(f)) => Some(f.as_str()),
        _ => None,
    }
}

fn keys(names: &[&str]) -> ListType {
    ListType::Map(names.iter().map(|n| n.to_string()).collect())
}

/// How the list at `path` merges, for a built-in kind when `builtin`.
fn list_type(path: &[PathElement], builtin: bool) -> ListType {
    let Some(name) = last_field(path) else {
        return ListType::Atomic;
    };
    let in_metadata = path.len() == 2 && path[0] == PathElement::Field("metadata".into());
    if in_metadata {
        return match name {
            "finalizers" => ListType::Set,
            "ownerReferences" => keys(&["uid"]),
            _ => ListType::Atomic,
        };
    }
    if !builtin {
        return ListType::Atomic;
    }
    // The parent of a list of ports tells container ports from service ports.
    let parent_is_item = matches!(path.len().checked_sub(2).map(|i| &path[i]), Some(PathElement::Key(_)));
    match name {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "imagePullSecrets"
        | "volumes"
        | "env"
        | "resourceClaims" => keys(&["name"]),
        "ports" if parent_is_item => keys(&["containerPort", "protocol"]),
        "ports" if path.len() == 2 => keys(&["port", "protocol"]),
        "volumeMounts" => keys(&["mountPath"]),
        "volumeDevices" => keys(&["devicePath"]),
        "conditions" => keys(&["type"]),
        "hostAliases" => keys(&["ip"]),
        "topologySpreadConstraints" => keys(&["topologyKey", "whenUnsatisfiable"]),
        "finalizers" => ListType::Set,
        _ => ListType::Atomic,
    }
}
