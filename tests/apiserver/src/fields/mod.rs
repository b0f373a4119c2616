//! Field paths and field sets, the vocabulary of server-side apply.
//!
//! A [`Path`] names one field of an object the way structured-merge-diff
//! does: map fields (`f:name`), items of associative lists by their key
//! fields (`k:{"name":"nginx"}`), items of set lists by value (`v:"x"`) and,
//! rarely, list indices (`i:0`). A [`FieldSet`] is a set of paths and
//! serialises to and from the `fieldsV1` format stored in
//! `metadata.managedFields`.
//!
//! Which lists are associative is decided by [`ListType`] from a small table
//! of the built-in kinds' merge keys (see [`list_type`]); every other list is
//! atomic, as it is for a custom resource without `x-kubernetes-list-type`.
//! Start reading at [`FieldSet::from_value`].

mod schema;

pub(crate) use schema::{ListType, Schema};

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PathElement {
    /// A field of a map or struct.
    Field(String),
    /// An item of an associative list, by its key fields (canonical JSON
    /// object text with keys sorted).
    Key(String),
    /// An item of a set list, by its value (JSON text).
    Value(String),
    /// An item of a list by index (only read from foreign fieldsV1).
    Index(usize),
}

/// A path from the object root to one field.
pub(crate) type Path = Vec<PathElement>;

impl PathElement {
    /// The fieldsV1 key of this element (`f:x`, `k:{..}`, `v:..`, `i:N`).
    fn to_key(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    fn from_key(key: &str) -> Option<PathElement> {
        let (prefix, rest) = key.split_at_checked(2)?;
        match prefix {
            "f:" => Some(PathElement::Field(rest.to_string())),
            "k:" => {
                let v: Value = serde_json::from_str(rest).ok()?;
                Some(PathElement::Key(canonical_json(&v)))
            }
            "v:" => {
                let v: Value = serde_json::from_str(rest).ok()?;
                Some(PathElement::Value(canonical_json(&v)))
            }
            "i:" => rest.parse().ok().map(PathElement::Index),
            _ => None,
        }
    }
}

/// Formats a path like structured-merge-diff does in conflict messages:
/// `.spec.containers[name="nginx"].image`.
pub(crate) struct DisplayPath<'a>(pub &'a [PathElement]);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in self.0 {
            match pe {
                PathElement::Field(name) => write!(f, ".{name}")?,
                PathElement::Key(k) => {
                    let parsed: Value = serde_json::from_str(k).unwrap_or(Value::Null);
                    let parts: Vec<String> = parsed
                        .as_object()
                        .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                        .unwrap_or_default();
                    write!(f, "[{}]", parts.join(","))?;
                }
                PathElement::Value(v) => write!(f, "[={v}]")?,
                PathElement::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// Compact JSON with object keys sorted, so equal keys compare equal.
pub(crate) fn canonical_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// A set of field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    paths: BTreeSet<Path>,
}

impl FieldSet {
    /// The empty set.
    pub(crate) fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Whether the set has no paths.
    pub(crate) fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Iterates over the paths in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Path> {
        self.paths.iter()
    }

    /// Whether `path` is a member.
    pub(crate) fn contains(&self, path: &Path) -> bool {
        self.paths.contains(path)
    }

    /// Adds a path.
    pub(crate) fn insert(&mut self, path: Path) {
        self.paths.insert(path);
    }

    /// Removes a path.
    pub(crate) fn remove(&mut self, path: &Path) {
        self.paths.remove(path);
    }

    /// Paths in `self` but not in `other`.
    pub(crate) fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet { paths: self.paths.difference(&other.paths).cloned().collect() }
    }

