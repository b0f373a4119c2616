//! The apply engine end to end through `kube::Client` against the test API
//! server: no-op syncs write nothing, prune removes exactly what left Git
//! and nothing after a failed or empty render, a CRD and its CR sync in one
//! run, drift by another manager shows in `diff` and is restored by `sync`
//! unless ignored (an ignored field keeps its owner's value), a controller's
//! write while `diff` reads is no drift; many objects of one kind are read with a LIST, not a
//! GET each, and a LIST that fails falls back to GETs.

use std::time::Duration;

use capstan::SyncOptions;
use capstan::diff::diff;
use capstan_apiserver::{Fault, TestApiServer, test_target, unique_name};
use capstan_apply::Action;
use capstan_integration::{GitRepo, TestEngine, app, destination as spec};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

fn config_map(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: \"{value}\"\n")
}

fn deployment(replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
    )
}

fn prune() -> SyncOptions {
    SyncOptions { prune: true, ..SyncOptions::default() }
}

#[tokio::test]
async fn second_sync_of_unchanged_app_makes_no_writes_and_no_dry_runs() {
    let repo = GitRepo::new();
    repo.write("app/cm.yaml", &config_map("settings", "v1")).write("app/deploy.yaml", &deployment(2, "nginx:1.27"));
    let head = repo.commit("first");
    let target = test_target().await;
    let Some(log) = target.requests_or_skip("second_sync_of_unchanged_app_makes_no_writes_and_no_dry_runs") else {
        return;
    };
    let engine = TestEngine::new();
    let ns = unique_name("apply-noop");
    let file = app(&ns, &repo, &head, "app", &spec(&ns));

    let first = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    assert!(first.applied.iter().all(|a| a.action == Action::Created), "{:?}", first.applied);
    let before = target.server.as_ref().map(TestApiServer::write_count);
    let mark = log.mark();
    let second = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    assert!(second.applied.iter().all(|a| a.action == Action::Unchanged), "{:?}", second.applied);
    assert_eq!(target.server.as_ref().map(TestApiServer::write_count), before, "a no-op sync must not change storage");
    assert_eq!(log.writes_since(mark, &ns).await, Vec::<String>::new(), "a no-op sync must not send write requests");
    assert_eq!(log.dry_runs_since(mark, &ns).await, Vec::<String>::new(), "unchanged objects need no dry-run either");
}

#[tokio::test]
async fn many_objects_of_a_kind_are_read_with_one_list_and_a_failed_list_falls_back_to_gets() {
    let repo = GitRepo::new();
    let many: String = (0..40).map(|i| config_map(&format!("cm-{i}"), "v1") + "---\n").collect();
    repo.write("app/cms.yaml", &many).write("app/deploy.yaml", &deployment(1, "nginx:1.27"));
    let head = repo.commit("many");
    let target = test_target().await;
    let name = "many_objects_of_a_kind_are_read_with_one_list_and_a_failed_list_falls_back_to_gets";
    let Some(server) = target.server_or_skip(name, "fault injection (a refused LIST)") else { return };
    let engine = TestEngine::new();
    let ns = "apply-read-ahead";
    let file = app("many", &repo, &head, "app", &spec(ns));
    engine.engine.sync(&file, server.client(), &SyncOptions::default()).await.unwrap();

    let reads = |server: &TestApiServer| {
        let prefix = format!("/api/v1/namespaces/{ns}/configmaps");
        let requests = server.requests();
        let lists = requests.iter().filter(|r| r.verb == "list" && r.path == prefix).count();
        let gets = requests.iter().filter(|r| r.verb == "get" && r.path.starts_with(&format!("{prefix}/cm-"))).count();
        (lists, gets)
    };
    server.clear_requests();
    let second = engine.engine.sync(&file, server.client(), &SyncOptions::default()).await.unwrap();
    assert_eq!(second.applied.iter().filter(|a| a.action == Action::Unchanged).count(), 41);
    assert_eq!(reads(server), (1, 0), "40 ConfigMaps: one LIST, no GETs");
    assert!(
        server.requests().iter().any(|r| r.verb == "get" && r.path.ends_with("/deployments/web")),
        "one Deployment: a GET"
    );

    server.clear_requests();
    server.faults().inject(Fault::status(403).verb("list").path_contains("/configmaps").times(1));
    repo.write("app/cms.yaml", &many.replace("cm-7\ndata:\n  key: \"v1\"", "cm-7\ndata:\n  key: \"v2\""));
    let head = repo.commit("one changed");
    let file = app("many", &repo, &head, "app", &spec(ns));
    let third = engine.engine.sync(&file, server.client(), &SyncOptions::default()).await.unwrap();
    let configured: Vec<String> =
        third.applied.iter().filter(|a| a.action == Action::Configured).map(|a| a.object.name.clone()).collect();
    assert_eq!(configured, ["cm-7"]);
    assert_eq!(reads(server), (1, 40), "a refused LIST: one GET per ConfigMap instead");
    let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), ns);
    assert_eq!(config_maps.get("cm-7").await.unwrap().data.unwrap()["key"], "v2");
}

