//! Admission on a real API server: with a validating webhook that refuses
//! dry runs registered for the app's namespace, a sync still creates and
//! updates its objects (a plain apply where the dry run was refused), and
//! an unchanged re-sync needs neither.

use std::time::Duration;

use capstan::SyncOptions;
use capstan_apiserver::{test_target, unique_name};
use capstan_apply::Action;
use capstan_integration::webhook::{DENIED, DryRunRefusingWebhook};
use capstan_integration::{GitRepo, TestEngine, app};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};

fn config_map(value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: {value}\n")
}

#[tokio::test]
async fn a_webhook_that_refuses_dry_runs_does_not_stop_a_sync() {
    let target = test_target().await;
    if !target.is_real_cluster() {
        println!(
            "skipping a_webhook_that_refuses_dry_runs_does_not_stop_a_sync on the test API server: it does not call admission webhooks"
        );
        return;
    }
    let client = target.client.clone();
    let ns = unique_name("admission");
    let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"capstan.dev/webhook-test": ns}}});
    let apply = PatchParams::apply("capstan-test");
    Api::<Namespace>::all(client.clone()).patch(&ns, &apply, &Patch::Apply(&namespace)).await.unwrap();
    let webhook = DryRunRefusingWebhook::start();
    let configurations: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    configurations.patch(&ns, &apply, &Patch::Apply(webhook.configuration(&ns, &ns))).await.unwrap();

    // The API server loads webhook configurations asynchronously: wait until
    // a dry run in the namespace is refused.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let probe: ConfigMap = serde_json::from_value(serde_json::json!({"metadata": {"name": "probe"}})).unwrap();
    let mut active = false;
    for _ in 0..100 {
        if let Err(kube::Error::Api(status)) =
            cms.create(&PostParams { dry_run: true, ..Default::default() }, &probe).await
        {
            assert!(status.message.contains(DENIED), "{status:?}");
            active = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(active, "the webhook never took effect");

    let repo = GitRepo::new();
    repo.write("app/cm.yaml", &config_map("blue"));
    let blue = repo.commit("blue");
    repo.write("app/cm.yaml", &config_map("green"));
    let green = repo.commit("green");
    let spec = format!("  destination: {{namespace: {ns}}}\n");
    let engine = TestEngine::new();
    let sync = |revision: &str| {
        let file = app("admission", &repo, revision, "app", &spec);
        let (engine, client) = (engine.engine.clone(), client.clone());
        async move { engine.sync(&file, client, &SyncOptions::default()).await.unwrap() }
    };
    let created = sync(&blue).await;
    assert_eq!(created.applied[0].action, Action::Created, "{:?}", created.applied);
    let updated = sync(&green).await;
    assert_eq!(updated.applied[0].action, Action::Configured, "{:?}", updated.applied);
    assert_eq!(cms.get("settings").await.unwrap().data.unwrap()["color"], "green");
    let (refused, allowed) = webhook.seen();
    assert!(refused >= 2 && allowed >= 2, "dry runs refused {refused}, writes allowed {allowed}");

    let again = sync(&green).await;
    assert_eq!(again.applied[0].action, Action::Unchanged);
    assert_eq!(webhook.seen().0, refused, "an unchanged object needs no dry run");
    configurations.delete(&ns, &DeleteParams::default()).await.unwrap();
}
