//! CustomResourceDefinitions: served in discovery once created, Established,
//! and custom resources round-trip through `Api<DynamicObject>`.

use capstan_apiserver::{test_target, unique_name};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use serde_json::json;
use std::time::Duration;

fn crd(group: &str, scope: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {
            "group": group, "scope": scope,
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    })
}

/// Waits until the CRD is Established and discovery serves its kind (on a
/// real server discovery follows a moment after the condition).
async fn established(api: &Api<CustomResourceDefinition>, name: &str) -> CustomResourceDefinition {
    for _ in 0..100 {
        let crd = api.get(name).await.unwrap();
        let conditions = crd.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let gvk = GroupVersionKind::gvk(&crd.spec.group, "v1", &crd.spec.names.kind);
        if conditions.iter().any(|c| c.type_ == "Established" && c.status == "True")
            && discovery::pinned_kind(&api.clone().into_client(), &gvk).await.is_ok()
        {
            return crd;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("CRD {name} never became Established");
}

#[tokio::test]
async fn crd_is_served_established_and_round_trips_a_custom_resource() {
    let target = test_target().await;
    let group = format!("{}.capstan.test", unique_name("g"));
    let crds: Api<CustomResourceDefinition> = Api::all(target.client.clone());
    let name = format!("widgets.{group}");
    crds.patch(&name, &PatchParams::apply("capstan"), &Patch::Apply(crd(&group, "Namespaced"))).await.unwrap();
    let crd = established(&crds, &name).await;
    let conditions = crd.status.unwrap().conditions.unwrap();
    assert!(conditions.iter().any(|c| c.type_ == "NamesAccepted" && c.status == "True"));

    let gvk = GroupVersionKind::gvk(&group, "v1", "Widget");
    let (ar, caps) = discovery::pinned_kind(&target.client, &gvk).await.unwrap();
    assert_eq!(caps.scope, Scope::Namespaced);
    assert_eq!(ar.plural, "widgets");

    let api: Api<DynamicObject> = Api::namespaced_with(target.client.clone(), "default", &ar);
    let obj = json!({"apiVersion": format!("{group}/v1"), "kind": "Widget",
                     "metadata": {"name": "w1"}, "spec": {"size": 3, "tags": ["a", "b"]}});
    let created = api.patch("w1", &PatchParams::apply("capstan"), &Patch::Apply(&obj)).await.unwrap();
    assert_eq!(created.data["spec"]["size"], 3);
    assert_eq!(created.metadata.generation, Some(1));
    let fetched = api.get("w1").await.unwrap();
    assert_eq!(fetched.data["spec"]["tags"], json!(["a", "b"]));
    let listed = api.list(&Default::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);

    crds.delete(&name, &DeleteParams::default()).await.unwrap();
    for _ in 0..100 {
        if discovery::pinned_kind(&target.client, &gvk).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the deleted CRD is still served");
}

#[tokio::test]
async fn cluster_scoped_crd_and_invalid_crd() {
    let target = test_target().await;
    let group = format!("{}.capstan.test", unique_name("c"));
    let crds: Api<CustomResourceDefinition> = Api::all(target.client.clone());
    let name = format!("widgets.{group}");
    crds.patch(&name, &PatchParams::apply("capstan"), &Patch::Apply(crd(&group, "Cluster"))).await.unwrap();
    established(&crds, &name).await;
    let (ar, caps) =
        discovery::pinned_kind(&target.client, &GroupVersionKind::gvk(&group, "v1", "Widget")).await.unwrap();
    assert_eq!(caps.scope, Scope::Cluster);
    let api: Api<DynamicObject> = Api::all_with(target.client.clone(), &ar);
    let obj = json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"name": "w"}, "spec": {}});
    let created = api.patch("w", &PatchParams::apply("capstan"), &Patch::Apply(&obj)).await.unwrap();
    assert!(created.metadata.namespace.is_none());

    let mut bad = crd(&group, "Cluster");
    bad["metadata"]["name"] = json!("wrong.name");
    let err = crds.patch("wrong.name", &PatchParams::apply("capstan"), &Patch::Apply(&bad)).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 422), "a CRD must be named plural.group");
    crds.delete(&name, &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn structural_schema_prunes_defaults_and_drives_list_merging() {
    let target = test_target().await;
    let group = format!("{}.capstan.test", unique_name("s"));
    let crds: Api<CustomResourceDefinition> = Api::all(target.client.clone());
    let name = format!("widgets.{group}");
    let mut def = crd(&group, "Namespaced");
    def["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "size": {"type": "integer", "default": 1},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "required": ["name"],
                                "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}
        }}}
    });
    crds.patch(&name, &PatchParams::apply("capstan"), &Patch::Apply(&def)).await.unwrap();
    established(&crds, &name).await;
    let (ar, _) = discovery::pinned_kind(&target.client, &GroupVersionKind::gvk(&group, "v1", "Widget")).await.unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(target.client.clone(), "default", &ar);
    let widget = |ports: serde_json::Value| {
        json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"name": "w"},
               "spec": {"ports": ports}})
    };
    let mut misspelt = widget(json!([]));
    misspelt["spec"]["unknown"] = json!(true);
    // Server-side apply refuses an undeclared field outright (typed conversion)...
    let err = api.patch("w", &PatchParams::apply("a"), &Patch::Apply(&misspelt)).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 500 && s.message.starts_with("failed to create typed patch object (/w; ")
            && s.message.ends_with(".spec.unknown: field not declared in schema")),
        "{err:?}"
    );
    // ...other writes prune it, or refuse it with fieldValidation=Strict.
    let posted: DynamicObject = serde_json::from_value(misspelt.clone()).unwrap();
    let created = api.create(&PostParams::default(), &posted).await.unwrap();
    assert!(created.data["spec"].get("unknown").is_none(), "undeclared fields are pruned");
    assert_eq!(created.data["spec"]["size"], 1, "defaults are applied");
    let strict = PatchParams::default().validation_strict();
    let err = api.patch("w", &strict, &Patch::Merge(json!({"spec": {"unknown": true}}))).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422
            && s.message.ends_with("strict decoding error: unknown field \"spec.unknown\"")),
        "{err:?}"
    );
    api.patch("w", &PatchParams::apply("a"), &Patch::Apply(widget(json!([{"name": "http", "port": 80}]))))
        .await
        .unwrap();

    // Another manager adds its own item of the map-list: no conflict, both kept.
    let merged = api
        .patch("w", &PatchParams::apply("b"), &Patch::Apply(widget(json!([{"name": "metrics", "port": 9090}]))))
        .await
        .unwrap();
    let names: Vec<&str> =
        merged.data["spec"]["ports"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["http", "metrics"]);
    crds.delete(&name, &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn deleting_a_crd_waits_for_its_objects_finalizers() {
    let target = test_target().await;
    let group = format!("{}.capstan.test", unique_name("f"));
    let crds: Api<CustomResourceDefinition> = Api::all(target.client.clone());
    let name = format!("widgets.{group}");
    crds.patch(&name, &PatchParams::apply("capstan"), &Patch::Apply(crd(&group, "Namespaced"))).await.unwrap();
    established(&crds, &name).await;
    let (ar, _) = discovery::pinned_kind(&target.client, &GroupVersionKind::gvk(&group, "v1", "Widget")).await.unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(target.client.clone(), "default", &ar);
    let held = json!({"apiVersion": format!("{group}/v1"), "kind": "Widget",
                      "metadata": {"name": "held", "finalizers": ["capstan.dev/hold"]}});
    api.patch("held", &PatchParams::apply("capstan"), &Patch::Apply(&held)).await.unwrap();

    crds.delete(&name, &DeleteParams::default()).await.unwrap();
    let mut marked = false;
    for _ in 0..100 {
        if api.get("held").await.unwrap().metadata.deletion_timestamp.is_some() {
            marked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(marked, "the custom resource is being deleted");
    let terminating = crds.get(&name).await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some(), "the CRD waits for its objects");
    // A POST is refused while the CRD terminates; an apply is a `patch` and
    // goes through (on a real API server too). A real server's CRD
    // finalizer gets to such a late object only on its next pass, a minute
    // later: delete it here.
    let fresh = json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"name": "late"}});
    let posted: DynamicObject = serde_json::from_value(fresh.clone()).unwrap();
    let err = api.create(&Default::default(), &posted).await.unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 405), "no new objects while terminating: {err:?}");
    api.patch("late", &PatchParams::apply("capstan"), &Patch::Apply(&fresh)).await.unwrap();
    api.delete("late", &DeleteParams::default()).await.unwrap();

    let release = json!({"metadata": {"finalizers": null}});
    api.patch("held", &PatchParams::default(), &Patch::Merge(&release)).await.unwrap();
    for _ in 0..300 {
        if crds.get_opt(&name).await.unwrap().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the CRD was never removed");
}
