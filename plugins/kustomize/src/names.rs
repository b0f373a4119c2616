//! `namePrefix`/`nameSuffix` and the prefix/suffix transformer plugins.

use serde_json::Value;

use crate::error::Result;
use crate::fieldspec::{self, Create, FieldSpec};
use crate::resource::{Gvk, Resource};

fn skipped(g: &Gvk) -> bool {
    g.kind == "CustomResourceDefinition"
        || (g.kind == "APIService" && g.group == "apiregistration.k8s.io")
        || g.kind == "Namespace"
}

/// Adds `prefix` and `suffix` at the field specs (normally `metadata/name`).
///
/// `record` says which of the two is recorded on each object (kustomize
/// records even empty ones: name references compare the stacks).
pub fn prefix_suffix(
    res: &mut [Resource],
    prefix: &str,
    suffix: &str,
    record: (bool, bool),
    specs: &[FieldSpec],
) -> Result<()> {
    for r in res.iter_mut() {
        let org = match r.prev.first() {
            Some(id) => id.gvk.clone(),
            None => r.gvk(),
        };
        if skipped(&org) {
            continue;
        }
        for fs in specs {
            if !fs.applies_to(&org) {
                continue;
            }
            if fs.path == "metadata/name" {
                if record.0 {
                    r.prefixes.push(prefix.to_string());
                }
                if record.1 {
                    r.suffixes.push(suffix.to_string());
                }
                if !prefix.is_empty() || !suffix.is_empty() {
                    r.remember_id();
                }
            }
            fieldspec::apply(&mut r.obj, fs, Create::Scalar, &mut |node| {
                if let Value::String(s) = node {
                    *s = format!("{prefix}{s}{suffix}");
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}