#[tokio::test]
async fn removing_a_file_prunes_exactly_its_objects() {
    let repo = GitRepo::new();
    repo.write("app/a.yaml", &config_map("a", "1"))
        .write("app/b.yaml", &format!("{}---\n{}", config_map("b1", "1"), config_map("b2", "1")));
    repo.write("app/c.yaml", &config_map("c", "1")).write("app/d.yaml", &config_map("d", "1"));
    let first = repo.commit("four files");
    repo.remove("app/b.yaml");
    let second = repo.commit("b left Git");
    let target = test_target().await;
    let Some(log) = target.requests_or_skip("removing_a_file_prunes_exactly_its_objects") else { return };
    let engine = TestEngine::new();
    let ns = &unique_name("apply-prune");
    let client = || target.client.clone();
    engine.engine.sync(&app(ns, &repo, &first, "app", &spec(ns)), client(), &SyncOptions::default()).await.unwrap();

    // Without --prune the objects stay and are reported.
    let kept = engine
        .engine
        .sync(&app(ns, &repo, &second, "app", &spec(ns)), client(), &SyncOptions::default())
        .await
        .unwrap();
    let skipped: Vec<_> =
        kept.applied.iter().filter(|a| a.action == Action::PruneSkipped).map(|a| a.object.name.as_str()).collect();
    assert_eq!(skipped, ["b2", "b1"]);

    let mark = log.mark();
    let report = engine.engine.sync(&app(ns, &repo, &second, "app", &spec(ns)), client(), &prune()).await.unwrap();
    let pruned: Vec<_> =
        report.applied.iter().filter(|a| a.action == Action::Pruned).map(|a| a.object.name.clone()).collect();
    assert_eq!(pruned, ["b2", "b1"], "reverse apply order");
    let deletes: Vec<_> = log.writes_since(mark, ns).await.into_iter().filter(|w| w.starts_with("DELETE")).collect();
    assert_eq!(
        deletes,
        [
            format!("DELETE /api/v1/namespaces/{ns}/configmaps/b2"),
            format!("DELETE /api/v1/namespaces/{ns}/configmaps/b1")
        ]
    );
    let cms: Api<ConfigMap> = Api::namespaced(client(), ns);
    for name in ["a", "c", "d"] {
        assert!(cms.get_opt(name).await.unwrap().is_some(), "{name} must stay");
    }
    for name in ["b1", "b2"] {
        assert!(
            cms.get_opt(name).await.unwrap().is_none_or(|cm| cm.metadata.deletion_timestamp.is_some()),
            "{name} must be pruned"
        );
    }
}

#[tokio::test]
async fn failed_or_empty_render_prunes_nothing_and_foreign_objects_are_never_pruned() {
    let repo = GitRepo::new();
    repo.write("app/a.yaml", &config_map("a", "1")).write("app/b.yaml", &config_map("b", "1"));
    let good = repo.commit("good");
    repo.write("app/b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [broken\n").remove("app/a.yaml");
    let broken = repo.commit("broken");
    repo.remove("app/b.yaml").write("app/README.md", "nothing here\n");
    let empty = repo.commit("empty");
    let target = test_target().await;
    let Some(log) =
        target.requests_or_skip("failed_or_empty_render_prunes_nothing_and_foreign_objects_are_never_pruned")
    else {
        return;
    };
    let engine = TestEngine::new();
    let ns = &unique_name("apply-noprune");
    let client = || target.client.clone();
    engine.engine.sync(&app(ns, &repo, &good, "app", &spec(ns)), client(), &SyncOptions::default()).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(), ns);
    let foreign = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "foreign"}});
    cms.patch("foreign", &PatchParams::apply("someone-else"), &Patch::Apply(&foreign)).await.unwrap();

    let mark = log.mark();
    for revision in [&broken, &empty] {
        let error =
            engine.engine.sync(&app(ns, &repo, revision, "app", &spec(ns)), client(), &prune()).await.unwrap_err();
        assert!(format!("{error:#}").contains("render"), "{error:#}");
    }
    assert_eq!(log.writes_since(mark, ns).await, Vec::<String>::new());
    for name in ["a", "b", "foreign"] {
        assert!(cms.get_opt(name).await.unwrap().is_some(), "{name} must stay");
    }
}

