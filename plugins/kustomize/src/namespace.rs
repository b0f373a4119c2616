//! `namespace` and the `NamespaceTransformer` plugin (v5 semantics:
//! cluster-scoped kinds are left alone, `Namespace` objects are renamed,
//! RoleBinding subjects follow the chosen mode).

use serde_json::Value;

use crate::error::{Result, msg};
use crate::fieldspec::{self, Create, FieldSpec};
use crate::resource::Resource;

/// Which RoleBinding subjects get the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subjects {
    /// Subjects named `default` (kustomize's default).
    DefaultOnly,
    /// Every ServiceAccount subject.
    AllServiceAccounts,
    /// None.
    None,
}

/// Sets the namespace of every object (and of the extra field specs).
pub fn set(res: &mut [Resource], ns: &str, specs: &[FieldSpec], unset_only: bool, subjects: Subjects) -> Result<()> {
    let setter = |node: &mut Value| -> Result<()> {
        if unset_only && node.as_str().is_some_and(|s| !s.is_empty()) {
            return Ok(());
        }
        *node = Value::String(ns.to_string());
        Ok(())
    };
    for r in res.iter_mut() {
        r.remember_id();
        let gvk = r.gvk();
        if gvk.namespaced() {
            fieldspec::apply_path(&mut r.obj, "metadata/namespace", true, Create::Scalar, &mut { setter })?;
        }
        if matches!(gvk.kind.as_str(), "RoleBinding" | "ClusterRoleBinding")
            && subjects != Subjects::None
            && let Some(Value::Array(subs)) = r.obj.get_mut("subjects")
        {
            for s in subs.iter_mut().filter_map(Value::as_object_mut) {
                let hit = match subjects {
                    Subjects::DefaultOnly => s.get("name").and_then(Value::as_str) == Some("default"),
                    _ => s.get("kind").and_then(Value::as_str) == Some("ServiceAccount"),
                };
                if hit {
                    let mut v = s.get("namespace").cloned().unwrap_or(Value::Null);
                    setter(&mut v)?;
                    s.insert("namespace".into(), v);
                }
            }
        }
        let core_v1 = crate::resource::str_at(&r.obj, &["apiVersion"]) == "v1";
        for fs in specs {
            // Subjects are handled above, whatever the field specs say.
            if fs.path == "metadata/namespace"
                || fs.path.starts_with("subjects")
                || (fs.path == "metadata/name" && !core_v1)
                || !fs.applies_to(&gvk)
            {
                continue;
            }
            fieldspec::apply(&mut r.obj, fs, Create::Scalar, &mut |node| {
                if node.is_object() || node.is_array() {
                    return Err(msg("namespace field specs must target scalar nodes"));
                }
                setter(node)
            })?;
        }
    }
    let mut seen = std::collections::HashSet::new();
    for r in res.iter() {
        let id = r.id();
        let ns = id.effective_ns().to_string();
        if !seen.insert((id.gvk.clone(), id.name.clone(), ns)) {
            return Err(msg(format!("namespace transformation produces ID conflict: {id}")));
        }
    }
    Ok(())
}

/// kustomize's default extra namespace field specs.
pub fn default_specs() -> Vec<FieldSpec> {
    let fs = |kind: &str, group: &str, path: &str, create: bool| FieldSpec {
        kind: kind.into(),
        group: group.into(),
        path: path.into(),
        create,
        ..Default::default()
    };
    vec![
        FieldSpec::any("metadata/namespace", true),
        fs("Namespace", "", "metadata/name", true),
        fs("APIService", "apiregistration.k8s.io", "spec/service/namespace", true),
        fs(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            "spec/conversion/webhook/clientConfig/service/namespace",
            false,
        ),
    ]
}
