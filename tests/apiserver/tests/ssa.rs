//! Server-side apply through `PatchParams::apply`.

use capstan_apiserver::{TestApiServer, test_target, unique_name};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Error, ResourceExt};
use serde_json::{Value, json};

async fn namespace(client: &Client) -> String {
    let name = unique_name("ssa");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    Api::<Namespace>::all(client.clone()).patch(&name, &PatchParams::apply("test"), &Patch::Apply(&ns)).await.unwrap();
    name
}

async fn cleanup(client: &Client, ns: &str) {
    let _ = Api::<Namespace>::all(client.clone()).delete(ns, &DeleteParams::default()).await;
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": image}]}}}
    })
}

fn conflict(e: Error) -> Box<kube::core::Status> {
    match e {
        Error::Api(s) if s.code == 409 => s,
        other => panic!("expected a 409, got {other:?}"),
    }
}

#[tokio::test]
async fn apply_creates_updates_and_noop_keeps_resource_version() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<Deployment> = Api::namespaced(target.client.clone(), &ns);
    let pp = PatchParams::apply("capstan");

    // A ConfigMap for the no-op: on a real cluster a Deployment's status
    // keeps changing under its controller.
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let settings =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"k": "v"}});
    let created = cms.patch("settings", &pp, &Patch::Apply(&settings)).await.unwrap();
    let rv = created.resource_version().unwrap();
    let writes = target.server.as_ref().map(TestApiServer::write_count);
    let again = cms.patch("settings", &pp, &Patch::Apply(&settings)).await.unwrap();
    assert_eq!(again.resource_version().unwrap(), rv, "a no-op apply must not bump the resourceVersion");
    assert_eq!(target.server.as_ref().map(TestApiServer::write_count), writes);

    let created = api.patch("web", &pp, &Patch::Apply(deployment(1, "nginx:1"))).await.unwrap();
    let updated = api.patch("web", &pp, &Patch::Apply(deployment(1, "nginx:2"))).await.unwrap();
    assert_ne!(updated.resource_version(), created.resource_version());
    assert_eq!(updated.metadata.generation, Some(2));
    let image = updated.spec.unwrap().template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some("nginx:2"));
    cleanup(&target.client, &ns).await;
}

#[tokio::test]
async fn managed_fields_record_the_applied_fields() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<Deployment> = Api::namespaced(target.client.clone(), &ns);
    let applied =
        api.patch("web", &PatchParams::apply("capstan"), &Patch::Apply(deployment(2, "nginx"))).await.unwrap();
    let entries = applied.metadata.managed_fields.unwrap();
    let entry = entries.iter().find(|e| e.manager.as_deref() == Some("capstan")).unwrap();
    assert_eq!(entry.operation.as_deref(), Some("Apply"));
    assert_eq!(entry.api_version.as_deref(), Some("apps/v1"));
    assert_eq!(entry.fields_type.as_deref(), Some("FieldsV1"));
    let fields = &entry.fields_v1.as_ref().unwrap().0;
    assert_eq!(fields["f:metadata"], json!({"f:labels": {"f:app": {}}}));
    assert_eq!(fields["f:spec"]["f:replicas"], json!({}));
    assert_eq!(fields["f:spec"]["f:selector"], json!({}));
    let container = &fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
    assert_eq!(container, &json!({".": {}, "f:image": {}, "f:name": {}}));
    cleanup(&target.client, &ns).await;
}

#[tokio::test]
async fn conflicting_apply_is_refused_unless_forced() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<Deployment> = Api::namespaced(target.client.clone(), &ns);
    api.patch("web", &PatchParams::apply("capstan"), &Patch::Apply(deployment(1, "nginx"))).await.unwrap();
    let scale =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}});
    let err = conflict(api.patch("web", &PatchParams::apply("autoscaler"), &Patch::Apply(&scale)).await.unwrap_err());
    assert_eq!(err.reason, "Conflict");
    assert_eq!(err.message, "Apply failed with 1 conflict: conflict with \"capstan\": .spec.replicas");

    let forced = api.patch("web", &PatchParams::apply("autoscaler").force(), &Patch::Apply(&scale)).await.unwrap();
    assert_eq!(forced.spec.as_ref().unwrap().replicas, Some(5));
    // capstan lost .spec.replicas: applying its old value now conflicts the other way.
    let err = conflict(
        api.patch("web", &PatchParams::apply("capstan"), &Patch::Apply(deployment(1, "nginx"))).await.unwrap_err(),
    );
    assert!(err.message.contains("conflict with \"autoscaler\""), "{}", err.message);
    cleanup(&target.client, &ns).await;
}