#[tokio::test]
async fn crd_and_cr_in_one_commit_sync_in_one_run() {
    // A group of its own: a real cluster keeps CRDs of earlier runs.
    let group = format!("{}.example.com", unique_name("widgets"));
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.{group}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n"
    );
    let cr = format!("apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: gizmo\nspec:\n  size: 3\n");
    let repo = GitRepo::new();
    // The CR comes first in the files: ordering must put the CRD before it.
    repo.write("app/a-widget.yaml", &cr).write("app/b-crd.yaml", &crd);
    let head = repo.commit("crd and cr");
    let target = test_target().await;
    let engine = TestEngine::new();
    let spec = format!(
        "{}  allow: {{clusterResources: [{{group: apiextensions.k8s.io, kind: CustomResourceDefinition}}]}}\n",
        spec(&unique_name("apply-crd"))
    );
    let file = app(&unique_name("crd-and-cr"), &repo, &head, "app", &spec);
    let report = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let kinds: Vec<_> = report.applied.iter().map(|a| (a.object.kind.as_str(), a.action)).collect();
    assert_eq!(kinds, [("CustomResourceDefinition", Action::Created), ("Widget", Action::Created)]);
    let again = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    assert!(again.applied.iter().all(|a| a.action == Action::Unchanged), "{:?}", again.applied);
}

#[tokio::test]
async fn drift_by_another_manager_shows_in_diff_and_sync_restores_it_unless_ignored() {
    let repo = GitRepo::new();
    repo.write("app/deploy.yaml", &deployment(2, "nginx:1.27"));
    let head = repo.commit("web");
    let target = test_target().await;
    let engine = TestEngine::new();
    let ns = &unique_name("apply-drift");
    let extra = format!(
        "{}  ignoreDifferences:\n  - group: apps\n    kind: Deployment\n    jsonPointers: [/spec/replicas]\n",
        spec(ns)
    );
    let file = app(ns, &repo, &head, "app", &extra);
    engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let report = diff(&engine.engine, &file, target.client.clone()).await.unwrap();
    assert_eq!(report.exit_code(), 0, "{}", capstan::diff::format(&report, false));

    let deployments: Api<Deployment> = Api::namespaced(target.client.clone(), ns);
    let scale = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 7}});
    deployments.patch("web", &PatchParams::apply("hpa").force(), &Patch::Apply(&scale)).await.unwrap();
    let report = diff(&engine.engine, &file, target.client.clone()).await.unwrap();
    assert_eq!(report.exit_code(), 0, "an ignored field is no drift: {}", capstan::diff::format(&report, false));

    let image =
        serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "evil:latest"}]}}}});
    deployments.patch("web", &PatchParams::default(), &Patch::Strategic(&image)).await.unwrap();
    let report = diff(&engine.engine, &file, target.client.clone()).await.unwrap();
    assert_eq!(report.exit_code(), 1);
    let text = capstan::diff::format(&report, false);
    assert!(text.contains("-        image: evil:latest") && text.contains("+        image: nginx:1.27"), "{text}");
    assert!(!text.contains("replicas"), "ignored field in the diff: {text}");

    let synced = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    assert_eq!(synced.applied[0].action, Action::Configured, "{:?}", synced.applied);
    let live = deployments.get("web").await.unwrap().spec.unwrap();
    assert_eq!(live.template.spec.unwrap().containers[0].image.as_deref(), Some("nginx:1.27"));
    assert_eq!(live.replicas, Some(7), "an ignored field stays with its owner (RespectIgnoreDifferences)");
    let report = diff(&engine.engine, &file, target.client.clone()).await.unwrap();
    assert_eq!(report.exit_code(), 0, "{}", capstan::diff::format(&report, false));
}

