//! builtin:cel and builtin:rego gating syncs: `deny` stops a sync with
//! zero writes, `warn` lets it through with the verdict recorded, the
//! platform set cannot be removed or weakened by an Application, malformed
//! policies fail at load with a position, and a looping policy is stopped
//! by the leash.

use capstan::{AppFile, Engine, SyncOptions};
use capstan_apiserver::test_target;
use capstan_host::pipeline::{Origin, Platform};
use capstan_integration::{GitRepo, app};
use capstan_types::{Enforcement, Severity};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

const LATEST: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {app: web}}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: app, image: 'nginx:latest'}]}\n";

/// A ValidatingAdmissionPolicy refusing `:latest` images (flow YAML, one line per field).
const NO_LATEST: &str = r#"{apiVersion: admissionregistration.k8s.io/v1, kind: ValidatingAdmissionPolicy, metadata: {name: no-latest}, spec: {matchConstraints: {resourceRules: [{apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}]}, validations: [{expression: "object.spec.template.spec.containers.all(c, !c.image.endsWith(':latest'))", message: "images must not use :latest", fieldPath: ".spec.template.spec.containers"}]}}"#;

fn engine(platform: Option<&str>) -> (Engine, tempfile::TempDir) {
    let cache = tempfile::TempDir::new().unwrap();
    let mut config = capstan_integration::engine_config(cache.path());
    if let Some(text) = platform {
        let stages = capstan_types::platform_policies(text).unwrap();
        config.platform = Platform::new(&stages, "platform.yaml", cache.path(), &config.limits).unwrap();
    }
    (Engine::new(config).unwrap(), cache)
}

fn repo() -> (GitRepo, String) {
    let repo = GitRepo::new();
    repo.write("apps/web/deploy.yaml", LATEST);
    repo.write(
        "policies/loop.rego",
        "package loop\n\ndeny contains msg if {\n  some i in numbers.range(1, 100000)\n  some j in numbers.range(1, 100000)\n  i + j < 0\n  msg := \"never\"\n}\n",
    );
    let sha = repo.commit("one");
    (repo, sha)
}

fn web(repo: &GitRepo, sha: &str, ns: &str, policy: &str) -> AppFile {
    let spec = format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n{policy}");
    app("web", repo, sha, "apps/web", &spec)
}

#[tokio::test]
async fn a_denying_cel_policy_stops_the_sync_with_zero_writes() {
    let (repo, sha) = repo();
    let target = test_target().await;
    let (engine, _cache) = engine(None);
    let ns = "policy-deny";
    let policy = format!("  policy:\n  - plugin: builtin:cel\n    with: {{policies: [{NO_LATEST}]}}\n");
    let writes = target.server.as_ref().map(|s| s.write_count());
    let error = engine.sync(&web(&repo, &sha, ns, &policy), target.client.clone(), &SyncOptions::default()).await;
    let text = format!("{:#}", error.unwrap_err());
    assert!(
        text.contains("policies denied the sync with 1 violation(s): spec.policy[0] (builtin:cel): Deployment/web spec.template.spec.containers: [no-latest] images must not use :latest"),
        "{text}"
    );
    assert_eq!(target.server.as_ref().map(|s| s.write_count()), writes, "a denied sync must not write");
    let deployments: Api<Deployment> = Api::namespaced(target.client.clone(), ns);
    assert!(deployments.get_opt("web").await.unwrap().is_none());
}

#[tokio::test]
async fn a_warning_policy_lets_the_sync_through_and_records_the_verdict() {
    let (repo, sha) = repo();
    let target = test_target().await;
    let (engine, _cache) = engine(None);
    let ns = "policy-warn";
    let policy =
        format!("  policy:\n  - plugin: builtin:cel\n    enforcement: warn\n    with: {{policies: [{NO_LATEST}]}}\n");
    let report =
        engine.sync(&web(&repo, &sha, ns, &policy), target.client.clone(), &SyncOptions::default()).await.unwrap();
    let verdicts = &report.render.rendered.verdicts;
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert_eq!(verdicts[0].enforcement, Enforcement::Warn);
    assert_eq!(verdicts[0].origin, Origin::Application { index: 0 });
    assert_eq!(verdicts[0].diagnostic.severity, Severity::Error);
    let table = capstan::policy_cmd::verdict_table(verdicts);
    assert!(table.starts_with("POLICY      ORIGIN           ACTION   OBJECT"), "{table}");
    assert!(table.contains("no-latest   spec.policy[0]   warn     Deployment/web   spec.template.spec.containers   images must not use :latest"), "{table}");
    let deployments: Api<Deployment> = Api::namespaced(target.client.clone(), ns);
    assert!(deployments.get_opt("web").await.unwrap().is_some());
}

