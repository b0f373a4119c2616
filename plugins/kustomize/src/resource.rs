//! Resources: one Kubernetes object plus the bookkeeping kustomize keeps
//! beside it (previous ids for name references, generator behaviour, hash).

use capstan_plugin::yaml::{PlainValue, Rules};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Group, version and kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Gvk {
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

/// Group and version of an `apiVersion` ("v1" is the core group).
pub fn split_api(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// A gvk borrowed from an object: the hot paths compare ids of thousands
/// of objects and must not allocate for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GvkRef<'a> {
    /// API group ("" for core).
    pub group: &'a str,
    /// API version.
    pub version: &'a str,
    /// Kind.
    pub kind: &'a str,
}

impl GvkRef<'_> {
    /// Whether this gvk is selected by `sel` (empty selector fields match anything).
    pub fn selected_by(&self, sel: &Gvk) -> bool {
        self.selected_by_parts(&sel.group, &sel.version, &sel.kind)
    }

    /// [`GvkRef::selected_by`] a selector given as its three fields.
    pub fn selected_by_parts(&self, group: &str, version: &str, kind: &str) -> bool {
        (group.is_empty() || group == self.group)
            && (version.is_empty() || version == self.version)
            && (kind.is_empty() || kind == self.kind)
    }

    /// Whether this is `g`.
    pub fn is(&self, g: &Gvk) -> bool {
        self.kind == g.kind && self.group == g.group && self.version == g.version
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(&self) -> bool {
        crate::schema::namespaced(self.group, self.version, self.kind)
    }

    /// An owned copy.
    pub fn to_owned(self) -> Gvk {
        Gvk { group: self.group.into(), version: self.version.into(), kind: self.kind.into() }
    }
}

impl Gvk {
    /// Parses `apiVersion` and `kind`.
    pub fn from_api(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = split_api(api_version);
        GvkRef { group, version, kind }.to_owned()
    }

    /// This gvk, borrowed.
    pub fn as_ref(&self) -> GvkRef<'_> {
        GvkRef { group: &self.group, version: &self.version, kind: &self.kind }
    }

    /// Whether this gvk is selected by `sel` (empty selector fields match anything).
    pub fn selected_by(&self, sel: &Gvk) -> bool {
        self.as_ref().selected_by(sel)
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(&self) -> bool {
        self.as_ref().namespaced()
    }

    /// The string kustomize uses to order equal kinds.
    pub fn sort_string(&self) -> String {
        let or = |s: &str, d: &str| if s.is_empty() { d.to_string() } else { s.to_string() };
        format!("{}_{}_{}", or(&self.group, "~G"), or(&self.version, "~V"), or(&self.kind, "~K"))
    }
}

/// Identity of an object: gvk, name and namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ResId {
    /// Group, version, kind.
    pub gvk: Gvk,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` ("" when unset).
    pub namespace: String,
}

/// Namespace `ns` of an object of `gvk`, with "" read as "default" for
/// namespaced kinds ("" for cluster-scoped ones).
pub fn effective_ns<'a>(gvk: GvkRef, ns: &'a str) -> &'a str {
    if !gvk.namespaced() {
        ""
    } else if ns.is_empty() {
        "default"
    } else {
        ns
    }
}

impl ResId {
    /// Namespace with "" read as "default" for namespaced kinds.
    pub fn effective_ns(&self) -> &str {
        effective_ns(self.gvk.as_ref(), &self.namespace)
    }

    /// Equality as kustomize's `ResId.Equals` (namespace "" == "default").
    pub fn equals(&self, o: &ResId) -> bool {
        self.gvk == o.gvk && self.name == o.name && self.effective_ns() == o.effective_ns()
    }
}

impl std::fmt::Display for ResId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or = |s: &str, d: &'static str| if s.is_empty() { d.to_string() } else { s.to_string() };
        write!(
            f,
            "{}.{}.{}/{}.{}",
            or(&self.gvk.kind, "[noKind]"),
            or(&self.gvk.version, "[noVer]"),
            or(&self.gvk.group, "[noGrp]"),
            self.name,
            or(&self.namespace, "[noNs]")
        )
    }
}

/// How a generated object combines with an existing one of the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    /// A new object; a clash is an error.
    #[default]
    Create,
    /// Replace the existing object.
    Replace,
    /// Merge data, labels and annotations into the existing object.
    Merge,
}

impl Behavior {
    /// Parses `behavior:`.
    pub fn parse(s: &str) -> Option<Behavior> {
        match s {
            "" | "create" => Some(Behavior::Create),
            "replace" => Some(Behavior::Replace),
            "merge" => Some(Behavior::Merge),
            _ => None,
        }
    }
}

/// One object and its bookkeeping.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The object.
    pub obj: Value,
    /// Ids this object had before renames, oldest first.
    pub prev: Vec<ResId>,
    /// Generator behaviour, for generated objects.
    pub behavior: Option<Behavior>,
    /// Whether a content hash is appended to the name at the end.
    pub needs_hash: bool,
    /// Name prefixes applied, innermost first (to scope name references).
    pub prefixes: Vec<String>,
    /// Name suffixes applied, innermost first.
    pub suffixes: Vec<String>,
    /// Vars bound to this object (by the kustomization declaring them).
    pub ref_vars: Vec<String>,
    /// Where the file it was read from left a value empty (`key:`): a
    /// strategic-merge patch clears those it walks ([`crate::smp::clear_empty_values`]).
    pub empty_values: Vec<PlainValue>,
}

impl Resource {
    /// Wraps an object.
    pub fn new(obj: Value) -> Resource {
        Resource {
            obj,
            prev: Vec::new(),
            behavior: None,
            needs_hash: false,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            ref_vars: Vec::new(),
            empty_values: Vec::new(),
        }
    }

    /// Wraps an object read from a file, with the plain values that did not
    /// read as their text. kyaml writes an empty value of a flow mapping
    /// (`{key: }`) as `""`, and an annotation as the text it was written
    /// as (`0755` is `"0755"`, `null` is `"null"`).
    pub fn read(mut obj: Value, mut plain: Vec<PlainValue>) -> Resource {
        for e in &plain {
            let annotation = e.pointer.strip_prefix("/metadata/annotations/").is_some_and(|k| !k.contains('/'));
            if let Some(v) = obj.pointer_mut(&e.pointer)
                && (annotation || e.in_flow && e.is_empty() && v.is_null())
            {
                *v = Value::String(e.text.clone());
            }
        }
        plain.retain(PlainValue::is_empty);
        Resource { empty_values: plain, ..Resource::new(obj) }
    }

    /// The object's gvk.
    pub fn gvk(&self) -> Gvk {
        self.gvk_ref().to_owned()
    }
    /// The object's gvk, borrowed.
    pub fn gvk_ref(&self) -> GvkRef<'_> {
        let (group, version) = split_api(str_at(&self.obj, &["apiVersion"]));
        GvkRef { group, version, kind: str_at(&self.obj, &["kind"]) }
    }
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        str_at(&self.obj, &["metadata", "name"])
    }
    /// `metadata.namespace`.
    pub fn namespace(&self) -> &str {
        str_at(&self.obj, &["metadata", "namespace"])
    }
    /// The current id.
    pub fn id(&self) -> ResId {
        ResId { gvk: self.gvk(), name: self.name().to_string(), namespace: self.namespace().to_string() }
    }
    /// Every id this object had or has.
    pub fn all_ids(&self) -> impl Iterator<Item = ResId> + '_ {
        self.prev.iter().cloned().chain(std::iter::once(self.id()))
    }
    /// Whether the current id equals `id` (as [`ResId::equals`]).
    pub fn is(&self, id: &ResId) -> bool {
        let gvk = self.gvk_ref();
        gvk.is(&id.gvk) && self.name() == id.name && effective_ns(gvk, self.namespace()) == id.effective_ns()
    }
    /// Whether this object has or had `id` (as [`ResId::equals`]).
    pub fn had(&self, id: &ResId) -> bool {
        self.prev.iter().any(|x| x.equals(id)) || self.is(id)
    }
    /// Records the current id before a rename.
    pub fn remember_id(&mut self) {
        if !self.prev.last().is_some_and(|last| self.is_exactly(last)) {
            self.prev.push(self.id());
        }
    }
    /// Whether the current id is `id`, field by field (no namespace defaulting).
    fn is_exactly(&self, id: &ResId) -> bool {
        self.gvk_ref().is(&id.gvk) && self.name() == id.name && self.namespace() == id.namespace
    }
    /// Sets `metadata.name`, remembering the old id.
    pub fn set_name(&mut self, name: &str) {
        self.remember_id();
        set_at(&mut self.obj, &["metadata", "name"], Value::String(name.into()));
    }
    /// `metadata.labels` as pairs.
    pub fn labels(&self) -> Map<String, Value> {
        map_at(&self.obj, &["metadata", "labels"])
    }
    /// `metadata.annotations` as pairs.
    pub fn annotations(&self) -> Map<String, Value> {
        map_at(&self.obj, &["metadata", "annotations"])
    }
}

/// Maps up to this size are searched by comparing keys, which is cheaper
/// than hashing the key (SipHash) for the few fields of an object's maps;
/// id and field-spec lookups dominate a build's time otherwise.
const SCAN: usize = 16;

/// `m[key]`, scanning small maps.
pub fn field<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if m.len() <= SCAN { m.iter().find(|(k, _)| *k == key).map(|(_, v)| v) } else { m.get(key) }
}

/// `m[key]`, mutably, scanning small maps.
pub fn field_mut<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    if m.len() <= SCAN { m.iter_mut().find(|(k, _)| *k == key).map(|(_, v)| v) } else { m.get_mut(key) }
}

/// `v[key]` when `v` is a map (as [`Value::get`], scanning small maps).
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object().and_then(|m| field(m, key))
}

/// The string at a path of map keys ("" when absent or not a string).
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match get(cur, p) {
            Some(n) => cur = n,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

/// A map at a path (empty when absent).
pub fn map_at(v: &Value, path: &[&str]) -> Map<String, Value> {
    let mut cur = v;
    for p in path {
        match get(cur, p) {
            Some(n) => cur = n,
            None => return Map::new(),
        }
    }
    cur.as_object().cloned().unwrap_or_default()
}

/// Sets a value at a path of map keys, creating maps on the way.
pub fn set_at(v: &mut Value, path: &[&str], value: Value) {
    let mut cur = v;
    for (i, p) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let m = cur.as_object_mut().expect("object");
        if i + 1 == path.len() {
            m.insert((*p).to_string(), value);
            return;
        }
        cur = m.entry(p.to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Reads a YAML (or JSON) stream under `rules`, null documents left out:
/// [`Rules::Kustomize`] for resources and strategic-merge patches (as
/// kyaml reads them), [`Rules::Kubectl`] for what kustomize reads with
/// sigs.k8s.io/yaml (kustomization files, JSON 6902 patches, configs).
pub fn read_yaml(text: &str, path: &str, rules: Rules) -> Result<Vec<Value>> {
    capstan_plugin::yaml::read(text, rules).map_err(|source| Error::Yaml { path: path.into(), source })
}

/// Parses a multi-document YAML (or JSON) text into resources; `kind: List`
/// is flattened, empty documents are skipped.
pub fn parse_objects(text: &str, path: &str) -> Result<Vec<Resource>> {
    let docs = capstan_plugin::yaml::read_with_plain_values(text, Rules::Kustomize, annotations_not_strings)
        .map_err(|source| Error::Yaml { path: path.into(), source })?;
    let mut out = Vec::new();
    for (v, plain) in docs {
        push_object(v, plain, path, &mut out)?;
    }
    Ok(out)
}

/// Whether a document (or a `List`'s item) has an annotation that is not a
/// string: its text is wanted.
fn annotations_not_strings(doc: &Value) -> bool {
    let own = doc
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|m| m.values().any(|v| !v.is_string()));
    own || doc.get("items").and_then(Value::as_array).is_some_and(|items| items.iter().any(annotations_not_strings))
}

/// The plain values under `/{prefix}/{index}`, their pointers made relative to it.
fn plain_values_under(plain: &[PlainValue], prefix: &str, index: usize) -> Vec<PlainValue> {
    let base = format!("{prefix}/{index}/");
    plain
        .iter()
        .filter_map(|e| {
            let rest = e.pointer.strip_prefix(&base)?;
            Some(PlainValue { pointer: format!("/{rest}"), ..e.clone() })
        })
        .collect()
}

fn push_object(v: Value, plain: Vec<PlainValue>, path: &str, out: &mut Vec<Resource>) -> Result<()> {
    match v {
        Value::Null => Ok(()),
        Value::Object(ref m) if m.is_empty() => Ok(()),
        Value::Object(mut m) => {
            let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
            if kind.ends_with("List") && m.get("items").is_some_and(Value::is_array) {
                if let Some(Value::Array(items)) = m.remove("items") {
                    for (i, it) in items.into_iter().enumerate() {
                        // kustomize reads a List's items through JSON: their
                        // annotations have lost their text, not their empty values.
                        let mut items_plain = plain_values_under(&plain, "/items", i);
                        items_plain.retain(PlainValue::is_empty);
                        push_object(it, items_plain, path, out)?;
                    }
                }
                return Ok(());
            }
            if kind.is_empty() {
                return Err(crate::error::msg(format!(
                    "missing kind in object {:?} of '{path}'",
                    Value::Object(m.clone()).get("metadata").map(|x| x.to_string()).unwrap_or_default()
                )));
            }
            // kyaml's reader drops its own annotations from what it read,
            // and with them an empty or null `metadata.annotations`.
            if let Some(Value::Object(meta)) = m.get_mut("metadata")
                && meta.get("annotations").is_some_and(|a| a.is_null() || a.as_object().is_some_and(Map::is_empty))
            {
                meta.remove("annotations");
            }
            let mut obj = Value::Object(m);
            // kustomize reads annotations as a string map; label values stay
            // as written (`1`, `true`, `null`), whatever transforms them.
            if let Some(Value::Object(map)) = obj.get_mut("metadata").and_then(|md| md.get_mut("annotations")) {
                for v in map.values_mut() {
                    // A map or list has no text: kyaml reads it as "".
                    if v.is_object() || v.is_array() {
                        *v = Value::String(String::new());
                    } else if !v.is_string() {
                        *v = Value::String(crate::kustfile::scalar_string(v));
                    }
                }
            }
            out.push(Resource::read(obj, plain));
            Ok(())
        }
        Value::Array(items) => {
            for (i, it) in items.into_iter().enumerate() {
                push_object(it, plain_values_under(&plain, "", i), path, out)?;
            }
            Ok(())
        }
        other => Err(crate::error::msg(format!("'{path}': expected an object, found {other}"))),
    }
}

/// The single document of a YAML file kustomize reads with
/// sigs.k8s.io/yaml (a kustomization, a config), null when it holds none;
/// more than one is an error.
pub fn parse_one(text: &str, path: &str) -> Result<Value> {
    let mut docs = read_yaml(text, path, Rules::Kubectl)?;
    if docs.len() > 1 {
        return Err(crate::error::msg(format!("'{path}': expected one YAML document, found {}", docs.len())));
    }
    Ok(docs.pop().unwrap_or(Value::Null))
}