    /// Paths in either set.
    pub(crate) fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet { paths: self.paths.union(&other.paths).cloned().collect() }
    }

    /// Whether some member path starts with `prefix` and is longer than it.
    pub(crate) fn has_descendant(&self, prefix: &Path) -> bool {
        self.paths
            .range(prefix.clone()..)
            .skip_while(|p| *p == prefix)
            .take_while(|p| p.starts_with(prefix))
            .next()
            .is_some()
    }

    /// The set of fields an object (or an apply configuration) specifies,
    /// as structured-merge-diff's `ToFieldSet` computes it: scalar leaves,
    /// atomic lists and maps, empty maps, and each associative/set list item.
    pub(crate) fn from_value(value: &Value, schema: &Schema) -> FieldSet {
        let mut set = FieldSet::new();
        let mut path = Path::new();
        collect(value, &mut path, schema, &mut set);
        set
    }

    /// Parses a `fieldsV1` object.
    pub(crate) fn from_fields_v1(v: &Value) -> FieldSet {
        fn walk(node: &Value, path: &mut Path, set: &mut FieldSet) {
            let Some(map) = node.as_object() else { return };
            if map.is_empty() && !path.is_empty() {
                set.insert(path.clone());
            }
            for (k, child) in map {
                if k == "." {
                    set.insert(path.clone());
                    continue;
                }
                if let Some(pe) = PathElement::from_key(k) {
                    path.push(pe);
                    walk(child, path, set);
                    path.pop();
                }
            }
        }
        let mut set = FieldSet::new();
        walk(v, &mut Path::new(), &mut set);
        set
    }

    /// Serialises to `fieldsV1`: nested objects keyed by path elements, `{}`
    /// for a member leaf and `".": {}` for a member that also has children.
    pub(crate) fn to_fields_v1(&self) -> Value {
        #[derive(Default)]
        struct Node {
            member: bool,
            children: std::collections::BTreeMap<PathElement, Node>,
        }
        fn render(node: &Node) -> Value {
            let mut out = Map::new();
            if node.member && !node.children.is_empty() {
                out.insert(".".to_string(), Value::Object(Map::new()));
            }
            for (pe, child) in &node.children {
                out.insert(pe.to_key(), render(child));
            }
            Value::Object(out)
        }
        let mut root = Node::default();
        for path in &self.paths {
            let mut node = &mut root;
            for pe in path {
                node = node.children.entry(pe.clone()).or_default();
            }
            node.member = true;
        }
        render(&root)
    }

    /// Drops every path starting with one of `prefixes`.
    pub(crate) fn without_prefixes(&self, prefixes: &[Path]) -> FieldSet {
        FieldSet {
            paths: self.paths.iter().filter(|p| !prefixes.iter().any(|pre| p.starts_with(pre))).cloned().collect(),
        }
    }

    /// Keeps only paths starting with one of `prefixes`.
    pub(crate) fn only_prefixes(&self, prefixes: &[Path]) -> FieldSet {
        FieldSet {
            paths: self.paths.iter().filter(|p| prefixes.iter().any(|pre| p.starts_with(pre))).cloned().collect(),
        }
    }
}

fn collect(value: &Value, path: &mut Path, schema: &Schema, set: &mut FieldSet) {
    match value {
        Value::Object(map) => {
            if schema.is_atomic_map(path) {
                set.insert(path.clone());
                return;
            }
            for (k, v) in map {
                path.push(PathElement::Field(k.clone()));
                let empty_map = v.as_object().is_some_and(Map::is_empty);
                if v.is_null() || empty_map {
                    set.insert(path.clone());
                } else {
                    collect(v, path, schema, set);
                }
                path.pop();
            }
        }
        Value::Array(items) => match schema.list_type(path) {
            ListType::Atomic => set.insert(path.clone()),
            ListType::Set => {
                for item in items {
                    path.push(PathElement::Value(canonical_json(item)));
                    set.insert(path.clone());
                    path.pop();
                }
            }
            ListType::Map(keys) => {
                for item in items {
                    let Some(key) = item_key(item, &keys) else {
                        continue;
                    };
                    path.push(PathElement::Key(key));
                    set.insert(path.clone());
                    collect(item, path, schema, set);
                    path.pop();
                }
            }
        },
        _ => {
            if !path.is_empty() {
                set.insert(path.clone());
            }
        }
    }
}

