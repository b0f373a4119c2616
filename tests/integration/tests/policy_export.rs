//! `capstan policy export` read by the tool it is for: the
//! ValidatingAdmissionPolicy and binding it writes for the starter
//! library's `no-latest` are created on a real kube-apiserver, which then
//! refuses a Deployment with a `:latest` image that never came through
//! Capstan, with the policy's message. The test API server has no
//! admission chain, so there the test says it is skipped.

use std::path::Path;
use std::time::Duration;

use capstan::policy_cmd::ExportAction;
use capstan_apiserver::{test_target, unique_name};
use capstan_host::{Builtins, HostConfig, Limits, PluginHost};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}]}}}
    }))
    .unwrap()
}

#[tokio::test]
async fn an_exported_policy_is_enforced_by_the_api_server() {
    let target = test_target().await;
    if !target.is_real_cluster() {
        println!(
            "skipping an_exported_policy_is_enforced_by_the_api_server: it needs a real API server's admission chain"
        );
        return;
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies/no-latest/cel.yaml");
    let host = PluginHost::new(HostConfig {
        builtins: Builtins::Dir(capstan_test_artifacts::GUEST_DIR.into()),
        ..HostConfig::default()
    })
    .unwrap();
    let exported = capstan::policy_export::export(&[file], ExportAction::Deny, &host, &Limits::default()).unwrap();

    let client = target.client.clone();
    let ns = unique_name("policy-export");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let labelled = json!({"metadata": {"name": ns, "labels": {"capstan-test": ns}}});
    namespaces.create(&PostParams::default(), &serde_json::from_value(labelled).unwrap()).await.unwrap();
    // Applied as exported, except that the binding is scoped to this test's
    // namespace: the cluster is shared with the other suites.
    let name = format!("{ns}-no-latest");
    let mut created = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&exported) {
        let mut doc: Value = serde::Deserialize::deserialize(doc).unwrap();
        let kind = doc["kind"].as_str().unwrap().to_owned();
        doc["metadata"]["name"] = json!(name);
        if kind == "ValidatingAdmissionPolicyBinding" {
            doc["spec"]["policyName"] = json!(name);
            doc["spec"]["matchResources"] = json!({"namespaceSelector": {"matchLabels": {"capstan-test": ns}}});
        }
        let resource =
            ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", &kind));
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        api.patch(&name, &PatchParams::apply("capstan-test").validation_strict(), &Patch::Apply(&doc))
            .await
            .unwrap_or_else(|e| panic!("the exported {kind} was refused: {e}"));
        created.push(api);
    }

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    // The policy takes effect once the API server has loaded it.
    let mut refused = None;
    for _ in 0..100 {
        match deployments.create(&PostParams::default(), &deployment("latest", "nginx:latest")).await {
            Err(kube::Error::Api(status)) if status.message.contains("images must be pinned") => {
                refused = Some(status.message);
                break;
            }
            Ok(_) => {
                deployments.delete("latest", &DeleteParams::default()).await.unwrap();
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for api in &created {
        api.delete(&name, &DeleteParams::default()).await.unwrap();
    }
    let message = refused.expect("the API server never enforced the exported policy");
    assert!(message.contains("images must be pinned to a tag other than latest: app=nginx:latest"), "{message}");
    deployments.create(&PostParams::default(), &deployment("pinned", "nginx:1.27")).await.unwrap();
}
