//! Discovery through kube's own discovery code.

use capstan_apiserver::test_target;
use kube::core::GroupVersionKind;
use kube::discovery::{self, Discovery, Scope, verbs};

#[tokio::test]
async fn discovery_run_finds_builtin_kinds_with_scope_and_verbs() {
    let target = test_target().await;
    let discovery = Discovery::new(target.client.clone()).run().await.unwrap();
    for (group, version, kind, plural, scope) in [
        ("", "v1", "ConfigMap", "configmaps", Scope::Namespaced),
        ("", "v1", "Namespace", "namespaces", Scope::Cluster),
        ("apps", "v1", "Deployment", "deployments", Scope::Namespaced),
        ("batch", "v1", "CronJob", "cronjobs", Scope::Namespaced),
        ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", Scope::Cluster),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", Scope::Cluster),
        ("coordination.k8s.io", "v1", "Lease", "leases", Scope::Namespaced),
    ] {
        let (ar, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk(group, version, kind))
            .unwrap_or_else(|| panic!("{kind} not discovered"));
        assert_eq!(ar.plural, plural);
        assert_eq!(caps.scope, scope, "{kind}");
        for verb in [verbs::GET, verbs::LIST, verbs::WATCH, verbs::PATCH, verbs::CREATE, verbs::DELETE] {
            assert!(caps.supports_operation(verb), "{kind} {verb}");
        }
    }
}

#[tokio::test]
async fn pinned_kind_sees_status_subresource() {
    let target = test_target().await;
    let gvk = GroupVersionKind::gvk("apps", "v1", "Deployment");
    let (ar, caps) = discovery::pinned_kind(&target.client, &gvk).await.unwrap();
    assert_eq!(ar.api_version, "apps/v1");
    assert!(caps.subresources.iter().any(|(sub, _)| sub.plural == "deployments/status" || sub.plural == "status"));
}

#[tokio::test]
async fn aggregated_discovery_matches_legacy() {
    let target = test_target().await;
    let aggregated = Discovery::new(target.client.clone()).run_aggregated().await.unwrap();
    let gvk = GroupVersionKind::gvk("apps", "v1", "StatefulSet");
    let (ar, caps) = aggregated.resolve_gvk(&gvk).expect("statefulsets via aggregated discovery");
    assert_eq!(ar.plural, "statefulsets");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(aggregated.resolve_gvk(&GroupVersionKind::gvk("", "v1", "Secret")).is_some());
}

#[tokio::test]
async fn server_version_is_served() {
    let target = test_target().await;
    let info = target.client.apiserver_version().await.unwrap();
    assert_eq!(info.major, "1");
}