#[tokio::test]
async fn a_controller_writing_between_the_diffs_read_and_its_dry_run_is_no_drift() {
    let name = "a_controller_writing_between_the_diffs_read_and_its_dry_run_is_no_drift";
    let repo = GitRepo::new();
    repo.write("app/settings.yaml", &config_map("settings", "blue"));
    let head = repo.commit("settings");
    let target = test_target().await;
    let Some(server) = target.server_or_skip(name, "a delayed dry-run (fault injection)") else { return };
    let engine = TestEngine::new();
    let ns = &unique_name("apply-race");
    let file = app(ns, &repo, &head, "app", &spec(ns));
    engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();

    // As the Deployment controller stamps its revision annotation right
    // after an apply: a write (an update, so the delay on PATCH spares it)
    // lands after the diff read the live object and before its dry-run is
    // served.
    server
        .faults()
        .inject(Fault::latency(Duration::from_millis(400)).method("PATCH").path_contains("/configmaps/settings"));
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), ns);
    let mark = server.requests().len();
    // The diff's read of the object, not of the inventory (another namespace).
    let object_path = format!("/namespaces/{ns}/configmaps");
    let stamp = async {
        for _ in 0..400 {
            let read = server.requests().iter().skip(mark).any(|r| r.method == "GET" && r.path.contains(&object_path));
            if read {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut live = cms.get("settings").await.unwrap();
        live.metadata.annotations.get_or_insert_default().insert("example.com/revision".into(), "2".into());
        cms.replace("settings", &PostParams::default(), &live).await.unwrap();
    };
    let (report, ()) = tokio::join!(diff(&engine.engine, &file, target.client.clone()), stamp);
    let report = report.unwrap();
    assert_eq!(server.faults().pending(), 0, "the dry-run was delayed");
    assert_eq!(report.exit_code(), 0, "{}", capstan::diff::format(&report, false));
}

#[tokio::test]
async fn diff_never_shows_secret_values() {
    let secret = |value: &str| {
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n  password: {value}\n")
    };
    let repo = GitRepo::new();
    repo.write("app/secret.yaml", &secret("b2xkLXBhc3N3b3Jk"));
    let first = repo.commit("old password");
    repo.write("app/secret.yaml", &secret("bmV3LXBhc3N3b3Jk"));
    let second = repo.commit("new password");
    let target = test_target().await;
    let engine = TestEngine::new();
    let ns = &unique_name("apply-secret");
    engine
        .engine
        .sync(&app(ns, &repo, &first, "app", &spec(ns)), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap();
    let report = diff(&engine.engine, &app(ns, &repo, &second, "app", &spec(ns)), target.client.clone()).await.unwrap();
    assert_eq!(report.exit_code(), 1);
    let text = capstan::diff::format(&report, false);
    assert!(text.contains("-  password: (masked ") && text.contains("+  password: (masked "), "{text}");
    assert!(!text.contains("b2xk") && !text.contains("bmV3"), "a Secret value leaked: {text}");
}

#[tokio::test]
async fn dry_run_of_a_new_app_reports_creations_and_writes_nothing() {
    let repo = GitRepo::new();
    repo.write("app/cm.yaml", &config_map("settings", "v1")).write("app/deploy.yaml", &deployment(1, "nginx:1.27"));
    let head = repo.commit("new app");
    let target = test_target().await;
    let Some(log) = target.requests_or_skip("dry_run_of_a_new_app_reports_creations_and_writes_nothing") else {
        return;
    };
    let engine = TestEngine::new();
    let dry_run = SyncOptions { dry_run: true, ..SyncOptions::default() };
    let ns = unique_name("apply-dryrun");
    let mark = log.mark();
    let report =
        engine.engine.sync(&app(&ns, &repo, &head, "app", &spec(&ns)), target.client.clone(), &dry_run).await.unwrap();
    let actions: Vec<_> = report.applied.iter().map(|a| (a.object.name.as_str(), a.action)).collect();
    assert_eq!(actions, [("settings", Action::Created), ("web", Action::Created)]);
    if let Some(server) = &target.server {
        assert_eq!(server.write_count(), 0);
    }
    assert_eq!(log.writes_since(mark, &ns).await, Vec::<String>::new());
}
