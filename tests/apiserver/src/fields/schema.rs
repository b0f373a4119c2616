//! The little schema knowledge server-side apply needs: which lists are
//! associative (and by which keys), which are sets, which maps are atomic.
//!
//! Real API servers read this from the OpenAPI schema
//! (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
//! `x-kubernetes-map-type`). Here a table keyed by field name covers the
//! common built-in kinds; custom resources get the metadata rules only, so
//! their lists are atomic (what a CRD without list-type markers gets).

use super::PathElement;

/// How a list merges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListType {
    /// Replaced as a whole; one owner.
    Atomic,
    /// Items are scalars identified by value.
    Set,
    /// Items are objects identified by these key fields.
    Map(Vec<&'static str>),
}

/// Schema knowledge for one kind of object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schema {
    /// Whether the built-in merge-key table applies (false for custom resources).
    pub(crate) builtin: bool,
}

impl Schema {
    /// The schema of a built-in kind.
    pub(crate) const BUILTIN: Schema = Schema { builtin: true };
    /// The schema of a custom resource.
    pub(crate) const CUSTOM: Schema = Schema { builtin: false };

    /// How the list at `path` merges.
    pub(crate) fn list_type(&self, path: &[PathElement]) -> ListType {
        list_type(path, self.builtin)
    }

    /// Whether the map at `path` is atomic (label selectors are).
    pub(crate) fn is_atomic_map(&self, path: &[PathElement]) -> bool {
        // LabelSelector is `+structType=atomic`, Service's selector `+mapType=atomic`.
        self.builtin
            && matches!(last_field(path), Some(f) if f == "selector" || (f.ends_with("Selector") && f != "nodeSelector"))
    }
}

fn last_field(path: &[PathElement]) -> Option<&str> {
    match path.last() {
        Some(PathElement::Field(f)) => Some(f.as_str()),
        _ => None,
    }
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
            "ownerReferences" => ListType::Map(vec!["uid"]),
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
        | "resourceClaims" => ListType::Map(vec!["name"]),
        "ports" if parent_is_item => ListType::Map(vec!["containerPort", "protocol"]),
        "ports" if path.len() == 2 => ListType::Map(vec!["port", "protocol"]),
        "volumeMounts" => ListType::Map(vec!["mountPath"]),
        "volumeDevices" => ListType::Map(vec!["devicePath"]),
        "conditions" => ListType::Map(vec!["type"]),
        "hostAliases" => ListType::Map(vec!["ip"]),
        "topologySpreadConstraints" => ListType::Map(vec!["topologyKey", "whenUnsatisfiable"]),
        "finalizers" => ListType::Set,
        _ => ListType::Atomic,
    }
}