/// The canonical key of an associative list item, or `None` when the item
/// lacks a key field that has no default.
pub(crate) fn item_key(item: &Value, keys: &[String]) -> Option<String> {
    let obj = item.as_object()?;
    let mut key = Map::new();
    for k in keys {
        match obj.get(k) {
            Some(v) => {
                key.insert(k.clone(), v.clone());
            }
            // Ports default their protocol to TCP before keys are computed.
            None if k == "protocol" => {
                key.insert(k.clone(), Value::String("TCP".into()));
            }
            None => return None,
        }
    }
    Some(canonical_json(&Value::Object(key)))
}

/// The value at `path`, if the object has it.
pub(crate) fn get_at<'a>(value: &'a Value, path: &[PathElement], schema: &Schema) -> Option<&'a Value> {
    let mut cur = value;
    for (i, pe) in path.iter().enumerate() {
        cur = match pe {
            PathElement::Field(f) => cur.as_object()?.get(f)?,
            PathElement::Index(idx) => cur.as_array()?.get(*idx)?,
            PathElement::Value(v) => cur.as_array()?.iter().find(|x| canonical_json(x) == *v)?,
            PathElement::Key(k) => {
                let ListType::Map(keys) = schema.list_type(&path[..i]) else {
                    return None;
                };
                cur.as_array()?.iter().find(|x| item_key(x, &keys).as_deref() == Some(k))?
            }
        };
    }
    Some(cur)
}

/// Removes the field at `path`; returns whether something was removed.
pub(crate) fn remove_at(value: &mut Value, path: &[PathElement], schema: &Schema) -> bool {
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    let Some(parent) = get_at_mut(value, parent_path, schema) else {
        return false;
    };
    match last {
        PathElement::Field(f) => parent.as_object_mut().and_then(|m| m.shift_remove(f)).is_some(),
        PathElement::Index(i) => match parent.as_array_mut() {
            Some(a) if *i < a.len() => {
                a.remove(*i);
                true
            }
            _ => false,
        },
        PathElement::Value(v) => retain_items(parent, |x| canonical_json(x) != *v),
        PathElement::Key(k) => {
            let ListType::Map(keys) = schema.list_type(parent_path) else {
                return false;
            };
            retain_items(parent, |x| item_key(x, &keys).as_deref() != Some(k))
        }
    }
}

fn retain_items(list: &mut Value, keep: impl Fn(&Value) -> bool) -> bool {
    let Some(a) = list.as_array_mut() else {
        return false;
    };
    let before = a.len();
    a.retain(keep);
    a.len() != before
}

fn get_at_mut<'a>(value: &'a mut Value, path: &[PathElement], schema: &Schema) -> Option<&'a mut Value> {
    let mut cur = value;
    for (i, pe) in path.iter().enumerate() {
        cur = match pe {
            PathElement::Field(f) => cur.as_object_mut()?.get_mut(f)?,
            PathElement::Index(idx) => cur.as_array_mut()?.get_mut(*idx)?,
            PathElement::Value(v) => cur.as_array_mut()?.iter_mut().find(|x| canonical_json(x) == *v)?,
            PathElement::Key(k) => {
                let ListType::Map(keys) = schema.list_type(&path[..i]) else {
                    return None;
                };
                cur.as_array_mut()?.iter_mut().find(|x| item_key(x, &keys).as_deref() == Some(k))?
            }
        };
    }
    Some(cur)
}

/// Builds a field path from plain field names (test and table helper).
pub(crate) fn field_path(names: &[&str]) -> Path {
    names.iter().map(|n| PathElement::Field((*n).to_string())).collect()
}

#[cfg(test)]
mod tests;
