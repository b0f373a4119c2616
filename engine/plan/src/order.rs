//! The order objects are applied in: what others depend on goes first.
//!
//! Namespaces and CRDs before everything (a CR in any wave needs its CRD,
//! any namespaced object its Namespace), then sync waves
//! (`capstan.dev/sync-wave`, or Argo CD's `argocd.argoproj.io/sync-wave`,
//! default 0, lower first), and within a wave a stable kind order modelled
//! on Argo CD's and Helm's install order (config and RBAC before workloads).
//! Equal keys keep render order.

use capstan_types::Object;

use crate::{Error, Result};

/// Sync-wave annotations, in order of precedence.
pub const WAVE_ANNOTATIONS: [&str; 2] = ["capstan.dev/sync-wave", "argocd.argoproj.io/sync-wave"];

const KIND_ORDER: &[&str] = &[
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// Rank of a kind: known kinds by [`KIND_ORDER`], unknown kinds (custom
/// resources) after all of them. CRDs are moved right after Namespaces so
/// their CRs can follow anywhere.
pub fn rank(object: &Object) -> usize {
    match object.kind() {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        kind => KIND_ORDER.iter().position(|k| *k == kind).map_or(KIND_ORDER.len() + 2, |i| i + 2),
    }
}

/// The sync wave of an object: its wave annotation, 0 without one.
pub fn wave(object: &Object) -> Result<i64> {
    let Some(value) = WAVE_ANNOTATIONS.iter().find_map(|key| object.annotation(key)) else {
        return Ok(0);
    };
    value.trim().parse().map_err(|_| Error::SyncWave { object: Box::new(object.object_ref()), value: value.to_owned() })
}

/// Whether everything else may depend on this object: Namespaces and CRDs
/// go before all waves.
pub fn is_foundation(object: &Object) -> bool {
    matches!(object.kind(), "Namespace" | "CustomResourceDefinition")
}

/// Sorts objects within one wave; stable, so equal kinds keep render order.
pub fn sort(objects: &mut [Object]) {
    objects.sort_by_key(rank);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: &str) -> Object {
        Object::new(json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": kind.to_lowercase()}})).unwrap()
    }

    #[test]
    fn dependencies_first_custom_kinds_last() {
        let mut objects =
            vec![obj("Widget"), obj("Deployment"), obj("CustomResourceDefinition"), obj("ConfigMap"), obj("Namespace")];
        sort(&mut objects);
        let kinds: Vec<_> = objects.iter().map(Object::kind).collect();
        assert_eq!(kinds, ["Namespace", "CustomResourceDefinition", "ConfigMap", "Deployment", "Widget"]);
    }

    #[test]
    fn waves_read_both_annotations_capstan_first() {
        let mut o = obj("ConfigMap");
        assert_eq!(wave(&o).unwrap(), 0);
        o.as_value_mut()["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": "-2"});
        assert_eq!(wave(&o).unwrap(), -2);
        o.as_value_mut()["metadata"]["annotations"]["capstan.dev/sync-wave"] = json!("5");
        assert_eq!(wave(&o).unwrap(), 5);
        o.as_value_mut()["metadata"]["annotations"]["capstan.dev/sync-wave"] = json!("five");
        assert_eq!(
            wave(&o).unwrap_err().to_string(),
            "failed to read the sync wave \"five\" of ConfigMap/configmap: not an integer"
        );
    }
}
