//! Hostile Applications (issue 18, items 3 and 11): each test builds the
//! repository an attacker would push and the Application that syncs it,
//! and asserts the clear refusal, that nothing was written for the refused
//! objects (the test API server's request log), that the victims are
//! untouched (read back), and that the same thing works once allowed.
//! With `CAPSTAN_TEST_KUBECONFIG` set the suite runs against a real
//! cluster; the request-log assertions need the test API server and are
//! skipped there, the read-backs are not.

use capstan::SyncOptions;
use capstan_apiserver::{TestTarget, test_target, unique_name};
use capstan_apply::{Action, Inventory, InventoryStore, RetryPolicy};
use capstan_integration::{GitRepo, TestEngine, app, destination, writes};
use capstan_types::ObjectRef;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

fn config_map(name: &str, extra_metadata: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra_metadata}data:\n  key: \"{value}\"\n")
}

/// Creates `name` in `namespace` as someone else (kubectl, another tool).
async fn victim_config_map(client: &kube::Client, namespace: &str, name: &str, annotations: serde_json::Value) {
    ensure_namespace(client, namespace).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "annotations": annotations}, "data": {"owner": "victim"}});
    cms.patch(name, &PatchParams::apply("victim-team"), &Patch::Apply(&cm)).await.unwrap();
}

async fn ensure_namespace(client: &kube::Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    namespaces.patch(name, &PatchParams::apply("victim-team"), &Patch::Apply(&ns)).await.unwrap();
}

/// The victim's data, asserting it is still there and unchanged.
async fn assert_untouched(client: &kube::Client, namespace: &str, name: &str) {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = cms.get_opt(name).await.unwrap().unwrap_or_else(|| panic!("{namespace}/{name} was deleted"));
    assert!(cm.metadata.deletion_timestamp.is_none(), "{namespace}/{name} is being deleted");
    assert_eq!(cm.data.unwrap_or_default().get("owner").map(String::as_str), Some("victim"), "{namespace}/{name}");
}

fn assert_no_writes(target: &TestTarget, what: &str) {
    if let Some(server) = &target.server {
        assert_eq!(writes(server), Vec::<String>::new(), "{what}: nothing may be written");
    }
}

fn clear(target: &TestTarget) {
    if let Some(server) = &target.server {
        server.clear_requests();
    }
}

#[tokio::test]
async fn cluster_scoped_kinds_and_other_namespaces_need_an_explicit_allow() {
    let target = test_target().await;
    let client = target.client.clone();
    let (team, victim, attacker) = (unique_name("team-a"), unique_name("victim"), unique_name("attacker"));
    victim_config_map(&client, &victim, "cluster-dns", json!({})).await;
    let binding = unique_name("pwn");
    let repo = GitRepo::new();
    repo.write("app/own.yaml", &config_map("own", "", "1")).write(
        "app/crb.yaml",
        &format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {binding}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}\nsubjects:\n- {{kind: ServiceAccount, name: default, namespace: {team}}}\n"),
    );
    let escalate = repo.commit("cluster-admin for everyone");
    repo.remove("app/crb.yaml")
        .write("app/dns.yaml", &config_map("cluster-dns", &format!("  namespace: {victim}\n"), "hijacked"));
    let reach = repo.commit("write into another namespace");
    let engine = TestEngine::new();

    clear(&target);
    let sync =
        |revision: &str, extra: &str| app(&attacker, &repo, revision, "app", &format!("{}{extra}", destination(&team)));
    let error = engine.engine.sync(&sync(&escalate, ""), client.clone(), &SyncOptions::default()).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!("refusing ClusterRoleBinding/{binding}"))
            && message.contains("cluster-scoped and not listed in spec.allow.clusterResources"),
        "{message}"
    );
    assert_no_writes(&target, "a ClusterRoleBinding out of bounds");
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    assert!(bindings.get_opt(&binding).await.unwrap().is_none());

    let error = engine.engine.sync(&sync(&reach, ""), client.clone(), &SyncOptions::default()).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!("refusing ConfigMap/{victim}/cluster-dns: namespace \"{victim}\" is outside")),
        "{message}"
    );
    assert_no_writes(&target, "a ConfigMap in another namespace");
    assert_untouched(&client, &victim, "cluster-dns").await;
    // `capstan diff` sends dry runs: refused the same way, before any.
    let diff = capstan::diff::diff(&engine.engine, &sync(&reach, ""), client.clone()).await.unwrap_err();
    assert!(format!("{diff:#}").contains("is outside the Application's bounds"), "{diff:#}");

    // Allowed explicitly, both work.
    let allow = format!(
        "  allow:\n    namespaces: [\"{}*\"]\n    clusterResources: [{{group: rbac.authorization.k8s.io, kind: ClusterRoleBinding}}]\n",
        &victim[..victim.len() - 2]
    );
    let report = engine.engine.sync(&sync(&escalate, &allow), client.clone(), &SyncOptions::default()).await.unwrap();
    assert!(report.applied.iter().any(|a| a.object.name == binding && a.action == Action::Created));
    let report = engine
        .engine
        .sync(&sync(&reach, &allow), client.clone(), &SyncOptions { prune: true, ..SyncOptions::default() })
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &victim);
    let taken = cms.get("cluster-dns").await.unwrap();
    assert_eq!(taken.data.unwrap()["key"], "hijacked", "allowed, and untracked: taken over as Argo CD would");
    assert!(
        report.applied.iter().any(|a| a.object.name == binding && a.action == Action::Pruned),
        "{:?}",
        report.applied
    );
}

