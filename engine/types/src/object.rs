//! Kubernetes objects as stages pass them: JSON values with checked identity.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a JSON value is not a usable Kubernetes object.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The value is not a JSON object.
    #[error("expected a Kubernetes object (a mapping)")]
    NotAMapping,
    /// A required string field is missing or empty.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// `metadata.generateName` without `metadata.name` on an object that is
    /// not a hook: no later sync could find the object again.
    #[error(
        "metadata.generateName {0:?} without metadata.name: a generated name is accepted only on hooks (created \
         fresh on each sync, then deleted by their delete policy); an ordinary object needs a metadata.name so \
         Capstan can track, update and prune it"
    )]
    GeneratedName(String),
    /// The text is not JSON.
    #[error("invalid JSON")]
    Json(#[source] serde_json::Error),
}

/// The annotations that make an object a hook, first match wins:
/// Capstan's, Argo CD's and Helm's.
pub const HOOK_ANNOTATIONS: [&str; 3] = ["capstan.dev/hook", "argocd.argoproj.io/hook", "helm.sh/hook"];

/// The longest `generateName` prefix kept: the API server's (63 minus the
/// 5 random characters it appends).
pub const MAX_GENERATE_NAME_PREFIX: usize = 58;

/// A Kubernetes object: JSON with `apiVersion`, `kind` and `metadata.name`
/// — or, for a hook only, `metadata.generateName` (see [`Object::generate_name`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct Object(Value);

impl Object {
    /// Checks a JSON value and wraps it.
    pub fn new(value: Value) -> Result<Self, ObjectError> {
        let map = value.as_object().ok_or(ObjectError::NotAMapping)?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !text(map.get("apiVersion")) {
            return Err(ObjectError::Missing("apiVersion"));
        }
        if !text(map.get("kind")) {
            return Err(ObjectError::Missing("kind"));
        }
        if !text(value.pointer("/metadata/name")) {
            let hook = HOOK_ANNOTATIONS.iter().any(|key| {
                value.pointer("/metadata/annotations").and_then(|a| a.get(*key)).is_some_and(Value::is_string)
            });
            return match value.pointer("/metadata/generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() && hook => Ok(Self(value)),
                Some(prefix) if !prefix.is_empty() => Err(ObjectError::GeneratedName(prefix.to_owned())),
                _ => Err(ObjectError::Missing("metadata.name")),
            };
        }
        Ok(Self(value))
    }

    /// `metadata.generateName` of a hook that has no `metadata.name`: the
    /// plan names each run of it `PREFIX` + 5 random characters, as the
    /// API server would.
    pub fn generate_name(&self) -> Option<&str> {
        if !self.name().is_empty() {
            return None;
        }
        self.str_at("/metadata/generateName").filter(|s| !s.is_empty())
    }

    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        if let Some(meta) = self.0.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("name".into(), Value::String(name.to_owned()));
        }
    }

    /// Parses JSON text (as plugins return it).
    pub fn from_json(text: &str) -> Result<Self, ObjectError> {
        Self::new(serde_json::from_str(text).map_err(ObjectError::Json)?)
    }

    fn str_at(&self, pointer: &str) -> Option<&str> {
        self.0.pointer(pointer).and_then(Value::as_str)
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.str_at("/apiVersion").unwrap_or_default()
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.str_at("/kind").unwrap_or_default()
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.str_at("/metadata/name").unwrap_or_default()
    }

    /// `metadata.namespace`, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.str_at("/metadata/namespace").filter(|s| !s.is_empty())
    }

    /// Sets `metadata.namespace`.
    pub fn set_namespace(&mut self, namespace: &str) {
        if let Some(meta) = self.0.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("namespace".into(), Value::String(namespace.to_owned()));
        }
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.0.get("metadata")?.get("annotations")?.get(key)?.as_str()
    }

    /// API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version().rsplit_once('/').map_or("", |(g, _)| g)
    }

    /// The reference naming this object.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            api_version: self.api_version().to_owned(),
            kind: self.kind().to_owned(),
            namespace: self.namespace().map(str::to_owned),
            name: self.name().to_owned(),
        }
    }

    /// The JSON value.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The JSON value, mutable. Identity fields must stay set.
    pub fn as_value_mut(&mut self) -> &mut Value {
        &mut self.0
    }

    /// Unwraps the JSON value.
    pub fn into_value(self) -> Value {
        self.0
    }
}

impl TryFrom<Value> for Object {
    type Error = ObjectError;
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Object> for Value {
    fn from(object: Object) -> Self {
        object.0
    }
}

/// Names one object: `apiVersion`, `kind`, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks a sync when it comes from an enforcing policy.
    Error,
    /// Reported; does not block.
    Warning,
    /// For the record.
    Info,
}

/// A finding of a plugin, as in a KRM function `result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong, for a person.
    pub message: String,
    /// The object concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// Field path in that object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Snapshot file concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_is_checked() {
        let ok =
            Object::new(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}})).unwrap();
        assert_eq!((ok.group(), ok.kind(), ok.name(), ok.namespace()), ("apps", "Deployment", "web", None));
        assert_eq!(ok.object_ref().to_string(), "Deployment/web");
        let missing = Object::new(json!({"apiVersion": "v1", "metadata": {"name": "x"}})).unwrap_err();
        assert_eq!(missing.to_string(), "missing field `kind`");
        assert!(matches!(Object::new(json!([1])), Err(ObjectError::NotAMapping)));
        let generated = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "migrate-"}});
        let refused = Object::new(generated).unwrap_err().to_string();
        assert!(refused.contains("\"migrate-\"") && refused.contains("only on hooks"), "{refused}");
        let hook = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"generateName": "migrate-", "annotations": {"argocd.argoproj.io/hook": "PreSync"}}});
        let hook = Object::new(hook).expect("a hook may have a generated name");
        assert_eq!((hook.name(), hook.generate_name()), ("", Some("migrate-")));
        assert_eq!(ok.generate_name(), None);
    }
}
