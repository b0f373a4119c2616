//! Health after a sync: `sync --wait` polls until the objects are healthy
//! (here a stand-in controller reports a Deployment's rollout), and a
//! rollout that never finishes is reported, not waited on forever; with
//! `--wait`, a wave starts only once the previous one is healthy; a health
//! plugin judges the kinds an Application gives it.

use std::time::Duration;

use capstan::SyncOptions;
use capstan::apply::{apply_options, health_of, wait_healthy};
use capstan_apiserver::{TestApiServer, test_target, unique_name};
use capstan_apply::Applier;
use capstan_integration::{GitRepo, TestEngine, app, program_stage};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";

#[tokio::test]
async fn wait_polls_until_the_rollout_is_reported_and_times_out_otherwise() {
    let repo = GitRepo::new();
    repo.write("app/deploy.yaml", DEPLOYMENT)
        .write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n");
    let head = repo.commit("web");
    let target = test_target().await;
    if target.is_real_cluster() {
        println!(
            "skipping wait_polls_until_the_rollout_is_reported_and_times_out_otherwise on a real cluster: it plays the Deployment controller, which a real cluster runs (without a kubelet to finish the rollout)"
        );
        return;
    }
    let engine = TestEngine::new();
    let ns = &unique_name("apply-health");
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
    let health = wait_healthy(
        &report.assessor,
        &applier,
        &mut report.applied,
        Duration::from_millis(300),
        |overall, pending| {
            rounds.push((overall.to_string(), pending.iter().map(|(o, _)| o.clone()).collect::<Vec<_>>()));
        },
    )
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
    let health = wait_healthy(&report.assessor, &applier, &mut report.applied, Duration::from_secs(60), |_, _| {})
        .await
        .unwrap();
    assert_eq!(verdicts(&health), ["Healthy", "Healthy"]);
}

/// Plays the Deployment controller once `web` exists: reports a finished rollout.
async fn report_rollout(server: &TestApiServer, ns: &str) {
    let deployments: Api<Deployment> = Api::namespaced(server.client(), ns);
    for _ in 0..600 {
        if let Some(d) = deployments.get_opt("web").await.unwrap() {
            let generation = d.metadata.generation.unwrap();
            let status = serde_json::json!({"status": {"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}});
            deployments.patch_status("web", &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Deployment was never created");
}

#[tokio::test]
async fn with_wait_a_wave_starts_once_the_previous_is_healthy() {
    let repo = GitRepo::new();
    repo.write("app/deploy.yaml", DEPLOYMENT).write(
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after\n  annotations: {capstan.dev/sync-wave: \"1\"}\n",
    );
    let head = repo.commit("two waves");
    let target = test_target().await;
    let Some(server) = target.server_or_skip(
        "with_wait_a_wave_starts_once_the_previous_is_healthy",
        "a stand-in Deployment controller (a real cluster runs its own, without a kubelet to finish the rollout)",
    ) else {
        return;
    };
    let engine = TestEngine::new();
    let ns = &unique_name("apply-wavegate");
    let file = app(
        "gate",
        &repo,
        &head,
        "app",
        &format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n"),
    );
    let options = SyncOptions { wave_timeout: Some(Duration::from_secs(60)), ..SyncOptions::default() };
    let (synced, ()) = tokio::join!(engine.engine.sync(&file, server.client(), &options), report_rollout(server, ns));
    synced.unwrap();
    let writes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && !r.dry_run && r.path.contains(&format!("/namespaces/{ns}/")))
        .filter(|r| !r.path.contains("capstan-inventory"))
        .map(|r| r.path.rsplit_once(&format!("/namespaces/{ns}/")).map(|(_, p)| p.to_owned()).unwrap_or(r.path))
        .collect();
    assert_eq!(writes, ["deployments/web", "deployments/web/status", "configmaps/after"]);
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n";

#[tokio::test]
async fn a_health_plugin_judges_its_kinds_and_the_rest_keeps_the_builtin_rules() {
    let repo = GitRepo::new();
    repo.write("app/crd.yaml", WIDGET_CRD)
        .write(
            "app/widget.yaml",
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nstatus: {ready: false}\n",
        )
        .write("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n");
    let head = repo.commit("widget");
    let target = test_target().await;
    let engine = TestEngine::new();
    let ns = &unique_name("apply-health-plugin");
    let spec = |program: &str| {
        format!(
            "  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n  allow: {{clusterResources: [{{group: apiextensions.k8s.io, kind: CustomResourceDefinition}}]}}\n  health:\n  - {{kinds: [example.com/Widget], {}\n",
            program_stage(program, "{}").trim_start_matches('{')
        )
    };

    let writes = target.server.as_ref().map(|s| s.write_count());
    let wrong = engine
        .engine
        .sync(&app("widgets", &repo, &head, "app", &spec("trivial")), target.client.clone(), &SyncOptions::default())
        .await;
    let text = format!("{:#}", wrong.unwrap_err());
    assert!(
        text.contains("spec.health plugin")
            && text.contains("capstan_test_trivial.wasm")
            && text.contains("not a health plugin"),
        "{text}"
    );
    assert_eq!(
        target.server.as_ref().map(|s| s.write_count()),
        writes,
        "a bad health plugin must not let the sync write"
    );

    let file = app("widgets", &repo, &head, "app", &spec("health"));
    let mut report = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let verdicts = |health: &[Option<capstan::apply::Assessment>]| {
        health.iter().flatten().map(|a| format!("{} {}", a.health, a.message)).collect::<Vec<_>>()
    };
    // Without the plugin, kstatus would call a Widget without conditions Healthy.
    let health = health_of(&report.assessor, &report.applied);
    // The CRD as applied may not be Established yet (it is a moment later).
    let verdicts_now = verdicts(&health);
    assert!(
        ["Healthy ", "Progressing waiting to be Established"].contains(&verdicts_now[0].as_str()),
        "{verdicts_now:?}"
    );
    assert_eq!(verdicts_now[1..], ["Healthy ", "Progressing waiting for status.ready"], "cm, widget");

    let widgets: Api<DynamicObject> = Api::namespaced_with(
        target.client.clone(),
        ns,
        &ApiResource::from_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget")),
    );
    let ready = serde_json::json!({"status": {"ready": true}});
    widgets.patch("w", &PatchParams::default(), &Patch::Merge(&ready)).await.unwrap();
    let applier = Applier::new(target.client.clone(), apply_options(&file.app, false).unwrap());
    let health = wait_healthy(&report.assessor, &applier, &mut report.applied, Duration::from_secs(60), |_, _| {})
        .await
        .unwrap();
    assert_eq!(verdicts(&health), ["Healthy ", "Healthy ", "Healthy ready"]);
}
