//! The state file: consecutive servers (CLI runs) see the same "cluster".

use capstan_apiserver::{ServerConfig, TestApiServer, real_cluster_requested};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

#[tokio::test]
async fn state_survives_a_restart() {
    if real_cluster_requested() {
        println!("skipping state_survives_a_restart: state files belong to the in-process server");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("cluster.json");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"}, "data": {"a": "1"}});

    let first = TestApiServer::start_with(ServerConfig::with_state_file(&state)).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(first.client(), "default");
    let created = api.patch("kept", &PatchParams::apply("capstan"), &Patch::Apply(&cm)).await.unwrap();
    first.shutdown().await;
    assert!(state.exists());

    let second = TestApiServer::start_with(ServerConfig::with_state_file(&state)).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(second.client(), "default");
    let loaded = api.get("kept").await.unwrap();
    assert_eq!(loaded.uid(), created.uid());
    assert_eq!(loaded.resource_version(), created.resource_version());
    // Ownership survives too: re-applying is a no-op.
    let again = api.patch("kept", &PatchParams::apply("capstan"), &Patch::Apply(&cm)).await.unwrap();
    assert_eq!(again.resource_version(), created.resource_version());
    assert_eq!(second.write_count(), 0);
    let later = api
        .patch(
            "later",
            &PatchParams::apply("capstan"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"}})),
        )
        .await
        .unwrap();
    let later_rv: u64 = later.resource_version().unwrap().parse().unwrap();
    assert!(later_rv > created.resource_version().unwrap().parse().unwrap());
    second.shutdown().await;
}