#[tokio::test]
async fn a_kinds_scope_comes_from_discovery() {
    let target = test_target().await;
    let client = target.client.clone();
    let group = format!("{}.example.com", unique_name("scope"));
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("gadgets.{group}")},
        "spec": {"group": group, "scope": "Cluster", "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = format!("gadgets.{group}");
    crds.patch(&name, &PatchParams::apply("platform"), &Patch::Apply(&crd)).await.unwrap();
    let gvk = kube::core::GroupVersionKind::gvk(&group, "v1", "Gadget");
    for _ in 0..100 {
        if kube::discovery::pinned_kind(&client, &gvk).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let repo = GitRepo::new();
    repo.write("app/gadget.yaml", &format!("apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: g\n"));
    let head = repo.commit("a cluster-scoped custom resource");
    let (team, scoped) = (unique_name("team-scope"), unique_name("scoped"));
    let engine = TestEngine::new();
    clear(&target);
    let error = engine
        .engine
        .sync(&app(&scoped, &repo, &head, "app", &destination(&team)), client.clone(), &SyncOptions::default())
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("refusing Gadget/g: Gadget (group"), "{error:#}");
    assert_no_writes(&target, "a cluster-scoped custom resource");
    let allow =
        format!("{}  allow: {{clusterResources: [{{group: \"*.example.com\", kind: Gadget}}]}}\n", destination(&team));
    engine
        .engine
        .sync(&app(&scoped, &repo, &head, "app", &allow), client.clone(), &SyncOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn another_applications_objects_are_not_taken_over_unless_adopted() {
    let target = test_target().await;
    let client = target.client.clone();
    let (ns, victim_app, attacker_app) = (unique_name("shared"), unique_name("victim"), unique_name("attacker"));
    let repo = GitRepo::new();
    repo.write("victim/shared.yaml", &config_map("shared", "", "victim"))
        .write("victim/other.yaml", &config_map("other", "", "victim"))
        .write("attacker/shared.yaml", &config_map("shared", "", "attacker"));
    let head = repo.commit("two apps, one object");
    let engine = TestEngine::new();
    let victim = app(&victim_app, &repo, &head, "victim", &destination(&ns));
    engine.engine.sync(&victim, client.clone(), &SyncOptions::default()).await.unwrap();
    let argo = unique_name("argo");
    victim_config_map(
        &client,
        &ns,
        &argo,
        json!({"argocd.argoproj.io/tracking-id": format!("guestbook:/ConfigMap:{ns}/{argo}")}),
    )
    .await;
    repo.write("attacker/argo.yaml", &config_map(&argo, "", "attacker"));
    let with_argo = repo.commit("and one of Argo CD's");

    clear(&target);
    let capstan_owner = format!("Capstan Application \"capstan-system/{victim_app}\"");
    for (revision, owner) in [(&head, capstan_owner.as_str()), (&with_argo, "Argo CD application \"guestbook\"")] {
        let attacker = app(&attacker_app, &repo, revision, "attacker", &destination(&ns));
        let error = engine.engine.sync(&attacker, client.clone(), &SyncOptions::default()).await.unwrap_err();
        assert!(
            format!("{error:#}").contains(&format!("is managed by {owner}; set spec.sync.adopt: true")),
            "{error:#}"
        );
    }
    if let Some(server) = &target.server {
        let written: Vec<_> =
            writes(server).into_iter().filter(|w| w.contains("/configmaps/shared") || w.contains(&argo)).collect();
        assert_eq!(written, Vec::<String>::new(), "no write to the refused objects");
    }
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert_eq!(cms.get("shared").await.unwrap().data.unwrap()["key"], "victim");

    // Opted in: taken over, and then the victim's prune leaves it alone.
    let adopt = format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true, adopt: true}}\n");
    let attacker = app(&attacker_app, &repo, &head, "attacker", &adopt);
    engine.engine.sync(&attacker, client.clone(), &SyncOptions::default()).await.unwrap();
    assert_eq!(cms.get("shared").await.unwrap().data.unwrap()["key"], "attacker");
    repo.remove("victim/shared.yaml");
    let moved = repo.commit("shared moved to the other app");
    let prune = SyncOptions { prune: true, confirm_prune: true, ..SyncOptions::default() };
    let report = engine
        .engine
        .sync(&app(&victim_app, &repo, &moved, "victim", &destination(&ns)), client.clone(), &prune)
        .await
        .unwrap();
    assert!(
        report.applied.iter().any(|a| a.object.name == "shared" && a.action == Action::PruneSkipped),
        "{:?}",
        report.applied
    );
    assert_eq!(cms.get("shared").await.unwrap().data.unwrap()["key"], "attacker", "the adopter's now");
}

