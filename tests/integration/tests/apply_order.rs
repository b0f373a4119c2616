//! Order and resilience of a sync, asserted from the request log (the test
//! API server's, or a real cluster's audit log): hooks and waves run in order, a failed PreSync hook stops
//! the sync and runs the SyncFail hooks, and injected 429/503/dropped
//! connections do not stop a sync or duplicate anything.

use capstan::SyncOptions;
use capstan_apiserver::{Fault, Mark, RequestLog, test_target, unique_name};
use capstan_apply::Action;
use capstan_integration::cluster::finish_job;
use capstan_integration::{GitRepo, TestEngine, app};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::ListParams;

fn config_map(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\ndata:\n  key: value\n"
    )
}

fn spec(ns: &str) -> String {
    format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n")
}

/// Names of the objects written (not dry-run) in `namespace`, in order,
/// without the inventory.
async fn applied_names(log: &RequestLog<'_>, mark: Mark, namespace: &str) -> Vec<String> {
    let prefix = format!("/namespaces/{namespace}/");
    log.since(mark, &prefix)
        .await
        .into_iter()
        .filter(|r| r.method == "PATCH" && !r.dry_run && r.path.contains(&prefix) && !r.path.ends_with("/status"))
        .filter_map(|r| r.path.rsplit('/').next().map(str::to_owned))
        .filter(|name| !name.starts_with("capstan-inventory-"))
        .collect()
}

#[tokio::test]
async fn hooks_and_waves_run_in_order() {
    let repo = GitRepo::new();
    repo.write("app/pre.yaml", &config_map("pre", "capstan.dev/hook: PreSync"))
        .write("app/post.yaml", &config_map("post", "helm.sh/hook: post-install"))
        .write("app/fail.yaml", &config_map("fail", "argocd.argoproj.io/hook: SyncFail"))
        .write("app/late.yaml", &config_map("late", "capstan.dev/sync-wave: \"2\""))
        .write("app/during.yaml", &config_map("during", "capstan.dev/hook: Sync, capstan.dev/sync-wave: \"2\""))
        .write("app/early.yaml", &config_map("early", "argocd.argoproj.io/sync-wave: \"-1\""))
        .write("app/plain.yaml", &config_map("plain", ""))
        .write("app/secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret\nstringData:\n  token: t\n");
    let head = repo.commit("hooks and waves");
    let target = test_target().await;
    let Some(log) = target.requests_or_skip("hooks_and_waves_run_in_order") else { return };
    let engine = TestEngine::new();
    let ns = &unique_name("apply-order");
    let mark = log.mark();
    let report = engine
        .engine
        .sync(&app("order", &repo, &head, "app", &spec(ns)), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap();

    // Within wave 0 the Secret goes before the ConfigMap (kind order).
    assert_eq!(applied_names(&log, mark, ns).await, ["pre", "early", "secret", "plain", "late", "during", "post"]);
    let hooks: Vec<_> =
        report.hooks.iter().map(|h| (format!("{:?}", h.phase), h.object.name.as_str(), h.outcome.is_ok())).collect();
    assert_eq!(
        hooks,
        [("PreSync".into(), "pre", true), ("Sync".into(), "during", true), ("PostSync".into(), "post", true)]
    );
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), ns);
    assert!(cms.get_opt("fail").await.unwrap().is_none(), "SyncFail hooks run only when the sync fails");
}

#[tokio::test]
async fn failed_pre_sync_hook_stops_the_sync_and_runs_sync_fail_hooks() {
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations: {argocd.argoproj.io/hook: PreSync}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: busybox\n";
    let repo = GitRepo::new();
    repo.write("app/job.yaml", job)
        .write("app/app.yaml", &config_map("app", ""))
        .write("app/alert.yaml", &config_map("alert", "capstan.dev/hook: SyncFail"));
    let head = repo.commit("failing migration");
    let target = test_target().await;
    let Some(log) = target.requests_or_skip("failed_pre_sync_hook_stops_the_sync_and_runs_sync_fail_hooks") else {
        return;
    };
    let engine = TestEngine::new();
    let ns = &unique_name("apply-hookfail");

    // Neither server runs the Job's pod (no kubelet): fail the Job as its
    // controller would, with the conditions a real API server requires.
    let jobs: Api<Job> = Api::namespaced(target.client.clone(), ns);
    let controller = tokio::spawn(async move {
        finish_job(&jobs, "migrate", |start, now| {
            let condition = |type_: &str| serde_json::json!({"type": type_, "status": "True", "message": "BackoffLimitExceeded", "lastTransitionTime": now});
            serde_json::json!({"active": 0, "startTime": start, "conditions": [condition("FailureTarget"), condition("Failed")]})
        })
        .await
    });
    let mark = log.mark();
    let error = engine
        .engine
        .sync(&app("hookfail", &repo, &head, "app", &spec(ns)), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap_err();
    controller.await.unwrap();
    let message = format!("{error:#}");
    assert!(message.contains(&format!("PreSync hook Job/{ns}/migrate failed: BackoffLimitExceeded")), "{message}");
    assert_eq!(
        applied_names(&log, mark, ns).await,
        ["migrate", "alert"],
        "no regular object may be applied after a failed PreSync hook"
    );
}

#[tokio::test]
async fn injected_throttling_outages_and_dropped_connections_do_not_stop_a_sync() {
    let repo = GitRepo::new();
    for name in ["a", "b", "c", "d"] {
        repo.write(&format!("app/{name}.yaml"), &config_map(name, ""));
    }
    let head = repo.commit("four config maps");
    let target = test_target().await;
    let Some(server) = target.server_or_skip(
        "injected_throttling_outages_and_dropped_connections_do_not_stop_a_sync",
        "fault injection (429, 503, 500, dropped connections)",
    ) else {
        return;
    };
    // Without kube's own retry layer, so the engine's retries are what is tested.
    let mut config = server.kube_config();
    config.default_retry = false;
    let client = kube::Client::try_from(config).unwrap();
    let faults = server.faults();
    faults.inject(Fault::too_many_requests(1).method("PATCH").path_contains("/configmaps/a").times(2));
    faults.inject(Fault::unavailable().method("GET").path_contains("/configmaps/b"));
    faults.inject(Fault::drop_connection().method("PATCH").path_contains("/configmaps/c").nth(2));
    faults.inject(Fault::internal_error().method("PATCH").path_contains("/configmaps/d").nth(2));
    faults.inject(Fault::conflict().method("GET").path_contains("/configmaps/capstan-inventory"));
    let engine = TestEngine::new();
    let ns = "apply-faults";
    let report = engine
        .engine
        .sync(&app("faults", &repo, &head, "app", &spec(ns)), client.clone(), &SyncOptions::default())
        .await
        .unwrap();
    assert_eq!(faults.pending(), 0, "every fault was hit");
    assert!(report.applied.iter().all(|a| a.action == Action::Created), "{:?}", report.applied);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut names: Vec<_> =
        cms.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|c| c.metadata.name).collect();
    names.sort();
    assert_eq!(names, ["a", "b", "c", "d"], "every object exactly once");
    let inventory: Api<ConfigMap> = Api::namespaced(client.clone(), "capstan-system");
    assert!(inventory.get_opt("capstan-inventory-faults").await.unwrap().is_some(), "in the Application's namespace");
    let again = engine
        .engine
        .sync(&app("faults", &repo, &head, "app", &spec(ns)), client, &SyncOptions::default())
        .await
        .unwrap();
    assert!(again.applied.iter().all(|a| a.action == Action::Unchanged), "{:?}", again.applied);
}

