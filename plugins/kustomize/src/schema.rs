//! Schema facts for built-in kinds: strategic-merge list keys and scopes.
//!
//! The tables in `schema_data.rs` are generated from the Kubernetes OpenAPI
//! (as encoded in the `k8s-openapi` crate) by `tools/gen_schema.py`; see that
//! script to regenerate. Unknown kinds (CRDs) have no schema: they are
//! treated as namespaced, and their lists merge by kyaml's inferred keys.

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
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

/// A position in the schema: a type index.
pub type TypeRef = Option<u16>;

fn find_kind(gvk: &Gvk) -> Option<&'static Kind> {
    let exact = data::KINDS.iter().find(|k| k.kind == gvk.kind && k.group == gvk.group && k.version == gvk.version);
    exact
        .or_else(|| data::KINDS.iter().find(|k| k.kind == gvk.kind && k.group == gvk.group))
        .or_else(|| {
            // Old groups (extensions/v1beta1 Deployment…) share the schema of today's kind.
            let legacy = matches!(gvk.group.as_str(), "extensions" | "apps");
            data::KINDS.iter().find(|k| k.kind == gvk.kind && (legacy || gvk.group.is_empty() || k.group.is_empty()))
        })
}

/// Whether objects of `gvk` are namespaced (unknown kinds are).
pub fn namespaced(gvk: &Gvk) -> bool {
    if gvk.kind.is_empty() {
        return true;
    }
    match data::KINDS.iter().find(|k| k.kind == gvk.kind && k.group == gvk.group) {
        Some(k) => k.namespaced,
        None => data::KINDS
            .iter()
            .find(|k| k.kind == gvk.kind && (gvk.group.is_empty() || k.group.is_empty() || gvk.group == "extensions"))
            .map(|k| k.namespaced)
            .unwrap_or(true),
    }
}

/// The root type of a kind, if built in.
pub fn root(gvk: &Gvk) -> TypeRef {
    find_kind(gvk).map(|k| k.root).filter(|r| *r != u16::MAX)
}

/// A field of a type.
pub fn field(t: TypeRef, name: &str) -> Option<&'static Field> {
    let t = t?;
    data::TYPES.get(t as usize)?.iter().find(|f| f.name == name)
}

/// The type of a field (or of its elements).
pub fn child(t: TypeRef, name: &str) -> TypeRef {
    field(t, name).map(|f| f.child).filter(|c| *c != u16::MAX)
}
