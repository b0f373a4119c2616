//! Prune guards and the in-cluster inventory end to end: a mass prune is
//! refused unless confirmed (and a sync without `--prune` is not stopped), opted-out and protected objects are kept, a
//! large inventory is chunked under the object size limit, and `capstan
//! diff` exits 0/1/2.

use capstan::SyncOptions;
use capstan::target::TargetOptions;
use capstan_apiserver::{test_target, unique_name};
use capstan_apply::{Action, Inventory, InventoryStore, RetryPolicy};
use capstan_integration::{GitRepo, TestEngine, app};
use capstan_types::ObjectRef;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
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

async fn exists(cms: &Api<ConfigMap>, name: &str) -> bool {
    cms.get_opt(name).await.unwrap().is_some_and(|cm| cm.metadata.deletion_timestamp.is_none())
}

#[tokio::test]
async fn mass_prune_is_refused_until_confirmed() {
    let repo = GitRepo::new();
    for name in ["a", "b", "c", "d"] {
        repo.write(&format!("app/{name}.yaml"), &config_map(name, ""));
    }
    let all = repo.commit("four");
    for name in ["b", "c", "d"] {
        repo.remove(&format!("app/{name}.yaml"));
    }
    let one = repo.commit("one left");
    let target = test_target().await;
    let engine = TestEngine::new();
    let ns = &unique_name("apply-massprune");
    engine
        .engine
        .sync(&app(ns, &repo, &all, "app", &spec(ns)), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap();

    // Without --prune nothing is deleted: the guard stays out of the way.
    let plain = engine
        .engine
        .sync(&app(ns, &repo, &one, "app", &spec(ns)), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap();
    let kept: Vec<_> =
        plain.applied.iter().filter(|a| a.action == Action::PruneSkipped).map(|a| a.object.name.as_str()).collect();
    assert_eq!(kept, ["d", "c", "b"]);

    let prune = SyncOptions { prune: true, ..SyncOptions::default() };
    let error =
        engine.engine.sync(&app(ns, &repo, &one, "app", &spec(ns)), target.client.clone(), &prune).await.unwrap_err();
    assert!(format!("{error:#}").contains("refusing to prune 3 of 4 inventory objects"), "{error:#}");
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), ns);
    for name in ["a", "b", "c", "d"] {
        assert!(exists(&cms, name).await, "{name} must survive a refused prune");
    }
    let confirmed = SyncOptions { prune: true, confirm_prune: true, ..SyncOptions::default() };
    let report =
        engine.engine.sync(&app(ns, &repo, &one, "app", &spec(ns)), target.client.clone(), &confirmed).await.unwrap();
    assert_eq!(report.applied.iter().filter(|a| a.action == Action::Pruned).count(), 3);
    assert!(exists(&cms, "a").await);
}

