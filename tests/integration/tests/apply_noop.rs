//! The no-op re-sync on either server: an ordinary app whose manifests a
//! real API server rewrites (quantities, `stringData`, empty maps and
//! lists, defaults) and the examples of this repository cost no write and
//! no dry-run once synced, counted in the request log (the test server's,
//! or the real cluster's audit log); a change another writer makes to a
//! field Capstan applied is still found and undone.

use std::path::Path;

use capstan::{AppFile, SyncOptions};
use capstan_apiserver::{TestTarget, test_target, unique_name};
use capstan_apply::Action;
use capstan_integration::{GitRepo, TestEngine, app};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};

/// The five objects of issue 19, written as people write them.
const APP: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {}
  creationTimestamp: null
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        env: []
        resources:
          requests: {cpu: 1, memory: 1024Mi}
---
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {color: blue}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: report
            image: busybox
"#;

fn spec(ns: &str) -> String {
    format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n")
}

/// Syncs `file` twice and checks that the second sync changed nothing and
/// sent no write and no dry-run within `ns`.
async fn second_sync_is_free(target: &TestTarget, test: &str, file: &AppFile, ns: &str) {
    let Some(log) = target.requests_or_skip(test) else { return };
    let engine = TestEngine::new();
    engine.engine.sync(file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let mark = log.mark();
    let again = engine.engine.sync(file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    assert!(again.applied.iter().all(|a| a.action == Action::Unchanged), "{:?}", again.applied);
    assert_eq!(log.writes_since(mark, ns).await, Vec::<String>::new(), "writes of a no-op sync");
    assert_eq!(log.dry_runs_since(mark, ns).await, Vec::<String>::new(), "dry-runs of a no-op sync");
}

#[tokio::test]
async fn resync_of_an_ordinary_app_sends_no_write_and_no_dry_run_and_drift_is_still_undone() {
    let repo = GitRepo::new();
    repo.write("app/app.yaml", APP);
    let head = repo.commit("five objects");
    let ns = unique_name("noop-app");
    let file = app(&ns, &repo, &head, "app", &spec(&ns));
    let test = "resync_of_an_ordinary_app_sends_no_write_and_no_dry_run_and_drift_is_still_undone";
    let target = test_target().await;
    second_sync_is_free(&target, test, &file, &ns).await;

    // Another writer changes a Secret value and removes a request: the
    // fields leave Capstan's field set, so the next sync sees and restores them.
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &ns);
    let changed = serde_json::json!({"data": {"password": "c3RvbGVu"}});
    secrets.patch("db", &PatchParams::default(), &Patch::Merge(&changed)).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(target.client.clone(), &ns);
    let remove =
        serde_json::json!([{"op": "remove", "path": "/spec/template/spec/containers/0/resources/requests/memory"}]);
    let remove: json_patch::Patch = serde_json::from_value(remove).unwrap();
    deployments.patch("web", &PatchParams::default(), &Patch::<()>::Json(remove)).await.unwrap();
    let engine = TestEngine::new();
    let synced = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let configured: Vec<_> =
        synced.applied.iter().filter(|a| a.action == Action::Configured).map(|a| a.object.kind.as_str()).collect();
    assert_eq!(configured, ["Secret", "Deployment"], "{:?}", synced.applied);
    let password = secrets.get("db").await.unwrap().data.unwrap()["password"].0.clone();
    assert_eq!(password, b"hunter2");
    let requests = deployments.get("web").await.unwrap().spec.unwrap().template.spec.unwrap().containers[0]
        .resources
        .clone()
        .unwrap()
        .requests
        .unwrap();
    assert!(requests.contains_key("memory"), "{requests:?}");
}

/// The Application file of an example, with a namespace and name of its own.
fn example(path: &str, prefix: &str) -> (AppFile, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut file = AppFile::load(&root.join(path)).unwrap();
    let ns = unique_name(prefix);
    file.app.metadata.name = ns.clone();
    file.app.spec.destination.namespace = Some(ns.clone());
    (file, ns)
}

#[tokio::test]
async fn resync_of_the_examples_sends_no_write_and_no_dry_run() {
    let target = test_target().await;
    for (path, prefix) in
        [("examples/guestbook/application.yaml", "guestbook"), ("examples/podinfo/application.yaml", "podinfo")]
    {
        let (file, ns) = example(path, prefix);
        second_sync_is_free(&target, "resync_of_the_examples_sends_no_write_and_no_dry_run", &file, &ns).await;
    }
}