#[tokio::test]
async fn hooks_rerun_each_sync_with_their_delete_policies() {
    let repo = GitRepo::new();
    repo.write("app/pre.yaml", &config_map("pre", "capstan.dev/hook: PreSync"))
        .write(
            "app/post.yaml",
            &config_map("post", "capstan.dev/hook: PostSync, capstan.dev/hook-delete-policy: HookSucceeded"),
        )
        .write("app/plain.yaml", &config_map("plain", ""));
    let head = repo.commit("hooks");
    let target = test_target().await;
    let Some(log) = target.requests_or_skip("hooks_rerun_each_sync_with_their_delete_policies") else { return };
    let engine = TestEngine::new();
    let ns = &unique_name("apply-rerun");
    let file = app("rerun", &repo, &head, "app", &spec(ns));
    engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), ns);
    assert!(cms.get_opt("pre").await.unwrap().is_some(), "no HookSucceeded policy: the hook object stays");
    assert!(
        cms.get_opt("post").await.unwrap().is_none_or(|c| c.metadata.deletion_timestamp.is_some()),
        "HookSucceeded deletes it"
    );

    let mark = log.mark();
    engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let prefix = format!("/api/v1/namespaces/{ns}/configmaps/");
    let hook_writes: Vec<_> = log
        .since(mark, &prefix)
        .await
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "PATCH" | "DELETE") && !r.dry_run && r.path.starts_with(&prefix))
        .map(|r| format!("{} {}", r.method, &r.path[prefix.len()..]))
        .collect();
    // BeforeHookCreation (the default) replaces the old PreSync object; the
    // unchanged regular object is not written at all.
    assert_eq!(hook_writes, ["DELETE pre", "PATCH pre", "PATCH post", "DELETE post"]);
}

/// A hook with only `metadata.generateName` (Argo CD's habit for a Job per sync).
fn generated(prefix: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: {prefix}\n  annotations: {{{annotations}}}\ndata:\n  key: value\n"
    )
}

#[tokio::test]
async fn hooks_with_a_generated_name_are_created_fresh_each_sync_and_ordinary_objects_with_one_are_refused() {
    let repo = GitRepo::new();
    repo.write("app/smoke.yaml", &generated("smoke-", "capstan.dev/hook: PostSync"))
        .write(
            "app/clean.yaml",
            &generated(
                "clean-",
                "argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded",
            ),
        )
        .write("app/plain.yaml", &config_map("plain", ""));
    let head = repo.commit("generated hooks");
    let target = test_target().await;
    let engine = TestEngine::new();
    let ns = &unique_name("apply-generated");
    let file = app("generated", &repo, &head, "app", &spec(ns));
    let mut runs = Vec::new();
    for _ in 0..2 {
        let report = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
        runs.extend(report.hooks.iter().map(|h| h.object.name.clone()));
    }
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert!(runs.iter().all(|n| (n.starts_with("smoke-") || n.starts_with("clean-")) && n.len() == 11), "{runs:?}");
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), ns);
    let live: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter_map(|c| c.metadata.name)
        .collect();
    let smoke: Vec<&String> = live.iter().filter(|n| n.starts_with("smoke-")).collect();
    assert_eq!(smoke.len(), 2, "a fresh object per sync: {live:?}");
    assert!(!live.iter().any(|n| n.starts_with("clean-")), "HookSucceeded deleted each run: {live:?}");

    let ordinary = GitRepo::new();
    ordinary.write("app/plain.yaml", &generated("plain-", ""));
    let head = ordinary.commit("generated, not a hook");
    let file = app("generated-plain", &ordinary, &head, "app", &spec(ns));
    let error = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("plain-") && message.contains("only on hooks"), "{message}");
}