#[tokio::test]
async fn hooks_never_delete_what_the_application_did_not_create() {
    let target = test_target().await;
    let client = target.client.clone();
    let (team, victim, hooks) = (unique_name("team-hooks"), unique_name("victim-ns"), unique_name("hooks"));
    victim_config_map(&client, &victim, "data", json!({})).await;
    victim_config_map(&client, &team, "theirs", json!({})).await;
    let hook = |kind: &str, name: &str, annotations: &str| {
        format!(
            "apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n  annotations: {{capstan.dev/hook: PreSync, {annotations}}}\n"
        )
    };
    let repo = GitRepo::new();
    repo.write("app/own.yaml", &config_map("own", "", "1"));
    let cases = [
        (
            "unguarded",
            hook("Namespace", &victim, "capstan.dev/hook-delete-policy: HookSucceeded"),
            "refusing to delete (hook policy HookSucceeded)",
        ),
        ("recreated", hook("Namespace", &victim, "capstan.dev/prune: enabled"), "this Application did not create it"),
        (
            "succeeded",
            hook("Namespace", &victim, "capstan.dev/prune: enabled, capstan.dev/hook-delete-policy: HookSucceeded"),
            "this Application did not create it",
        ),
        (
            "configmap",
            hook("ConfigMap", "theirs", "capstan.dev/hook-delete-policy: BeforeHookCreation"),
            "refusing to run the PreSync hook",
        ),
    ];
    let allow = format!("{}  allow: {{clusterResources: [{{group: \"\", kind: Namespace}}]}}\n", destination(&team));
    let engine = TestEngine::new();
    for (case, manifest, expected) in cases {
        repo.write("app/hook.yaml", &manifest);
        let head = repo.commit(case);
        clear(&target);
        let error = engine
            .engine
            .sync(&app(&hooks, &repo, &head, "app", &allow), client.clone(), &SyncOptions::default())
            .await
            .unwrap_err();
        assert!(format!("{error:#}").contains(expected), "{case}: {error:#}");
        if let Some(server) = &target.server {
            let hits: Vec<_> =
                writes(server).into_iter().filter(|w| w.contains(&victim) || w.contains("theirs")).collect();
            assert_eq!(hits, Vec::<String>::new(), "{case}: nothing written to the victims");
        }
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = namespaces.get(&victim).await.unwrap();
    assert!(ns.metadata.deletion_timestamp.is_none(), "the victim namespace stays");
    assert_untouched(&client, &victim, "data").await;
    assert_untouched(&client, &team, "theirs").await;
    // Without the allow, the hook is out of bounds before it is even read.
    repo.write("app/hook.yaml", &hook("Namespace", &victim, "capstan.dev/prune: enabled"));
    let head = repo.commit("no allow");
    let error = engine
        .engine
        .sync(&app(&hooks, &repo, &head, "app", &destination(&team)), client.clone(), &SyncOptions::default())
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("is cluster-scoped and not listed"), "{error:#}");

    // The hook's own object, created by this Application: deleted as asked.
    repo.write("app/hook.yaml", &hook("ConfigMap", "own-hook", "capstan.dev/hook-delete-policy: HookSucceeded"));
    let head = repo.commit("a hook of its own");
    let report = engine
        .engine
        .sync(&app(&hooks, &repo, &head, "app", &destination(&team)), client.clone(), &SyncOptions::default())
        .await
        .unwrap();
    assert_eq!(report.hooks.len(), 1);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &team);
    assert!(cms.get_opt("own-hook").await.unwrap().is_none_or(|c| c.metadata.deletion_timestamp.is_some()));
    // A second run creates and deletes it again.
    engine
        .engine
        .sync(&app(&hooks, &repo, &head, "app", &destination(&team)), client.clone(), &SyncOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_forged_inventory_deletes_nothing() {
    let target = test_target().await;
    let client = target.client.clone();
    let (ns, elsewhere) = (unique_name("team-inv"), unique_name("kube-sys"));
    let (victim_app, attacker_app) = (unique_name("victim"), unique_name("attacker"));
    victim_config_map(&client, &elsewhere, "cluster-dns", json!({})).await;
    let repo = GitRepo::new();
    for name in ["a", "b", "c"] {
        repo.write(&format!("victim/{name}.yaml"), &config_map(name, "", "1"));
    }
    repo.write("attacker/inventory.yaml", &config_map("capstan-inventory-victim", "", "forged"));
    let head = repo.commit("victim and attacker");
    let engine = TestEngine::new();
    let victim = app(&victim_app, &repo, &head, "victim", &destination(&ns));
    engine.engine.sync(&victim, client.clone(), &SyncOptions::default()).await.unwrap();

    // A render cannot produce an inventory.
    clear(&target);
    let attacker = app(&attacker_app, &repo, &head, "attacker", &destination(&ns));
    let error = engine.engine.sync(&attacker, client.clone(), &SyncOptions::default()).await.unwrap_err();
    assert!(
        format!("{error:#}").contains(
            "refusing ConfigMap/capstan-inventory-victim: the name prefix \"capstan-inventory-\" is reserved"
        ),
        "{error:#}"
    );
    assert_no_writes(&target, "a rendered inventory");

    // Someone writes one anyway: out-of-bounds, untracked and malformed entries.
    victim_config_map(&client, &ns, "untracked", json!({})).await;
    let store = InventoryStore::new(client.clone(), "capstan-system", &victim_app, RetryPolicy::default());
    let real = store.load().await.unwrap();
    let entry = |namespace: &str, name: &str| ObjectRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some(namespace.into()),
        name: name.into(),
    };
    let mut objects = real.objects.clone();
    objects.extend([
        entry(&elsewhere, "cluster-dns"),
        entry(&ns, "untracked"),
        entry(&ns, "../../../../api/v1/namespaces/default"),
    ]);
    store.store(&Inventory { revision: real.revision.clone(), objects }, &real).await.unwrap();
    clear(&target);
    let prune = SyncOptions { prune: true, confirm_prune: true, ..SyncOptions::default() };
    let report = engine.engine.sync(&victim, client.clone(), &prune).await.unwrap();
    assert!(report.applied.iter().all(|a| a.action != Action::Pruned), "{:?}", report.applied);
    if let Some(server) = &target.server {
        let written: Vec<_> = writes(server)
            .into_iter()
            .filter(|w| !w.contains(&format!("/configmaps/capstan-inventory-{victim_app}")))
            .collect();
        assert_eq!(written, Vec::<String>::new(), "only the inventory is rewritten");
        let reached: Vec<_> =
            server.requests().into_iter().filter(|r| r.path.contains(&elsewhere) || r.path.contains("..")).collect();
        assert!(reached.is_empty(), "out-of-bounds entries are not even read: {reached:?}");
    }
    assert_untouched(&client, &elsewhere, "cluster-dns").await;
    assert_untouched(&client, &ns, "untracked").await;
    let kept: Vec<_> = store.load().await.unwrap().objects.into_iter().map(|o| o.name).collect();
    assert!(!kept.contains(&"untracked".to_owned()), "an object it does not own leaves its inventory: {kept:?}");
}

