//! Create, read, update, delete through `Api<ConfigMap>` and `Api<DynamicObject>`.

use capstan_apiserver::{TestTarget, test_target, unique_name};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Error, ResourceExt};
use serde_json::json;

async fn namespace(client: &Client) -> String {
    let name = unique_name("crud");
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.unwrap();
    name
}

async fn cleanup(target: &TestTarget, ns: &str) {
    let _ = Api::<Namespace>::all(target.client.clone()).delete(ns, &DeleteParams::default()).await;
}

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})).unwrap()
}

fn api_error(e: Error) -> Box<kube::core::Status> {
    match e {
        Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn create_get_list_update_delete() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);

    let created = api.create(&PostParams::default(), &cm("a", json!({"app": "web"}))).await.unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let rv: u64 = created.resource_version().unwrap().parse().unwrap();
    assert_eq!(created.namespace().as_deref(), Some(ns.as_str()));
    api.create(&PostParams::default(), &cm("b", json!({"app": "db"}))).await.unwrap();

    let got = api.get("a").await.unwrap();
    assert_eq!(got.data.unwrap()["k"], "v");

    let web = api.list(&ListParams::default().labels("app=web")).await.unwrap();
    assert_eq!(web.items.iter().map(|c| c.name_any()).collect::<Vec<_>>(), ["a"]);
    let not_web = api.list(&ListParams::default().labels("app!=web,app")).await.unwrap();
    assert_eq!(not_web.items.len(), 1);
    let by_name = api.list(&ListParams::default().fields("metadata.name=b")).await.unwrap();
    assert_eq!(by_name.items[0].name_any(), "b");

    let mut changed = api.get("a").await.unwrap();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    let updated = api.replace("a", &PostParams::default(), &changed).await.unwrap();
    assert!(updated.resource_version().unwrap().parse::<u64>().unwrap() > rv);

    // The stale copy now conflicts.
    let err = api_error(api.replace("a", &PostParams::default(), &changed).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));

    api.delete("a", &DeleteParams::default()).await.unwrap();
    let err = api_error(api.get("a").await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, "configmaps \"a\" not found");
    cleanup(&target, &ns).await;
}

#[tokio::test]
async fn create_errors_are_real_statuses() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    api.create(&PostParams::default(), &cm("dup", json!({}))).await.unwrap();

    let err = api_error(api.create(&PostParams::default(), &cm("dup", json!({}))).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));

    let err = api_error(api.create(&PostParams::default(), &cm("Bad_Name", json!({}))).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(err.message.contains("metadata.name"), "{}", err.message);

    let missing: Api<ConfigMap> = Api::namespaced(target.client.clone(), &unique_name("missing"));
    let err = api_error(missing.create(&PostParams::default(), &cm("x", json!({}))).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert!(err.message.starts_with("namespaces \""), "{}", err.message);
    cleanup(&target, &ns).await;
}

#[tokio::test]
async fn generation_bumps_on_spec_not_metadata() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<Deployment> = Api::namespaced(target.client.clone(), &ns);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));

    // Patches, not replaces: on a real cluster the Deployment controller
    // writes the status meanwhile, and a stale replace would conflict.
    let labelled = api
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})))
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));

    let scaled =
        api.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}}))).await.unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
    cleanup(&target, &ns).await;
}

#[tokio::test]
async fn dry_run_create_is_not_stored() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    let pp = PostParams { dry_run: true, ..Default::default() };
    let answered = api.create(&pp, &cm("dry", json!({}))).await.unwrap();
    assert_eq!(answered.name_any(), "dry");
    assert!(api.get_opt("dry").await.unwrap().is_none());
    if let Some(server) = &target.server {
        assert!(server.requests().iter().any(|r| r.dry_run && r.method == "POST"));
    }
    cleanup(&target, &ns).await;
}

#[tokio::test]
async fn immutable_fields_and_protected_namespaces() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<Deployment> = Api::namespaced(target.client.clone(), &ns);
    let d = |app: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"selector": {"matchLabels": {"app": app}},
                        "template": {"metadata": {"labels": {"app": app}},
                                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    };
    let pp = kube::api::PatchParams::apply("capstan");
    api.patch("web", &pp, &kube::api::Patch::Apply(d("web"))).await.unwrap();
    let err = api_error(api.patch("web", &pp, &kube::api::Patch::Apply(d("other"))).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(err.message.contains("field is immutable"), "{}", err.message);

    let mut mismatched = d("web");
    mismatched["metadata"]["name"] = json!("bad");
    mismatched["spec"]["template"]["metadata"]["labels"]["app"] = json!("nope");
    let err = api_error(api.patch("bad", &pp, &kube::api::Patch::Apply(&mismatched)).await.unwrap_err());
    assert!(err.message.contains("`selector` does not match template `labels`"), "{}", err.message);

    // Both servers refuse it (the real one in its NamespaceLifecycle admission).
    let namespaces: Api<Namespace> = Api::all(target.client.clone());
    let err = api_error(namespaces.delete("default", &DeleteParams::default()).await.unwrap_err());
    assert_eq!(err.code, 403);
    cleanup(&target, &ns).await;
}

#[tokio::test]
async fn generate_name_pagination_and_status_replace() {
    let target = test_target().await;
    let ns = namespace(&target.client).await;
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), &ns);
    // Labelled: a real cluster adds its own ConfigMap (kube-root-ca.crt) to every namespace.
    let generated: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "gen-", "labels": {"made": "here"}}})).unwrap();
    for _ in 0..5 {
        let made = api.create(&PostParams::default(), &generated).await.unwrap();
        assert!(made.name_any().starts_with("gen-") && made.name_any().len() > 4);
    }
    let ours = ListParams::default().labels("made=here");
    let first = api.list(&ours.clone().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().expect("a continue token");
    let rest = api.list(&ours.clone().limit(10).continue_token(&token)).await.unwrap();
    assert_eq!(rest.items.len(), 3);
    assert!(rest.metadata.continue_.as_deref().unwrap_or_default().is_empty());

    let all: Api<ConfigMap> = Api::all(target.client.clone());
    let everywhere = all.list(&ours).await.unwrap();
    assert!(everywhere.items.iter().filter(|c| c.namespace().as_deref() == Some(ns.as_str())).count() == 5);

    let deployments: Api<Deployment> = Api::namespaced(target.client.clone(), &ns);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "s"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &d).await.unwrap();
    // A real cluster's Deployment controller writes the status too: a
    // replace with a stale resourceVersion is a conflict, so read and retry.
    let mut replaced = None;
    for _ in 0..10 {
        let mut with_status = deployments.get("s").await.unwrap();
        let status = json!({"replicas": 1, "readyReplicas": 1, "observedGeneration": 1});
        with_status.status = Some(serde_json::from_value(status).unwrap());
        match deployments.replace_status("s", &PostParams::default(), &with_status).await {
            Ok(written) => {
                replaced = Some(written);
                break;
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    let replaced = replaced.expect("the status was replaced");
    assert_eq!(replaced.status.unwrap().ready_replicas, Some(1));
    assert_eq!(replaced.metadata.generation, Some(1), "status writes do not bump generation");
    cleanup(&target, &ns).await;
}