#[tokio::test]
async fn the_platform_set_cannot_be_removed_or_weakened_by_an_application() {
    let (repo, sha) = repo();
    let target = test_target().await;
    let platform = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: PlatformPolicy\nmetadata: {{name: baseline}}\nspec:\n  policy:\n  - name: no-latest\n    plugin: builtin:cel\n    with: {{policies: [{NO_LATEST}]}}\n"
    );
    let (engine, _cache) = engine(Some(&platform));
    let ns = "policy-platform";
    // No policy of its own; the same policy under audit; under warn.
    let attempts = [
        String::new(),
        format!("  policy:\n  - plugin: builtin:cel\n    enforcement: audit\n    with: {{policies: [{NO_LATEST}]}}\n"),
        format!("  policy:\n  - plugin: builtin:cel\n    enforcement: warn\n    with: {{policies: [{NO_LATEST}]}}\n"),
    ];
    for policy in &attempts {
        let writes = target.server.as_ref().map(|s| s.write_count());
        let error = engine.sync(&web(&repo, &sha, ns, policy), target.client.clone(), &SyncOptions::default()).await;
        let text = format!("{:#}", error.unwrap_err());
        assert!(
            text.contains("platform policy no-latest (platform.yaml) (builtin:cel): Deployment/web spec.template.spec.containers: [no-latest] images must not use :latest"),
            "{policy}: {text}"
        );
        assert_eq!(target.server.as_ref().map(|s| s.write_count()), writes, "{policy}");
    }
    // The verdicts of both stages are kept: the platform's denies, the app's audit only records.
    let render = engine.render_async(&web(&repo, &sha, ns, &attempts[1])).await.unwrap_err();
    assert!(format!("{render:#}").contains("1 violation(s)"), "{render:#}");
}

/// The controller's platform set is a mounted ConfigMap: an edit takes
/// effect at the next reconcile ([`Engine::reload_platform`]), and an edit
/// that does not load keeps the set in force instead of switching it off.
#[test]
fn an_edited_platform_file_is_reloaded_and_a_broken_one_keeps_the_set_in_force() {
    let (repo, sha) = repo();
    let cache = tempfile::TempDir::new().unwrap();
    let file = cache.path().join("policies.yaml");
    std::fs::write(&file, "# no platform policies yet\n").unwrap();
    let mut config = capstan_integration::engine_config(cache.path());
    config.load_platform(&file).unwrap();
    let engine = Engine::new(config).unwrap();
    let app = web(&repo, &sha, "x", "");
    engine.render(&app).unwrap();
    assert!(!engine.reload_platform().unwrap(), "unchanged text: nothing to reload");

    let platform = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: PlatformPolicy\nmetadata: {{name: baseline}}\nspec:\n  policy:\n  - name: no-latest\n    plugin: builtin:cel\n    with: {{policies: [{NO_LATEST}]}}\n"
    );
    std::fs::write(&file, &platform).unwrap();
    assert!(engine.reload_platform().unwrap());
    let denied = format!("{:#}", engine.render(&app).unwrap_err());
    assert!(denied.contains("platform policy no-latest"), "{denied}");

    std::fs::write(&file, platform.replace("kind: PlatformPolicy", "kind: PlatformPolcy")).unwrap();
    let error = format!("{:#}", engine.reload_platform().unwrap_err());
    assert!(error.contains("policies.yaml: invalid platform policies: document 1"), "{error}");
    let still = format!("{:#}", engine.render(&app).unwrap_err());
    assert!(still.contains("platform policy no-latest"), "the set in force stays: {still}");
}

#[test]
fn policies_in_the_repository_are_read_from_the_snapshot_only() {
    let repo = GitRepo::new();
    repo.write("apps/web/deploy.yaml", LATEST);
    repo.write(
        "policies/no-latest.yaml",
        &serde_yaml::to_string(&serde_yaml::from_str::<serde_json::Value>(NO_LATEST).unwrap()).unwrap(),
    );
    let sha = repo.commit("one");
    let (engine, _cache) = engine(None);
    let from_repo = "  policy:\n  - plugin: builtin:cel\n    with: {files: [policies]}\n";
    let error = engine.render(&web(&repo, &sha, "x", from_repo)).unwrap_err();
    assert!(format!("{error:#}").contains("[no-latest] images must not use :latest"), "{error:#}");
    let escaping = "  policy:\n  - plugin: builtin:cel\n    with: {files: [../../etc]}\n";
    let error = format!("{:#}", engine.render(&web(&repo, &sha, "x", escaping)).unwrap_err());
    assert!(error.contains("\"../../etc\" must be a path inside the snapshot"), "{error}");
}

#[test]
fn malformed_policies_fail_at_load_with_a_position() {
    let (repo, sha) = repo();
    let (engine, _cache) = engine(None);
    let cel = "  policy:\n  - plugin: builtin:cel\n    with: {policies: [{apiVersion: admissionregistration.k8s.io/v1, kind: ValidatingAdmissionPolicy, metadata: {name: typo}, spec: {validations: [{expression: \"object.metadata.name.startsWith('a') &&\"}]}}]}\n";
    let error = format!("{:#}", engine.render(&web(&repo, &sha, "x", cel)).unwrap_err());
    assert!(error.contains("policy typo (with.policies[0]): spec.validations[0].expression: line 1 column"), "{error}");
    let rego = "  policy:\n  - plugin: builtin:rego\n    with: {modules: {bad.rego: \"package bad\\n\\ndeny contains msg if {\\n  input.kind ==\\n}\\n\"}}\n";
    let error = format!("{:#}", engine.render(&web(&repo, &sha, "x", rego)).unwrap_err());
    assert!(error.contains("bad.rego:5:"), "{error}");
}

#[test]
fn a_looping_policy_is_stopped_by_the_leash() {
    let (repo, sha) = repo();
    let (engine, _cache) = engine(None);
    let policy =
        "  policy:\n  - plugin: builtin:rego\n    limits: {timeout: 1s}\n    with: {files: [policies/loop.rego]}\n";
    let error = format!("{:#}", engine.render(&web(&repo, &sha, "x", policy)).unwrap_err());
    assert!(
        error.contains("policy[0] (builtin:rego) failed: plugin builtin:rego: deadline exceeded: stopped after 1s"),
        "{error}"
    );
}
