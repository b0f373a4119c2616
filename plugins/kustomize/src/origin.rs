//! `buildMetadata`: origin annotations (`config.kubernetes.io/origin`) and
//! transformer annotations (`alpha.config.kubernetes.io/transformations`),
//! written as kustomize writes them.

use std::path::{Component, Path};

use serde_json::Value;

use crate::resource::{Resource, set_at, str_at};

/// The origin annotation key.
pub const ORIGIN: &str = "config.kubernetes.io/origin";
/// The transformations annotation key.
pub const TRANSFORMATIONS: &str = "alpha.config.kubernetes.io/transformations";

/// `to` relative to the directory `from` (both root-relative).
pub fn relative(from: &Path, to: &Path) -> String {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); f.len() - common];
    parts.extend(t[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    parts.join("/")
}

/// Who configured a generator or transformer.
pub struct ConfiguredBy {
    /// File that configured it (relative to the build root).
    pub configured_in: String,
    /// Plugin kind.
    pub kind: String,
    /// Plugin config name (plugin configs only).
    pub name: String,
    /// Plugin config namespace (plugin configs only).
    pub namespace: String,
}

impl ConfiguredBy {
    /// A kustomization field's built-in plugin.
    pub fn builtin(configured_in: &str, kind: &str) -> ConfiguredBy {
        ConfiguredBy {
            configured_in: configured_in.into(),
            kind: kind.into(),
            name: String::new(),
            namespace: String::new(),
        }
    }

    /// A plugin config object.
    pub fn config(configured_in: &str, cfg: &Value) -> ConfiguredBy {
        ConfiguredBy {
            configured_in: configured_in.into(),
            kind: str_at(cfg, &["kind"]).into(),
            name: str_at(cfg, &["metadata", "name"]).into(),
            namespace: str_at(cfg, &["metadata", "namespace"]).into(),
        }
    }

    fn lines(&self, indent: &str) -> String {
        let mut s = format!(
            "{indent}configuredIn: {}\n{indent}configuredBy:\n{indent}  apiVersion: builtin\n{indent}  kind: {}\n",
            self.configured_in, self.kind
        );
        if !self.name.is_empty() {
            s.push_str(&format!("{indent}  name: {}\n", self.name));
        }
        if !self.namespace.is_empty() {
            s.push_str(&format!("{indent}  namespace: {}\n", self.namespace));
        }
        s
    }
}

fn annotate(obj: &mut Value, key: &str, text: String) {
    set_at(obj, &["metadata", "annotations", key], Value::String(text));
}

/// Marks an object loaded from a file.
pub fn from_file(r: &mut Resource, rel: &str) {
    annotate(&mut r.obj, ORIGIN, format!("path: {rel}\n"));
}

/// Marks a generated object.
pub fn generated(r: &mut Resource, by: &ConfiguredBy) {
    annotate(&mut r.obj, ORIGIN, by.lines(""));
}

/// Records that a transformer changed an object.
pub fn transformed(r: &mut Resource, by: &ConfiguredBy) {
    let mut text = str_at(&r.obj, &["metadata", "annotations", TRANSFORMATIONS]).to_string();
    let entry = by.lines("  ");
    text.push_str("- ");
    text.push_str(&entry[2..]);
    annotate(&mut r.obj, TRANSFORMATIONS, text);
}