#[tokio::test]
async fn opted_out_and_protected_objects_are_kept() {
    let extra = unique_name("apply-protected-extra");
    let repo = GitRepo::new();
    repo.write("app/keep.yaml", &config_map("keep", "capstan.dev/prune: disabled"))
        .write("app/ns.yaml", &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {extra}\n"))
        .write("app/go.yaml", &config_map("go", ""))
        .write("app/stay1.yaml", &config_map("stay1", ""))
        .write("app/stay2.yaml", &config_map("stay2", ""))
        .write("app/stay3.yaml", &config_map("stay3", ""));
    let first = repo.commit("all");
    repo.remove("app/keep.yaml").remove("app/ns.yaml").remove("app/go.yaml");
    let second = repo.commit("three left Git");
    let target = test_target().await;
    let engine = TestEngine::new();
    let ns = &unique_name("apply-protected");
    // The render's own Namespace is a cluster-scoped kind: allowed explicitly.
    let spec = format!("{}  allow: {{clusterResources: [{{group: \"\", kind: Namespace}}]}}\n", spec(ns));
    engine
        .engine
        .sync(&app(ns, &repo, &first, "app", &spec), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap();
    let prune = SyncOptions { prune: true, ..SyncOptions::default() };
    let report =
        engine.engine.sync(&app(ns, &repo, &second, "app", &spec), target.client.clone(), &prune).await.unwrap();
    let outcome: Vec<_> = report
        .applied
        .iter()
        .filter(|a| a.action != Action::Unchanged)
        .map(|a| (a.object.name.as_str(), a.action))
        .collect();
    assert_eq!(
        outcome,
        [("keep", Action::PruneSkipped), ("go", Action::Pruned), (extra.as_str(), Action::PruneSkipped)]
    );
    let cms: Api<ConfigMap> = Api::namespaced(target.client.clone(), ns);
    assert!(exists(&cms, "keep").await && !exists(&cms, "go").await);
    let namespaces: Api<Namespace> = Api::all(target.client.clone());
    assert!(namespaces.get_opt(&extra).await.unwrap().is_some());
    // Kept objects stay in the inventory (in the Application's namespace): a
    // later, opted-in prune still sees them.
    let store = InventoryStore::new(target.client.clone(), "capstan-system", ns, RetryPolicy::default());
    let names: Vec<_> = store.load().await.unwrap().objects.into_iter().map(|o| o.name).collect();
    assert!(names.contains(&"keep".to_owned()) && names.contains(&extra), "{names:?}");
}

#[tokio::test]
async fn large_inventory_is_chunked_and_round_trips() {
    let target = test_target().await;
    let client = target.client.clone();
    let ns = &unique_name("apply-inventory");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    namespaces.patch(ns, &kube::api::PatchParams::apply("test"), &kube::api::Patch::Apply(&namespace)).await.unwrap();
    let store = InventoryStore::new(client.clone(), ns, "big", RetryPolicy::default());
    let object = |i: usize| ObjectRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: Some(format!("team-{:03}", i % 500)),
        name: format!("service-deployment-{i:06}"),
    };
    let big = Inventory { revision: "0123456789abcdef".into(), objects: (0..30_000).map(object).collect() };
    store.store(&big, &Inventory::default()).await.unwrap();
    assert_eq!(store.load().await.unwrap(), big);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let chunks = cms.list(&ListParams::default().labels("capstan.dev/inventory=big")).await.unwrap().items;
    assert!(chunks.len() > 1, "30,000 objects need more than one ConfigMap");
    for cm in &chunks {
        let size = serde_json::to_vec(cm).unwrap().len();
        assert!(size < 1024 * 1024, "{} is {size} bytes", cm.metadata.name.as_deref().unwrap_or_default());
    }
    // Shrinking removes the chunks no longer needed.
    let small = Inventory { revision: "fedcba".into(), objects: (0..3).map(object).collect() };
    store.store(&small, &big).await.unwrap();
    assert_eq!(store.load().await.unwrap(), small);
    assert_eq!(cms.list(&ListParams::default().labels("capstan.dev/inventory=big")).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn diff_command_exits_0_equal_1_different_2_error() {
    let repo = GitRepo::new();
    repo.write("app/cm.yaml", &config_map("settings", ""));
    let head = repo.commit("one");
    let state = tempfile::TempDir::new().unwrap();
    let target =
        TargetOptions { force_local: true, local_state: state.path().join("cluster.json"), ..TargetOptions::default() };
    let engine = TestEngine::new();
    let file = state.path().join("app.yaml");
    let text = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: cli}}\nspec:\n  source: {{repoURL: {}, revision: {head}, path: app}}\n{}",
        repo.path().display(),
        spec("apply-cli")
    );
    std::fs::write(&file, text).unwrap();

    assert_eq!(capstan::diff::run(&engine.engine, &file, &target, &[]).await, 1, "nothing synced yet");
    capstan::sync_cmd::run(&engine.engine, &file, &target, &SyncOptions::default(), None).await.unwrap();
    assert_eq!(capstan::diff::run(&engine.engine, &file, &target, &[]).await, 0, "in sync");
    assert_eq!(capstan::diff::run(&engine.engine, &state.path().join("missing.yaml"), &target, &[]).await, 2);
}
