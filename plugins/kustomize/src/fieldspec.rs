//! Field specs: "apply this to path P of objects of kind K", the way every
//! built-in transformer finds its fields, plus kustomize's default specs.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Result, msg};
use crate::resource::{Gvk, Resource};

/// One field spec (`path`, optional gvk, `create`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct FieldSpec {
    /// Group selector.
    pub group: String,
    /// Version selector.
    pub version: String,
    /// Kind selector.
    pub kind: String,
    /// Slash-separated path (`\/` escapes a slash, `x[]` marks a list).
    pub path: String,
    /// Create the field when missing.
    #[serde(rename = "create")]
    pub create: bool,
    /// Skip (used by some legacy configs).
    pub skip: bool,
}

impl FieldSpec {
    /// A spec on every kind.
    pub fn any(path: &str, create: bool) -> FieldSpec {
        FieldSpec { path: path.into(), create, ..Default::default() }
    }
    /// The selector gvk.
    pub fn gvk(&self) -> Gvk {
        Gvk { group: self.group.clone(), version: self.version.clone(), kind: self.kind.clone() }
    }
    /// Whether the spec applies to a resource.
    pub fn applies(&self, r: &Resource) -> bool {
        self.applies_to(&r.gvk())
    }

    /// Whether the spec applies to objects of `g` (without allocating).
    pub fn applies_to(&self, g: &Gvk) -> bool {
        !self.skip
            && (self.group.is_empty() || self.group == g.group)
            && (self.version.is_empty() || self.version == g.version)
            && (self.kind.is_empty() || self.kind == g.kind)
    }
}

/// Adds specs not yet present (kustomize's `FsSlice.MergeAll`).
pub fn merge_specs(into: &mut Vec<FieldSpec>, from: &[FieldSpec]) {
    for f in from {
        if !into.iter().any(|x| x.path == f.path && x.gvk() == f.gvk()) {
            into.push(f.clone());
        }
    }
}

/// Splits a field-spec path into segments.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// What to create at the end of a path when it is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create a scalar (`Null`, then set by the callback).
    Scalar,
    /// Create an empty map.
    Map,
}

/// Calls `f` on every node at `fs.path` in `obj` (descending into lists),
/// creating missing fields when the spec says so.
pub fn apply(obj: &mut Value, fs: &FieldSpec, kind: Create, f: &mut dyn FnMut(&mut Value) -> Result<()>) -> Result<()> {
    let segs = split_path(&fs.path);
    walk(obj, &segs, fs.create, kind, f)
}

fn walk(
    node: &mut Value,
    segs: &[String],
    create: bool,
    kind: Create,
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    if segs.is_empty() {
        return f(node);
    }
    match node {
        Value::Array(items) => {
            for it in items {
                walk(it, segs, create, kind, f)?;
            }
            Ok(())
        }
        Value::Object(m) => {
            let (name, is_seq) = match segs[0].strip_suffix("[]") {
                Some(n) => (n, true),
                None => (segs[0].as_str(), false),
            };
            if !m.contains_key(name) {
                if !create || is_seq {
                    return Ok(());
                }
                let new =
                    if segs.len() == 1 && kind == Create::Scalar { Value::Null } else { Value::Object(Map::new()) };
                m.insert(name.to_string(), new);
            }
            let child = m.get_mut(name).expect("present");
            if child.is_null() && segs.len() > 1 {
                if is_seq {
                    return Ok(());
                }
                *child = Value::Object(Map::new());
            } else if child.is_null() && kind == Create::Map {
                *child = Value::Object(Map::new());
            }
            walk(child, &segs[1..], create, kind, f)
        }
        Value::Null => Ok(()),
        _ => Err(msg(format!("expected sequence or mapping node at '{}'", segs.join("/")))),
    }
}
