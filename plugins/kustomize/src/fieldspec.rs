//! Field specs: "apply this to path P of objects of kind K", the way every
//! built-in transformer finds its fields, plus kustomize's default specs.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Result, msg};
use crate::resource::{Gvk, field, field_mut};

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
    /// Whether the spec applies to objects of `g`.
    pub fn applies_to(&self, g: &Gvk) -> bool {
        !self.skip && g.as_ref().selected_by_parts(&self.group, &self.version, &self.kind)
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

/// The first segment of a field-spec path (unescaped) and the rest, if any
/// (as [`split_path`], without allocating unless the segment has escapes).
fn first_segment(path: &str) -> (Cow<'_, str>, Option<&str>) {
    let bytes = path.as_bytes();
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&b'/') => {
                escaped = true;
                i += 2;
            }
            b'/' => break,
            _ => i += 1,
        }
    }
    let (seg, rest) = if i < bytes.len() { (&path[..i], Some(&path[i + 1..])) } else { (path, None) };
    let seg = if escaped { Cow::Owned(seg.replace("\\/", "/")) } else { Cow::Borrowed(seg) };
    (seg, rest)
}

/// Calls `f` on every node at `fs.path` in `obj` (descending into lists),
/// creating missing fields when the spec says so.
pub fn apply(obj: &mut Value, fs: &FieldSpec, kind: Create, f: &mut dyn FnMut(&mut Value) -> Result<()>) -> Result<()> {
    apply_path(obj, &fs.path, fs.create, kind, f)
}

/// [`apply`] on a path, with `create` given apart from a spec.
pub fn apply_path(
    obj: &mut Value,
    path: &str,
    create: bool,
    kind: Create,
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    walk(obj, Some(path), create, kind, f)
}

/// Walks the segments of `path` (`None` once they are used up).
fn walk(
    node: &mut Value,
    path: Option<&str>,
    create: bool,
    kind: Create,
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    let Some(path) = path else {
        return f(node);
    };
    match node {
        Value::Array(items) => {
            for it in items {
                walk(it, Some(path), create, kind, f)?;
            }
            Ok(())
        }
        Value::Object(m) => {
            let (seg, rest) = first_segment(path);
            let (name, is_seq) = match seg.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (&*seg, false),
            };
            if field(m, name).is_none() {
                if !create || is_seq {
                    return Ok(());
                }
                let new =
                    if rest.is_none() && kind == Create::Scalar { Value::Null } else { Value::Object(Map::new()) };
                m.insert(name.to_string(), new);
            }
            let child = field_mut(m, name).expect("present");
            // kustomize's fieldspec filter gives a null field the kind it
            // expects: a list for `name[]` (`initContainers: null` becomes
            // `[]`), a map only where it may create; else null stays null.
            if child.is_null() {
                if is_seq {
                    *child = Value::Array(Vec::new());
                } else if create && (rest.is_some() || kind == Create::Map) {
                    *child = Value::Object(Map::new());
                }
            }
            walk(child, rest, create, kind, f)
        }
        Value::Null => Ok(()),
        _ => Err(msg(format!("expected sequence or mapping node at '{}'", split_path(path).join("/")))),
    }
}
