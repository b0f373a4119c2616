//! The server as a whole: kubeconfig, clients, initial namespaces, and
//! kube-runtime's event recorder.

use capstan_apiserver::{TestApiServer, real_cluster_requested, test_target};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

#[tokio::test]
async fn kubeconfig_points_at_the_server_and_default_namespaces_exist() {
    if real_cluster_requested() {
        println!("skipping kubeconfig_points_at_the_server: in-process server only");
        return;
    }
    let server = TestApiServer::start().await.unwrap();
    assert!(server.url().starts_with("http://127.0.0.1:"));
    let kubeconfig = server.kubeconfig();
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = Client::try_from(config).unwrap();
    let names: Vec<String> = Api::<Namespace>::all(client)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(names.iter().any(|n| n == ns), "{ns} missing from {names:?}");
    }
    assert_eq!(server.write_count(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn event_recorder_publishes_events() {
    let target = test_target().await;
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), "default");
    let name = capstan_apiserver::unique_name("evt");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    let cm = cms.patch(&name, &PatchParams::apply("t"), &Patch::Apply(&cm)).await.unwrap();
    let recorder = Recorder::new(target.client.clone(), Reporter::from("capstan".to_string()));
    let event = Event {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("applied".into()),
        action: "Sync".into(),
        secondary: None,
    };
    let reference = cm.object_ref(&());
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events: Api<K8sEvent> = Api::namespaced(target.client.clone(), "default");
    let listed = events.list(&ListParams::default()).await.unwrap();
    let ours: Vec<_> = listed
        .items
        .iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "the repeat is folded into a series");
    assert_eq!(ours[0].reason.as_deref(), Some("Synced"));
    cms.delete(&name, &Default::default()).await.unwrap();
}

#[tokio::test]
async fn simulated_controllers_make_workloads_ready() {
    if real_cluster_requested() {
        println!("skipping simulated_controllers_make_workloads_ready: a real cluster has real controllers");
        return;
    }
    let config = capstan_apiserver::ServerConfig { simulate_controllers: true, ..Default::default() };
    let server = TestApiServer::start_with(config).await.unwrap();
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(server.client(), "default");
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                            "template": {"metadata": {"labels": {"a": "b"}},
                                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
    api.patch("web", &PatchParams::apply("capstan"), &Patch::Apply(&d)).await.unwrap();
    for _ in 0..100 {
        let status = api.get("web").await.unwrap().status.unwrap_or_default();
        if status.observed_generation == Some(1) && status.ready_replicas == Some(2) {
            server.shutdown().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the deployment never became ready");
}