#[tokio::test]
async fn names_that_would_change_the_url_are_refused_before_any_request() {
    let target = test_target().await;
    let Some(server) = target.server_or_skip(
        "names_that_would_change_the_url_are_refused_before_any_request",
        "its log of every request, reads included",
    ) else {
        return;
    };
    let repo = GitRepo::new();
    let engine = TestEngine::new();
    let cases = [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ../../x\n",
            "invalid metadata.name \"../../x\" of ConfigMap/../../x",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: ../kube-system\n",
            "invalid metadata.namespace \"../kube-system\"",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x?dryRun=All\n",
            "invalid metadata.name \"x?dryRun=All\"",
        ),
        ("apiVersion: ../../v1\nkind: ConfigMap\nmetadata:\n  name: x\n", "invalid apiVersion \"../../v1\""),
        ("apiVersion: v1\nkind: Config/Map\nmetadata:\n  name: x\n", "invalid kind \"Config/Map\""),
        ("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a.b\n", "a Namespace name must be a DNS-1123 label"),
    ];
    for (manifest, expected) in cases {
        repo.write("app/bad.yaml", manifest).write("app/good.yaml", &config_map("good", "", "1"));
        let head = repo.commit(expected);
        server.clear_requests();
        let error = engine
            .engine
            .sync(
                &app("names", &repo, &head, "app", &destination("team-names")),
                server.client(),
                &SyncOptions::default(),
            )
            .await
            .unwrap_err();
        assert!(format!("{error:#}").contains(expected), "{expected}: {error:#}");
        assert_eq!(server.requests(), Vec::new(), "{expected}: zero requests");
    }
}
