//! The prune set: objects of the last successful sync's inventory that left
//! Git, with the guards that keep a prune from surprising anyone.
//!
//! - Only inventory objects are candidates: nothing Capstan did not apply.
//! - A render with no objects prunes nothing, whatever the options: an
//!   empty render is far more often a broken path than an intent.
//! - A prune of more than [`PruneOptions::max_percent`] of the inventory
//!   is refused unless confirmed.
//! - Per object ([`protection`], read from the live object): never one
//!   annotated `capstan.dev/prune: disabled`; Namespaces, CRDs and
//!   PersistentVolumes (deleting them deletes data) only when
//!   [`PruneOptions::allow_protected`] or the object says
//!   `capstan.dev/prune: enabled`.
//!
//! Objects are matched by group, kind, namespace and name, not version: a
//! manifest moving from `v1beta1` to `v1` is the same object.

use std::collections::HashSet;

use capstan_types::ObjectRef;
use serde_json::Value;

use crate::{Error, Result};

/// The per-object prune annotation.
pub const PRUNE_ANNOTATION: &str = "capstan.dev/prune";

/// Kinds whose deletion takes data or other objects with it.
const PROTECTED_KINDS: [&str; 3] = ["Namespace", "CustomResourceDefinition", "PersistentVolume"];

/// How a prune may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneOptions {
    /// The largest share of the inventory (in percent) deleted without confirmation.
    pub max_percent: u32,
    /// The user confirmed a larger prune.
    pub confirmed: bool,
    /// Prune Namespaces, CRDs and PersistentVolumes too.
    pub allow_protected: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        Self { max_percent: 50, confirmed: false, allow_protected: false }
    }
}

/// Why an object that left Git is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// It is annotated `capstan.dev/prune: disabled`.
    Disabled,
    /// Its kind is protected and nobody opted in.
    ProtectedKind,
}

impl std::fmt::Display for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Disabled => "annotated capstan.dev/prune: disabled",
            Self::ProtectedKind => "protected kind (Namespace, CRD, PersistentVolume)",
        })
    }
}

/// What a prune would delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrunePlan {
    /// Inventory objects no longer desired, in inventory order.
    pub candidates: Vec<ObjectRef>,
}

/// The identity a prune compares: group, kind, namespace, name.
fn identity(object: &ObjectRef) -> (&str, &str, Option<&str>, &str) {
    let group = object.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    (group, &object.kind, object.namespace.as_deref(), &object.name)
}

/// Inventory minus desired, after the whole-prune guards.
pub fn plan_prune(inventory: &[ObjectRef], desired: &[ObjectRef], options: &PruneOptions) -> Result<PrunePlan> {
    if desired.is_empty() {
        return Ok(PrunePlan::default());
    }
    let wanted: HashSet<_> = desired.iter().map(identity).collect();
    let candidates: Vec<ObjectRef> = inventory.iter().filter(|o| !wanted.contains(&identity(o))).cloned().collect();
    let over_limit = candidates.len() as u64 * 100 > u64::from(options.max_percent) * inventory.len() as u64;
    if over_limit && !options.confirmed {
        return Err(Error::MassPrune {
            count: candidates.len(),
            inventory: inventory.len(),
            max_percent: options.max_percent,
        });
    }
    Ok(PrunePlan { candidates })
}

/// Why the live object must not be pruned, if it must not.
pub fn protection(live: &Value, options: &PruneOptions) -> Option<Protection> {
    let annotation =
        live.pointer("/metadata/annotations").and_then(|a| a.get(PRUNE_ANNOTATION)).and_then(Value::as_str);
    match annotation {
        Some("disabled" | "false") => Some(Protection::Disabled),
        Some("enabled") => None,
        _ => {
            let kind = live.get("kind").and_then(Value::as_str).unwrap_or_default();
            (PROTECTED_KINDS.contains(&kind) && !options.allow_protected).then_some(Protection::ProtectedKind)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(api_version: &str, kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: Some("shop".into()),
            name: name.into(),
        }
    }

    #[test]
    fn candidates_are_inventory_minus_desired_by_group_kind_name() {
        let inventory = [
            r("v1", "ConfigMap", "a"),
            r("v1", "ConfigMap", "b"),
            r("autoscaling/v2beta2", "HorizontalPodAutoscaler", "web"),
            r("v1", "Service", "web"),
        ];
        let desired = [
            r("v1", "ConfigMap", "a"),
            r("autoscaling/v2", "HorizontalPodAutoscaler", "web"),
            r("v1", "Service", "web"),
            r("v1", "Secret", "new"),
        ];
        let plan = plan_prune(&inventory, &desired, &PruneOptions::default()).unwrap();
        assert_eq!(plan.candidates, [r("v1", "ConfigMap", "b")]);
    }

    #[test]
    fn empty_render_prunes_nothing_even_confirmed() {
        let options = PruneOptions { confirmed: true, ..PruneOptions::default() };
        assert_eq!(plan_prune(&[r("v1", "ConfigMap", "a")], &[], &options).unwrap(), PrunePlan::default());
    }

    #[test]
    fn mass_prune_needs_confirmation() {
        let inventory = [r("v1", "ConfigMap", "a"), r("v1", "ConfigMap", "b"), r("v1", "ConfigMap", "c")];
        let desired = [r("v1", "ConfigMap", "a")];
        let err = plan_prune(&inventory, &desired, &PruneOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to prune 2 of 3 inventory objects (more than 50%); confirm the prune to proceed"
        );
        let confirmed = PruneOptions { confirmed: true, ..PruneOptions::default() };
        assert_eq!(plan_prune(&inventory, &desired, &confirmed).unwrap().candidates.len(), 2);
        let relaxed = PruneOptions { max_percent: 100, ..PruneOptions::default() };
        assert_eq!(plan_prune(&inventory, &desired, &relaxed).unwrap().candidates.len(), 2);
    }

    #[test]
    fn per_object_protection() {
        let options = PruneOptions::default();
        let cm = |annotations: Value| json!({"kind": "ConfigMap", "metadata": {"annotations": annotations}});
        assert_eq!(protection(&cm(json!({})), &options), None);
        assert_eq!(protection(&cm(json!({"capstan.dev/prune": "disabled"})), &options), Some(Protection::Disabled));
        let ns = json!({"kind": "Namespace", "metadata": {"name": "shop"}});
        assert_eq!(protection(&ns, &options), Some(Protection::ProtectedKind));
        assert_eq!(protection(&ns, &PruneOptions { allow_protected: true, ..options }), None);
        let opted_in =
            json!({"kind": "PersistentVolume", "metadata": {"annotations": {"capstan.dev/prune": "enabled"}}});
        assert_eq!(protection(&opted_in, &options), None);
    }
}
