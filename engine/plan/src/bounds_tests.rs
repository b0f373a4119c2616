use super::*;
use capstan_types::Application;
use serde_json::json;

fn bounds(extra: &str) -> Bounds {
    let text = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: shop, namespace: apps}}\nspec:\n  source: {{repoURL: .}}\n  destination: {{namespace: team-a}}\n{extra}"
    );
    Bounds::for_application(&Application::from_yaml(&text).unwrap())
}

fn object(value: Value) -> Object {
    Object::new(value).unwrap()
}

fn cm(namespace: &str, name: &str) -> ObjectRef {
    ObjectRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some(namespace.into()),
        name: name.into(),
    }
}

fn cluster(api_version: &str, kind: &str, name: &str) -> ObjectRef {
    ObjectRef { api_version: api_version.into(), kind: kind.into(), namespace: None, name: name.into() }
}

#[test]
fn destination_only_unless_allowed() {
    let strict = bounds("");
    assert!(strict.check_ref(&cm("team-a", "x"), Scope::Namespaced).is_ok());
    let error = strict.check_ref(&cm("kube-system", "x"), Scope::Namespaced).unwrap_err();
    assert_eq!(
        error.to_string(),
        "refusing ConfigMap/kube-system/x: namespace \"kube-system\" is outside the Application's bounds (destination team-a, spec.allow.namespaces [])"
    );
    let binding = cluster("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "pwn");
    assert!(matches!(strict.check_ref(&binding, Scope::Cluster), Err(Refusal::ClusterScoped { .. })));
    let namespace = cluster("v1", "Namespace", "team-a");
    assert!(strict.check_ref(&namespace, Scope::Cluster).is_err(), "even the destination needs createNamespace");

    let open = bounds(
        "  allow:\n    namespaces: [team-a-*]\n    clusterResources: [{group: rbac.authorization.k8s.io, kind: ClusterRole*}]\n",
    );
    assert!(open.check_ref(&cm("team-a-db", "x"), Scope::Namespaced).is_ok());
    assert!(open.check_ref(&cm("team-b", "x"), Scope::Namespaced).is_err());
    assert!(open.check_ref(&binding, Scope::Cluster).is_ok());
    assert!(open.check_ref(&namespace, Scope::Cluster).is_err());
    assert!(Bounds::default().check_ref(&cm("team-a", "x"), Scope::Namespaced).is_err(), "default reaches nothing");
}

#[test]
fn names_are_checked_before_bounds() {
    let error = bounds("").check_ref(&cm("team-a", "../../x"), Scope::Namespaced).unwrap_err();
    assert!(matches!(error, Refusal::Name(_)), "{error}");
    assert!(error.to_string().contains("metadata.name"), "{error}");
}

#[test]
fn engine_objects_cannot_be_rendered() {
    let b = bounds("");
    let forged =
        object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "capstan-inventory-victim"}}));
    let error = b.check_static(&forged).unwrap_err().to_string();
    assert!(error.contains("ConfigMap/capstan-inventory-victim") && error.contains("reserved"), "{error}");
    let labelled = object(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "labels": {"capstan.dev/inventory": "victim"}}}),
    );
    assert!(b.check_static(&labelled).unwrap_err().to_string().contains("capstan.dev/inventory"));
    let tracked = object(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "annotations": {"capstan.dev/tracking-id": "x"}}}),
    );
    assert!(b.check_static(&tracked).unwrap_err().to_string().contains(TRACKING_ANNOTATION));
}

#[test]
fn hooks_on_protected_kinds_need_the_prune_opt_in() {
    let b = bounds("");
    let hook = |annotations: Value| {
        object(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "victim", "annotations": annotations}}),
        )
    };
    let error = b
        .check_static(&hook(json!({"capstan.dev/hook": "PreSync", "capstan.dev/hook-delete-policy": "HookSucceeded"})));
    assert!(error.unwrap_err().to_string().contains("refusing to delete (hook policy HookSucceeded) Namespace/victim"));
    let default_policy = b.check_static(&hook(json!({"capstan.dev/hook": "PreSync"})));
    assert!(matches!(default_policy, Err(Refusal::Protected { .. })), "BeforeHookCreation deletes too");
    assert!(b.check_static(&hook(json!({"capstan.dev/hook": "PreSync", "capstan.dev/prune": "enabled"}))).is_ok());
    assert!(b.check_static(&hook(json!({"helm.sh/hook": "test"}))).is_ok(), "skipped hooks never run");
}

#[test]
fn tracking_decides_ownership_and_adoption() {
    let b = bounds("");
    let mut desired =
        object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "team-a"}}));
    b.stamp(&mut desired);
    assert_eq!(desired.annotation(TRACKING_ANNOTATION), Some("apps/shop:/ConfigMap:team-a/x"));
    let live = desired.as_value().clone();
    let x = cm("team-a", "x");
    assert!(b.owns(&x, &live));
    assert!(!b.owns(&cm("team-a", "y"), &live), "a copied annotation names another object");
    assert!(b.check_adopt(&desired, &live).is_ok());
    assert!(b.check_delete(&x, &live, &PruneOptions::default(), "delete (prune)").is_ok());

    let theirs = json!({"metadata": {"annotations": {TRACKING_ANNOTATION: "apps/victim:/ConfigMap:team-a/x"}}});
    let error = b.check_adopt(&desired, &theirs).unwrap_err().to_string();
    assert!(
        error.contains("managed by Capstan Application \"apps/victim\"") && error.contains("spec.sync.adopt"),
        "{error}"
    );
    let error = b.check_delete(&x, &theirs, &PruneOptions::default(), "delete (prune)").unwrap_err().to_string();
    assert!(error.contains("did not create it"), "{error}");
    assert!(b.check_delete(&x, &json!({"metadata": {}}), &PruneOptions::default(), "delete").is_err());
    let argo = json!({"metadata": {"annotations": {ARGO_TRACKING_ANNOTATION: "guestbook:/ConfigMap:team-a/x"}}});
    assert!(b.check_adopt(&desired, &argo).unwrap_err().to_string().contains("Argo CD application \"guestbook\""));
    let argo_label = json!({"metadata": {"labels": {ARGO_INSTANCE_LABEL: "guestbook"}}});
    assert!(b.check_adopt(&desired, &argo_label).is_err());
    desired.as_value_mut()["metadata"]["labels"] = json!({ARGO_INSTANCE_LABEL: "guestbook"});
    assert!(b.check_adopt(&desired, &argo_label).is_ok(), "the manifest sets the label itself (Helm charts do)");
    assert!(bounds("  sync: {adopt: true}\n").check_adopt(&desired, &theirs).is_ok());

    let namespace = cluster("v1", "Namespace", "team-a");
    let mut ns = object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}));
    b.stamp(&mut ns);
    let guarded = b.check_delete(&namespace, ns.as_value(), &PruneOptions::default(), "delete (prune)");
    assert!(matches!(guarded, Err(Refusal::Protected { .. })));
}

#[test]
fn crd_scopes_come_from_the_render() {
    let crd = object(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Widget"}}}));
    let scopes = crd_scopes([&crd]);
    assert_eq!(scopes.get(&("example.com".to_owned(), "Widget".to_owned())), Some(&Scope::Cluster));
}
