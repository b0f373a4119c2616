//! Health after a sync: `sync --wait` polls until the objects are healthy
//! (here a stand-in controller reports a Deployment's rollout), and a
//! rollout that never finishes is reported, not waited on forever.

use std::time::Duration;

use capstan::SyncOptions;
use capstan::apply::{apply_options, wait_healthy};
use capstan_apiserver::test_target;
use capstan_apply::Applier;
use capstan_integration::{GitRepo, TestEngine, app};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";

#[tokio::test]
async fn wait_polls_until_the_rollout_is_reported_and_times_out_otherwise() {
    let repo = GitRepo::new();
    repo.write("app/deploy.yaml", DEPLOYMENT)
        .write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n");
    let head = repo.commit("web");
    let target = test_target().await;
    if target.is_real_cluster() {
        println!("skipping: a real cluster runs its own Deployment controller");
        return;
    }
    let engine = TestEngine::new();
    let ns = "apply-health";
    let file = app(
        "health",
        &repo,
        &head,
        "app",
        &format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n"),
    );
    let mut report = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let applier = Applier::new(target.client.clone(), apply_options(&file.app, false).unwrap());

    // Nobody reports the rollout: Progressing when the timeout passes.
    let mut rounds = Vec::new();
    let health = wait_healthy(&applier, &mut report.applied, Duration::from_millis(300), |overall, pending| {
        rounds.push((overall.to_string(), pending.iter().map(|(o, _)| o.clone()).collect::<Vec<_>>()));
    })
    .await
    .unwrap();
    let verdicts = |health: &[Option<_>]| {
        health.iter().flatten().map(|a: &capstan::apply::Assessment| a.health.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(verdicts(&health), ["Healthy", "Progressing"], "config map, deployment");
    let expected = (String::from("Progressing"), vec![format!("Deployment/{ns}/web")]);
    assert!(!rounds.is_empty() && rounds.iter().all(|r| r == &expected), "{rounds:?}");

    // A stand-in controller reports a finished rollout.
    let deployments: Api<Deployment> = Api::namespaced(target.client.clone(), ns);
    let generation = deployments.get("web").await.unwrap().metadata.generation.unwrap();
    let status = serde_json::json!({"status": {"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
    deployments.patch_status("web", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    let health = wait_healthy(&applier, &mut report.applied, Duration::from_secs(60), |_, _| {}).await.unwrap();
    assert_eq!(verdicts(&health), ["Healthy", "Healthy"]);
}
