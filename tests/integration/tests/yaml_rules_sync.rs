//! Manifests written the way people write them for kubectl sync on the API
//! server (issue 21): `defaultMode: 0644` is the octal 420 and `tty: yes`,
//! `stdin: on` are booleans to `kubectl apply -f`, so to builtin:yaml; through
//! builtin:kustomize the octal mode syncs too, and `yes` is read as
//! `kubectl kustomize` reads it (a string: `kubectl apply -k` of such a file
//! is refused by the API server, "cannot unmarshal string into Go struct
//! field Container.spec.containers.stdin of type bool").

use std::path::Path;
use std::process::Command;

use capstan::SyncOptions;
use capstan_apiserver::{test_target, unique_name};
use capstan_integration::{GitRepo, TestEngine, app, destination};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use serde_json::Value;

/// A Deployment whose container's `tty` and `stdin` are `booleans`.
fn deployment(tty: &str, stdin: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: c\n        image: busybox\n        tty: {tty}\n        stdin: {stdin}\n      volumes:\n      - name: v\n        configMap:\n          name: cm\n          defaultMode: 0644\n"
    )
}

/// Syncs `dir` of `repo` into a fresh namespace; the live Deployment's
/// (defaultMode, tty, stdin).
async fn sync_and_read(repo: &GitRepo, name: &str) -> (Option<i32>, Option<bool>, Option<bool>) {
    let head = repo.commit(name);
    let ns = unique_name(name);
    let file = app(name, repo, &head, "app", &destination(&ns));
    let target = test_target().await;
    TestEngine::new().engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let live = Api::<Deployment>::namespaced(target.client.clone(), &ns).get("web").await.unwrap();
    let pod = live.spec.unwrap().template.spec.unwrap();
    let mode = pod.volumes.unwrap()[0].config_map.as_ref().unwrap().default_mode;
    (mode, pod.containers[0].tty, pod.containers[0].stdin)
}

#[tokio::test]
async fn builtin_yaml_syncs_octal_modes_and_yes_on_booleans() {
    let repo = GitRepo::new();
    repo.write("app/deployment.yaml", &deployment("yes", "on"));
    assert_eq!(sync_and_read(&repo, "yaml11-yaml").await, (Some(420), Some(true), Some(true)));
}

#[tokio::test]
async fn builtin_kustomize_syncs_octal_modes_and_reads_yes_as_kubectl_kustomize() {
    let repo = GitRepo::new();
    repo.write("app/kustomization.yaml", "resources:\n- deployment.yaml\n");
    repo.write("app/deployment.yaml", &deployment("True", "true"));
    assert_eq!(sync_and_read(&repo, "yaml11-kustomize").await, (Some(420), Some(true), Some(true)));

    // `tty: yes` is the string "yes" to kubectl kustomize; the render says so.
    repo.write("app/deployment.yaml", &deployment("yes", "on"));
    let head = repo.commit("yes");
    let file = app("yaml11-kustomize-yes", &repo, &head, "app", &destination(&unique_name("yaml11")));
    let out = TestEngine::new().engine.render_async(&file).await.unwrap();
    let container = &out.rendered.objects[0].as_value()["spec"]["template"]["spec"]["containers"][0];
    assert_eq!((&container["tty"], &container["stdin"]), (&Value::from("yes"), &Value::from("on")));
    if let Some(theirs) = kubectl_kustomize(&repo.path().join("app")) {
        assert_eq!(&theirs["spec"]["template"]["spec"]["containers"][0], container);
    }
}

/// The one object of `kubectl kustomize DIR`; `None` when kubectl is absent.
fn kubectl_kustomize(dir: &Path) -> Option<Value> {
    let Ok(out) = Command::new("kubectl").arg("kustomize").arg(dir).output() else {
        println!("kubectl not on PATH: skipping the comparison with kubectl kustomize");
        return None;
    };
    assert!(out.status.success(), "kubectl kustomize: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_yaml::from_slice(&out.stdout).unwrap())
}
