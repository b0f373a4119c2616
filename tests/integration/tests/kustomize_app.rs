//! A kustomize overlay from Git, end to end: the Application names no render
//! stage, so the kustomization selects `builtin:kustomize`; the WASM
//! component's output equals `kubectl kustomize` (when kubectl is on PATH)
//! and syncs with its generated, hash-suffixed ConfigMap reference intact.

use std::path::Path;
use std::process::Command;

use capstan::SyncOptions;
use capstan_apiserver::{test_target, unique_name};
use capstan_integration::{GitRepo, TestEngine, app};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::Value;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/podinfo");
const OVERLAY: &str = "podinfo/overlays/production";

/// Copies the podinfo example into a fresh repository under `podinfo/`.
fn podinfo_repo() -> GitRepo {
    let repo = GitRepo::new();
    for file in [
        "base/kustomization.yaml",
        "base/deployment.yaml",
        "base/service.yaml",
        "overlays/production/kustomization.yaml",
        "overlays/production/resources.yaml",
    ] {
        let text = std::fs::read_to_string(Path::new(EXAMPLE).join(file)).unwrap();
        repo.write(&format!("podinfo/{file}"), &text);
    }
    repo
}

/// `kubectl kustomize DIR`, parsed; `None` (with a message) when kubectl is absent.
fn kubectl_kustomize(dir: &Path) -> Option<Vec<Value>> {
    let Ok(out) = Command::new("kubectl").arg("kustomize").arg(dir).output() else {
        println!("kubectl not on PATH: skipping the comparison with kubectl kustomize");
        return None;
    };
    assert!(out.status.success(), "kubectl kustomize: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    Some(serde_yaml::Deserializer::from_str(&text).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect())
}

#[tokio::test]
async fn overlay_renders_like_kubectl_and_syncs() {
    let repo = podinfo_repo();
    let head = repo.commit("podinfo");
    let engine = TestEngine::new();
    let ns = unique_name("podinfo");
    let file = app(
        "podinfo",
        &repo,
        &head,
        OVERLAY,
        &format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n"),
    );

    let out = engine.engine.render_async(&file).await.unwrap();
    assert_eq!(out.stages[0].plugin, "builtin:kustomize", "a kustomization selects builtin:kustomize");
    let rendered: Vec<Value> = out.rendered.objects.iter().map(|o| o.as_value().clone()).collect();
    if let Some(expected) = kubectl_kustomize(&repo.path().join(OVERLAY)) {
        assert_eq!(rendered, expected, "builtin:kustomize must match kubectl kustomize");
    }
    let cm_name =
        rendered.iter().find(|o| o["kind"] == "ConfigMap").unwrap()["metadata"]["name"].as_str().unwrap().to_owned();
    assert!(
        cm_name.starts_with("prod-podinfo-config-") && cm_name.len() == "prod-podinfo-config-".len() + 10,
        "{cm_name}"
    );

    let target = test_target().await;
    engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let deployment = Api::<Deployment>::namespaced(target.client.clone(), &ns).get("prod-podinfo").await.unwrap();
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let env_from = pod.containers[0].env_from.clone().unwrap();
    assert_eq!(env_from[0].config_map_ref.as_ref().unwrap().name, cm_name);
    assert_eq!(pod.containers[0].image.as_deref(), Some("ghcr.io/stefanprodan/podinfo:6.7.0"));
    let cm = Api::<ConfigMap>::namespaced(target.client.clone(), &ns).get(&cm_name).await.unwrap();
    assert_eq!(cm.data.unwrap()["PODINFO_UI_MESSAGE"], "Hello from production");
}

#[tokio::test]
async fn escaping_reference_is_refused_and_applies_nothing() {
    let repo = podinfo_repo();
    repo.write("podinfo/overlays/escape/kustomization.yaml", "resources:\n  - ../../../../../../etc\n");
    let head = repo.commit("escape");
    let target = test_target().await;
    let Some(log) = target.requests_or_skip("escaping_reference_is_refused_and_applies_nothing") else { return };
    let engine = TestEngine::new();
    let ns = unique_name("kustomize-escape");
    let spec = format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n");
    let file = app("escape", &repo, &head, "podinfo/overlays/escape", &spec);
    let mark = log.mark();
    let error = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("builtin:kustomize") && message.contains("kustomization.yaml"), "{message}");
    assert_eq!(log.writes_since(mark, &ns).await, Vec::<String>::new());
}
