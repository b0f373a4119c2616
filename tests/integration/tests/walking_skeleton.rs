//! The walking skeleton end to end: a Git repository with two commits is
//! rendered at each commit by the `builtin:yaml` WASM plugin and synced
//! through the real `kube::Client` to the test API server (or to the real
//! cluster `CAPSTAN_TEST_KUBECONFIG` names).

use capstan::SyncOptions;
use capstan_apiserver::{test_target, unique_name};
use capstan_apply::Action;
use capstan_integration::{GitRepo, TestEngine, app};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::Api;

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: 8080\n";

fn config_map(greeting: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: {greeting}\n")
}

fn deployment(replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {{app: web}}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
    )
}

#[tokio::test]
async fn two_commits_render_and_sync_through_wasm_and_kube_client() {
    let repo = GitRepo::new();
    repo.write("apps/web/configmap.yaml", &config_map("hello"))
        .write("apps/web/workload.yaml", &format!("{}---\n{SERVICE}", deployment(1, "nginx:1.25")))
        .write("README.md", "not a manifest\n");
    let first = repo.commit("first");
    repo.write("apps/web/configmap.yaml", &config_map("bonjour"))
        .write("apps/web/workload.yaml", &format!("{}---\n{SERVICE}", deployment(3, "nginx:1.27")));
    let second = repo.commit("second");

    let target = test_target().await;
    let engine = TestEngine::new();
    let ns = &unique_name("skeleton-e2e");
    let spec = format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n");

    let rendered = engine.engine.render_async(&app("web", &repo, &first, "apps/web", &spec)).await.unwrap();
    assert_eq!(rendered.checkout.commit, first);
    assert_eq!(rendered.stages[0].plugin, "builtin:yaml");
    let names: Vec<_> = rendered.rendered.objects.iter().map(|o| format!("{}/{}", o.kind(), o.name())).collect();
    assert_eq!(names, ["ConfigMap/web-config", "Deployment/web", "Service/web"]);

    let report = engine
        .engine
        .sync(&app("web", &repo, &first, "apps/web", &spec), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap();
    assert_eq!(report.render.checkout.commit, first);
    let config_maps: Api<ConfigMap> = Api::namespaced(target.client.clone(), ns);
    let deployments: Api<Deployment> = Api::namespaced(target.client.clone(), ns);
    let services: Api<Service> = Api::namespaced(target.client.clone(), ns);
    let cm = config_maps.get("web-config").await.unwrap();
    assert_eq!(cm.data.unwrap()["greeting"], "hello");
    let deploy = deployments.get("web").await.unwrap();
    let spec_of = |d: &Deployment| d.spec.clone().unwrap();
    assert_eq!(spec_of(&deploy).replicas, Some(1));
    assert_eq!(spec_of(&deploy).template.spec.unwrap().containers[0].image.as_deref(), Some("nginx:1.25"));
    let managers: Vec<_> =
        deploy.metadata.managed_fields.unwrap_or_default().into_iter().filter_map(|m| m.manager).collect();
    assert!(managers.contains(&"capstan".to_owned()), "managers: {managers:?}");

    let report = engine
        .engine
        .sync(&app("web", &repo, &second, "apps/web", &spec), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap();
    assert_eq!(report.render.checkout.commit, second);
    let action = |kind: &str| report.applied.iter().find(|a| a.object.kind == kind).unwrap().action;
    assert_eq!(
        (action("ConfigMap"), action("Deployment"), action("Service")),
        (Action::Configured, Action::Configured, Action::Unchanged)
    );
    assert_eq!(config_maps.get("web-config").await.unwrap().data.unwrap()["greeting"], "bonjour");
    let deploy = deployments.get("web").await.unwrap();
    assert_eq!(spec_of(&deploy).replicas, Some(3));
    assert_eq!(spec_of(&deploy).template.spec.unwrap().containers[0].image.as_deref(), Some("nginx:1.27"));
    assert_eq!(services.get("web").await.unwrap().spec.unwrap().ports.unwrap()[0].port, 80);
}

#[tokio::test]
async fn malformed_yaml_names_file_and_line_and_applies_nothing() {
    let repo = GitRepo::new();
    repo.write("apps/web/configmap.yaml", &config_map("hello"))
        .write("apps/web/broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n");
    let head = repo.commit("broken");
    let target = test_target().await;
    let Some(log) = target.requests_or_skip("malformed_yaml_names_file_and_line_and_applies_nothing") else { return };
    let engine = TestEngine::new();
    let ns = unique_name("skeleton-broken");
    let mark = log.mark();
    let error = engine
        .engine
        .sync(
            &app("web", &repo, &head, "apps/web", &format!("  destination: {{namespace: {ns}}}\n")),
            target.client.clone(),
            &SyncOptions::default(),
        )
        .await
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("render failed"), "{message}");
    assert!(message.contains("builtin:yaml"), "{message}");
    assert!(message.contains("apps/web/broken.yaml"), "{message}");
    assert!(message.contains("line 4"), "{message}");
    assert_eq!(log.since(mark, &ns).await, [], "a failed render must not even talk to the cluster about its objects");
}

#[tokio::test]
async fn empty_render_is_refused_not_applied() {
    let repo = GitRepo::new();
    repo.write("apps/empty/notes.txt", "no manifests here\n");
    let head = repo.commit("empty");
    let target = test_target().await;
    let Some(log) = target.requests_or_skip("empty_render_is_refused_not_applied") else { return };
    let engine = TestEngine::new();
    let ns = unique_name("skeleton-empty");
    let mark = log.mark();
    let spec = format!("  destination: {{namespace: {ns}}}\n  sync: {{createNamespace: true}}\n");
    let error = engine
        .engine
        .sync(&app("empty", &repo, &head, "apps/empty", &spec), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("render produced no objects"), "{error:#}");
    assert_eq!(log.writes_since(mark, &ns).await, Vec::<String>::new());
}
