//! An Application's plugin pipeline end to end: a `deny` policy stops the
//! sync before anything reaches the API server; a transformer stage that
//! fixes the objects lets the same sync through.

use capstan::SyncOptions;
use capstan_apiserver::{test_target, unique_name};
use capstan_integration::{GitRepo, TestEngine, app, program_stage as stage};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

#[tokio::test]
async fn deny_policy_applies_nothing_and_a_transformer_fixes_it() {
    let repo = GitRepo::new();
    repo.write("apps/web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unlabelled}\ndata: {a: b}\n");
    let sha = repo.commit("one");
    let target = test_target().await;
    let engine = TestEngine::new();
    let ns = &unique_name("plugin-pipeline");
    let base = format!(
        "  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n  policy:\n  - {}\n",
        stage("policy", "{requireLabel: team}")
    );

    let writes = target.server.as_ref().map(|s| s.write_count());
    let denied = engine
        .engine
        .sync(&app("web", &repo, &sha, "apps/web", &base), target.client.clone(), &SyncOptions::default())
        .await;
    let text = format!("{:#}", denied.unwrap_err());
    assert!(
        text.contains("denied the sync with 1 violation(s): spec.policy[0] ")
            && text.contains("ConfigMap/unlabelled metadata.labels.team: label team is required"),
        "{text}"
    );
    assert_eq!(target.server.as_ref().map(|s| s.write_count()), writes, "a denied sync must not write");
    let config_maps: Api<ConfigMap> = Api::namespaced(target.client.clone(), ns);
    assert!(config_maps.get_opt("unlabelled").await.unwrap().is_none());

    let fixed = format!("{base}  render:\n  - plugin: builtin:yaml\n  - {}\n", stage("labels", "{team: web}"));
    let report = engine
        .engine
        .sync(&app("web", &repo, &sha, "apps/web", &fixed), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap();
    assert_eq!(report.render.stages.len(), 2);
    let cm = config_maps.get("unlabelled").await.unwrap();
    assert_eq!(cm.metadata.labels.unwrap()["team"], "web");
}
