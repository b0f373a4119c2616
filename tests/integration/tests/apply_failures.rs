//! Failure paths of a sync (the mass-prune guard without `--prune` is in
//! `apply_guards.rs`): a sync whose inventory cannot be recorded applies
//! nothing (the inventory is written ahead of each wave) and still runs its
//! SyncFail hooks; an inventory entry
//! whose kind is no longer served leaves the inventory instead of failing
//! every later prune; a rejected object is reported as kubectl reports it.

use capstan::SyncOptions;
use capstan_apiserver::{Fault, test_target, unique_name};
use capstan_apply::{Inventory, InventoryStore, RetryPolicy};
use capstan_integration::{GitRepo, TestEngine, app};
use capstan_types::ObjectRef;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

fn config_map(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\ndata:\n  key: value\n"
    )
}

fn spec(ns: &str) -> String {
    format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n")
}

/// A Deployment both servers refuse: its selector does not match its labels.
const BROKEN_DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\nspec:\n  selector:\n    matchLabels: {app: a}\n  template:\n    metadata:\n      labels: {app: b}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n";

#[tokio::test]
async fn a_sync_whose_inventory_cannot_be_recorded_applies_nothing_and_runs_its_sync_fail_hooks() {
    let repo = GitRepo::new();
    repo.write("app/broken.yaml", BROKEN_DEPLOYMENT)
        .write("app/plain.yaml", &config_map("plain", ""))
        .write("app/alert.yaml", &config_map("alert", "capstan.dev/hook: SyncFail"));
    let head = repo.commit("a broken deployment");
    let target = test_target().await;
    let Some(server) = target.server_or_skip(
        "a_sync_whose_inventory_cannot_be_recorded_applies_nothing_and_runs_its_sync_fail_hooks",
        "fault injection (a refused inventory write)",
    ) else {
        return;
    };
    server.faults().inject(Fault::status(403).method("PATCH").path_contains("/configmaps/capstan-inventory-"));
    let engine = TestEngine::new();
    let ns = &unique_name("fail-hooks");
    // The same sync each time; it is expected to fail, and says why.
    let failed_sync = async || {
        let application = app("hooks", &repo, &head, "app", &spec(ns));
        let error = engine.engine.sync(&application, server.client(), &SyncOptions::default()).await.unwrap_err();
        format!("{error:#}")
    };
    let message = failed_sync().await;
    assert!(message.contains("failed to access the inventory ConfigMap capstan-inventory-hooks"), "{message}");
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), ns);
    assert!(cms.get_opt("plain").await.unwrap().is_none(), "nothing is applied before it is on record");
    assert!(cms.get_opt("alert").await.unwrap().is_some(), "the SyncFail hook ran");

    // Recorded, the same sync fails at the broken Deployment, after the ConfigMap, with its own error first.
    server.faults().clear();
    let message = failed_sync().await;
    assert!(message.contains(&format!("failed to apply Deployment/{ns}/broken")), "{message}");
    assert!(cms.get_opt("plain").await.unwrap().is_some());
}

#[tokio::test]
async fn an_inventory_entry_of_a_kind_no_longer_served_leaves_the_inventory() {
    let repo = GitRepo::new();
    repo.write("app/cm.yaml", &config_map("settings", ""));
    let head = repo.commit("one");
    let target = test_target().await;
    let engine = TestEngine::new();
    let ns = &unique_name("fail-unserved");
    let file = app("unserved", &repo, &head, "app", &spec(ns));
    engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    // As after its CRD was deleted: an object of a kind nobody serves.
    // The inventory lives in the Application's own namespace (capstan-system for a file without one).
    let store = InventoryStore::new(target.client.clone(), "capstan-system", "unserved", RetryPolicy::default());
    let mut inventory = store.load().await.unwrap();
    let gone = ObjectRef {
        api_version: format!("{}.example.com/v1", unique_name("gone")),
        kind: "Gizmo".into(),
        namespace: Some(ns.clone()),
        name: "g".into(),
    };
    let before = inventory.clone();
    inventory.objects.push(gone.clone());
    store.store(&inventory, &before).await.unwrap();
    for prune in [false, true] {
        let options = SyncOptions { prune, ..SyncOptions::default() };
        engine.engine.sync(&file, target.client.clone(), &options).await.unwrap();
    }
    let stored: Inventory = store.load().await.unwrap();
    assert!(!stored.objects.contains(&gone), "{:?}", stored.objects);
}

#[tokio::test]
async fn rejected_objects_and_misspelt_fields_are_reported_one_cause_per_line() {
    let misspelt = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndtaa:\n  key: value\n";
    let repo = GitRepo::new();
    repo.write("app/typo.yaml", misspelt);
    let typo = repo.commit("a misspelt field");
    repo.remove("app/typo.yaml").write("app/broken.yaml", BROKEN_DEPLOYMENT);
    let broken = repo.commit("a broken deployment");
    let target = test_target().await;
    let engine = TestEngine::new();
    let ns = &unique_name("fail-report");
    let sync = |revision: &str| {
        let file = app("report", &repo, revision, "app", &spec(ns));
        let (engine, client) = (engine.engine.clone(), target.client.clone());
        async move { format!("{:#}", engine.sync(&file, client, &SyncOptions::default()).await.unwrap_err()) }
    };
    let message = sync(&typo).await;
    assert!(
        message.contains(&format!(
            "failed to apply ConfigMap/{ns}/typo: unknown field \"dtaa\": not in the schema of ConfigMap"
        )),
        "{message}"
    );
    let message = sync(&broken).await;
    assert!(message.contains(&format!("failed to apply Deployment/{ns}/broken")), "{message}");
    assert!(message.contains("\n  spec.template.metadata.labels: "), "one line per cause: {message}");
    assert!(!message.contains("Status {") && !message.contains("ApiError"), "no debug dump: {message}");
}
