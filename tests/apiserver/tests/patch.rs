//! Merge, strategic-merge and JSON patches through kube's `Patch`.

use capstan_apiserver::{test_target, unique_name};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Error};
use serde_json::json;

async fn namespace(client: &Client) -> String {
    let name = unique_name("patch");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    Api::<Namespace>::all(client.clone()).patch(&name, &PatchParams::apply("test"), &Patch::Apply(&ns)).await.unwrap();
    name
}

#[tokio::test]
async fn merge_and_json_patches() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
    api.patch("c", &PatchParams::apply("t"), &Patch::Apply(&cm)).await.unwrap();

    let merged =
        api.patch("c", &PatchParams::default(), &Patch::Merge(json!({"data": {"a": null, "c": "3"}}))).await.unwrap();
    let data = merged.data.unwrap();
    assert_eq!((data.get("a"), data["b"].as_str(), data["c"].as_str()), (None, "2", "3"));

    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/data/b", "value": "9"}])).unwrap();
    let patched = api.patch("c", &PatchParams::default(), &Patch::Json::<()>(ops)).await.unwrap();
    assert_eq!(patched.data.unwrap()["b"], "9");

    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/b", "value": "0"}])).unwrap();
    let err = api.patch("c", &PatchParams::default(), &Patch::Json::<()>(failing)).await.unwrap_err();
    assert!(matches!(err, Error::Api(s) if s.code == 422));

    let missing = api.patch("nope", &PatchParams::default(), &Patch::Merge(json!({}))).await.unwrap_err();
    assert!(matches!(missing, Error::Api(s) if s.code == 404));
    let _ = Api::<Namespace>::all(target.client.clone()).delete(&ns, &DeleteParams::default()).await;
}

#[tokio::test]
async fn strategic_merge_patch_merges_containers_by_name() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<Deployment> = Api::namespaced(target.client.clone(), &ns);
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "app:1"}, {"name": "side", "image": "side:1"}]}}}
    });
    api.patch("web", &PatchParams::apply("t"), &Patch::Apply(&d)).await.unwrap();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "side:2"}]}}}});
    let out = api.patch("web", &PatchParams::default(), &Patch::Strategic(&patch)).await.unwrap();
    let containers = out.spec.unwrap().template.spec.unwrap().containers;
    let images: Vec<_> = containers.iter().map(|c| c.image.clone().unwrap()).collect();
    assert_eq!(images, ["app:1", "side:2"]);
    let entries = out.metadata.managed_fields.unwrap();
    assert!(entries.iter().any(|e| e.operation.as_deref() == Some("Update")), "the patcher owns what it changed");
    let _ = Api::<Namespace>::all(target.client.clone()).delete(&ns, &DeleteParams::default()).await;
}
