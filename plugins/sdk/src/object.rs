//! Typed helpers for the objects a plugin reads and writes: which object a
//! diagnostic is about ([`ObjectRef::of`]), where in it ([`FieldPath`]),
//! diagnostics built in one line ([`Diagnostic::error`] and friends), an
//! object's metadata, and objects read into the plugin's own types (for
//! example `k8s_openapi` structs) with errors that name the object.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{Diagnostic, Error, ObjectRef, Severity};

impl ObjectRef {
    /// The reference of a Kubernetes object: its `apiVersion`, `kind`,
    /// `metadata.namespace` and `metadata.name` (empty when absent).
    pub fn of(object: &Value) -> Self {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
        Self {
            api_version: text("/apiVersion"),
            kind: text("/kind"),
            namespace: object.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_owned),
            name: text("/metadata/name"),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    /// `Kind/namespace/name` (`Kind/name` when cluster-scoped), as the engine writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{}/{namespace}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// A field path in an object, written as Kubernetes writes them in its
/// validation errors: `spec.template.spec.containers[0].image`, and map
/// keys in brackets, `metadata.labels[app.kubernetes.io/name]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    /// The path of a top-level field (`spec`, `metadata`).
    pub fn new(field: &str) -> Self {
        Self(field.to_owned())
    }

    /// This path, then the field `name`.
    pub fn child(mut self, name: &str) -> Self {
        if !self.0.is_empty() {
            self.0.push('.');
        }
        self.0.push_str(name);
        self
    }

    /// This path, then the list element `index`.
    pub fn index(mut self, index: usize) -> Self {
        self.0.push_str(&format!("[{index}]"));
        self
    }

    /// This path, then the map entry `key` (a label, an annotation).
    pub fn key(mut self, key: &str) -> Self {
        self.0.push_str(&format!("[{key}]"));
        self
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<FieldPath> for String {
    fn from(path: FieldPath) -> Self {
        path.0
    }
}

impl Diagnostic {
    /// A diagnostic of `severity` about nothing in particular yet.
    pub fn new(severity: Severity, message: impl Into<String>) -> Self {
        Self { severity, message: message.into(), object: None, field: None, file: None }
    }

    /// An error: from an enforcing validator, it stops the sync.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }

    /// A warning: reported, the sync goes on.
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }

    /// A note.
    pub fn info(message: impl Into<String>) -> Self {
        Self::new(Severity::Info, message)
    }

    /// About this object (see [`ObjectRef::of`]).
    pub fn about(self, object: &Value) -> Self {
        Self { object: Some(ObjectRef::of(object)), ..self }
    }

    /// At this field of the object.
    pub fn at(self, field: impl Into<String>) -> Self {
        Self { field: Some(field.into()), ..self }
    }

    /// About this file of the snapshot.
    pub fn in_file(self, file: impl Into<String>) -> Self {
        Self { file: Some(file.into()), ..self }
    }
}

/// The object's `metadata.name` (empty when absent).
pub fn name(object: &Value) -> &str {
    object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
}

/// The object's labels (empty when it has none).
pub fn labels(object: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    object.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// The object's `metadata.labels`, created when absent; an object without
/// `metadata`, or whose labels are not a map, is invalid input.
pub fn labels_mut(object: &mut Value) -> Result<&mut Map<String, Value>, Error> {
    metadata_map_mut(object, "labels")
}

/// The object's `metadata.annotations`, created when absent (as [`labels_mut`]).
pub fn annotations_mut(object: &mut Value) -> Result<&mut Map<String, Value>, Error> {
    metadata_map_mut(object, "annotations")
}

fn metadata_map_mut<'a>(object: &'a mut Value, field: &str) -> Result<&'a mut Map<String, Value>, Error> {
    let reference = ObjectRef::of(object);
    let invalid = |what: &str| Error::InvalidInput(format!("{reference}: {what}"));
    let metadata = object.get_mut("metadata").and_then(Value::as_object_mut).ok_or_else(|| invalid("no metadata"))?;
    metadata
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| invalid(&format!("metadata.{field} is not a map")))
}

/// Reads an object into a type of the plugin's own (a `k8s_openapi`
/// `Deployment`, a struct of the fields it needs); the error names the
/// object and serde's reason.
pub fn from_value<T: DeserializeOwned>(object: &Value) -> Result<T, Error> {
    T::deserialize(object).map_err(|e| Error::InvalidInput(format!("{}: {e}", ObjectRef::of(object))))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_reference_and_a_path_name_the_object_and_the_field() {
        let object =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}});
        let path = FieldPath::new("spec").child("template").child("spec").child("containers").index(0).child("image");
        let diagnostic = Diagnostic::error("image has no tag").about(&object).at(path);
        assert_eq!(diagnostic.field.as_deref(), Some("spec.template.spec.containers[0].image"));
        let reference = diagnostic.object.unwrap();
        assert_eq!(reference.to_string(), "Deployment/shop/web");
        assert_eq!(reference.api_version, "apps/v1");
        assert_eq!(
            FieldPath::new("metadata").child("labels").key("app.kubernetes.io/name").as_str(),
            "metadata.labels[app.kubernetes.io/name]"
        );
        assert_eq!(ObjectRef::of(&json!({"kind": "Namespace", "metadata": {"name": "a"}})).to_string(), "Namespace/a");
    }

    #[test]
    fn labels_are_created_and_bad_metadata_is_named() {
        let mut object = json!({"kind": "ConfigMap", "metadata": {"name": "c"}});
        labels_mut(&mut object).unwrap().insert("team".into(), json!("a"));
        assert_eq!(labels(&object)["team"], "a");
        assert!(labels(&json!({})).is_empty());
        let mut bad = json!({"kind": "ConfigMap", "metadata": {"name": "c", "labels": []}});
        let Err(Error::InvalidInput(message)) = labels_mut(&mut bad) else { panic!("must fail") };
        assert_eq!(message, "ConfigMap/c: metadata.labels is not a map");
    }

    #[test]
    fn objects_read_into_own_types_name_the_object_on_error() {
        #[derive(serde::Deserialize)]
        struct Replicas {
            #[allow(dead_code)]
            spec: Spec,
        }
        #[derive(serde::Deserialize)]
        struct Spec {
            #[allow(dead_code)]
            replicas: u32,
        }
        let object = json!({"kind": "Deployment", "metadata": {"name": "w"}, "spec": {"replicas": "two"}});
        let Err(Error::InvalidInput(message)) = from_value::<Replicas>(&object) else { panic!("must fail") };
        assert!(message.starts_with("Deployment/w: invalid type: string \"two\""), "{message}");
    }
}