#[tokio::test]
async fn fields_dropped_from_the_config_are_removed() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let pp = PatchParams::apply("capstan");
    let v1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
    api.patch("c", &pp, &Patch::Apply(&v1)).await.unwrap();
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"b": "2"}});
    api.patch("c", &PatchParams::apply("other"), &Patch::Apply(&other)).await.unwrap();
    let v2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"c": "3"}});
    let out = api.patch("c", &pp, &Patch::Apply(&v2)).await.unwrap();
    let data = out.data.unwrap();
    assert!(!data.contains_key("a"), "a was only capstan's");
    assert_eq!(data["b"], "2", "b is still owned by other");
    assert_eq!(data["c"], "3");
    cleanup(&target.client, &ns).await;
}

#[tokio::test]
async fn dry_run_apply_answers_but_stores_nothing() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {"a": "1"}});
    let pp = PatchParams::apply("capstan").dry_run();
    let answered = api.patch("d", &pp, &Patch::Apply(&cm)).await.unwrap();
    assert_eq!(answered.data.unwrap()["a"], "1");
    assert!(api.get_opt("d").await.unwrap().is_none());

    api.patch("d", &PatchParams::apply("capstan"), &Patch::Apply(&cm)).await.unwrap();
    let writes = target.server.as_ref().map(TestApiServer::write_count);
    let changed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {"a": "2"}});
    let answered = api.patch("d", &pp, &Patch::Apply(&changed)).await.unwrap();
    assert_eq!(answered.data.unwrap()["a"], "2");
    assert_eq!(api.get("d").await.unwrap().data.unwrap()["a"], "1");
    assert_eq!(target.server.as_ref().map(TestApiServer::write_count), writes);
    cleanup(&target.client, &ns).await;
}

#[tokio::test]
async fn apply_needs_a_field_manager_and_yaml_bodies_work() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let client = target.client.clone();
    // Not `name: y`: a real server reads that YAML 1.1 `y` as `true`.
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: \"1\"\n";
    let req = |query: &str| {
        http::Request::patch(format!("/api/v1/namespaces/{ns}/configmaps/from-yaml?{query}"))
            .header("content-type", "application/apply-patch+yaml")
            .body(yaml.as_bytes().to_vec())
            .unwrap()
    };
    let err = client.request::<ConfigMap>(req("")).await.unwrap_err();
    assert!(matches!(err, Error::Api(s) if s.code == 422 && s.message.contains("fieldManager")));
    let cm: ConfigMap = client.request(req("fieldManager=yaml")).await.unwrap();
    assert_eq!(cm.data.unwrap()["a"], "1");
    cleanup(&target.client, &ns).await;
}

#[tokio::test]
async fn status_subresource_is_separate_from_the_main_resource() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<Deployment> = Api::namespaced(target.client.clone(), &ns);
    let mut with_status = deployment(1, "nginx");
    with_status["status"] = json!({"replicas": 7});
    let created = api.patch("web", &PatchParams::apply("capstan"), &Patch::Apply(&with_status)).await.unwrap();
    assert!(created.status.as_ref().and_then(|s| s.replicas).is_none(), "status ignored on the main resource");

    let status =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"replicas": 1}});
    let patched =
        api.patch_status("web", &PatchParams::apply("controller").force(), &Patch::Apply(&status)).await.unwrap();
    assert_eq!(patched.status.unwrap().replicas, Some(1));
    let entries = patched.metadata.managed_fields.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.manager.as_deref() == Some("controller") && e.subresource.as_deref() == Some("status"))
    );
    cleanup(&target.client, &ns).await;
}

#[tokio::test]
async fn an_apply_holding_characters_yaml_refuses_is_a_bad_request() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let pp = PatchParams::apply("capstan");
    let with =
        |value: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": value}});
    // serde_json leaves DEL and the C1 controls raw; the YAML reader refuses them.
    for value in ["a\u{7f}b", "a\u{9b}31mb"] {
        match cms.patch("c", &pp, &Patch::Apply(with(value))).await {
            Err(Error::Api(status)) => assert_eq!(status.code, 400, "{value:?}: {status:?}"),
            other => panic!("{value:?}: expected a 400, got {other:?}"),
        }
    }
    // Escaped in JSON (as serde_json writes C0 controls) they are fine.
    let ok = cms.patch("c", &pp, &Patch::Apply(with("a\u{1b}[2Jb"))).await.unwrap();
    assert_eq!(ok.data.unwrap()["k"], "a\u{1b}[2Jb");
    cleanup(&target.client, &ns).await;
}
