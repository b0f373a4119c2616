//! The order objects are applied in: what others depend on goes first.
//!
//! Namespaces, then CRDs, then the rest in a stable kind order modelled on
//! Argo CD's and Helm's install order (config and RBAC before workloads).

use capstan_types::Object;

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

/// Sorts objects for apply; stable, so equal kinds keep render order.
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
        let mut objects = vec![obj("Widget"), obj("Deployment"), obj("CustomResourceDefinition"), obj("ConfigMap"), obj("Namespace")];
        sort(&mut objects);
        let kinds: Vec<_> = objects.iter().map(Object::kind).collect();
        assert_eq!(kinds, ["Namespace", "CustomResourceDefinition", "ConfigMap", "Deployment", "Widget"]);
    }
}
