//! The install manifests (`capstan install --dry-run`, the files in
//! `deploy/`) as an API server sees them: every document is accepted by a
//! server-side dry-run apply with strict field validation, so a typo in
//! `deploy/` fails here and not in a user's cluster.

use capstan_apiserver::test_target;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};

#[tokio::test]
async fn every_install_manifest_is_accepted_by_the_api_server() {
    let target = test_target().await;
    let client = target.client.clone();
    let discovery = Discovery::new(client.clone()).run().await.expect("discovery");
    // A dry run creates nothing, so the namespaced objects need their
    // namespace for real (other suites use it too).
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "capstan-system"}});
    namespaces.patch("capstan-system", &PatchParams::apply("capstan-install-test"), &Patch::Apply(&ns)).await.unwrap();
    let text = capstan_controller::install::manifests();
    let mut applied = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value: serde_json::Value = serde::Deserialize::deserialize(doc).expect("an install manifest is YAML");
        if value.is_null() {
            continue;
        }
        let object: DynamicObject = serde_json::from_value(value.clone()).expect("an install manifest is an object");
        let types = object.types.clone().expect("apiVersion and kind");
        let (group, version) = types.api_version.split_once('/').unwrap_or(("", &types.api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
        let (resource, capabilities) = discovery.resolve_gvk(&gvk).unwrap_or_else(|| panic!("{gvk:?} is not served"));
        let api: Api<DynamicObject> = match (capabilities.scope, &object.metadata.namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
            (Scope::Namespaced, None) => panic!("{} {:?} needs a namespace", types.kind, object.metadata.name),
            (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
        };
        let name = object.metadata.name.clone().expect("a name");
        // Forced: other suites may have installed the CRD under their own manager.
        let params = PatchParams::apply("capstan-install-test").force().dry_run().validation_strict();
        api.patch(&name, &params, &Patch::Apply(&value))
            .await
            .unwrap_or_else(|e| panic!("{} {name} was refused: {e}", types.kind));
        applied.push(format!("{}/{name}", types.kind));
    }
    assert!(applied.contains(&"ConfigMap/capstan-platform-policies".to_owned()), "{applied:?}");
    assert!(applied.contains(&"Deployment/capstan-controller".to_owned()), "{applied:?}");
}
