//! `spec.source.secretRef`: the engine reads the repository's credentials
//! from a Secret in the Application's namespace through the target's kube
//! client (here the test API server, or the cluster of
//! `CAPSTAN_TEST_KUBECONFIG`) and fetches over `git http-backend` with basic
//! auth. A missing Secret or missing keys stop the sync before any write.

use std::collections::BTreeMap;

use capstan::{AppFile, SyncOptions};
use capstan_apiserver::{test_target, unique_name};
use capstan_integration::git_server::HttpGit;
use capstan_integration::{GitRepo, TestEngine};
use capstan_types::Application;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-private-repo}\ndata: {color: blue}\n";

/// An Application in namespace `default` for `url`, with credentials in Secret `secret`.
fn app(name: &str, url: &str, secret: &str, destination: &str) -> AppFile {
    let text = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  source: {{repoURL: '{url}', revision: main, path: deploy, secretRef: {{name: {secret}}}}}\n  destination: {{namespace: {destination}}}\n  sync: {{createNamespace: true}}\n"
    );
    AppFile { app: Application::from_yaml(&text).unwrap(), base_dir: std::env::temp_dir() }
}

async fn create_secret(client: &kube::Client, name: &str, pairs: &[(&str, &str)]) {
    let data =
        pairs.iter().map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec()))).collect::<BTreeMap<_, _>>();
    let secret = Secret {
        metadata: ObjectMeta { name: Some(name.to_owned()), ..ObjectMeta::default() },
        data: Some(data),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client.clone(), "default").create(&PostParams::default(), &secret).await.unwrap();
}

#[tokio::test]
async fn sync_reads_basic_auth_from_the_secret_and_refuses_without_it() {
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", CM);
    let head = repo.commit("first");
    let name = repo.path().file_name().unwrap().to_string_lossy().into_owned();
    let server = HttpGit::start(repo.path().parent().unwrap(), Some(("deploy-bot", "t0ken")));
    let url = server.url(&name);
    let target = test_target().await;
    let engine = TestEngine::new();
    let (secret, destination) = (unique_name("git-creds"), unique_name("secretref"));
    let file = app(&destination, &url, &secret, &destination);
    let writes = || target.server.as_ref().map(capstan_apiserver::TestApiServer::write_count);

    // No Secret yet: a clear error, nothing fetched, nothing written.
    let before = writes();
    let error = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!(
            "application {destination}: Secret default/{secret} (spec.source.secretRef): not found"
        )),
        "{message}"
    );
    assert!(server.log().is_empty(), "no fetch without the credentials: {:?}", server.log());
    assert_eq!(writes(), before, "nothing is applied");

    // `render` has no cluster to read the Secret from.
    let error = engine.engine.render(&file).unwrap_err();
    assert!(format!("{error:#}").contains("--git-credentials"), "{error:#}");

    // A Secret without the password: named, and still nothing written.
    let partial = unique_name("git-creds-partial");
    create_secret(&target.client, &partial, &[("username", "deploy-bot")]).await;
    let before = writes();
    let error = engine
        .engine
        .sync(&app(&destination, &url, &partial, &destination), target.client.clone(), &SyncOptions::default())
        .await
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains(&format!("Secret default/{partial}")), "{message}");
    assert!(message.contains("key `username` is set but `password` is missing"), "{message}");
    assert_eq!(writes(), before, "nothing is applied");

    create_secret(&target.client, &secret, &[("username", "deploy-bot"), ("password", "t0ken")]).await;
    let report = engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    assert_eq!(report.render.checkout.commit, head);
    assert!(server.log().iter().any(|r| r.status == 200 && r.wants_pack), "fetched with basic auth");
    let cm = Api::<ConfigMap>::namespaced(target.client.clone(), &destination).get("from-private-repo").await.unwrap();
    assert_eq!(cm.data.unwrap()["color"], "blue");

    // `diff` reads the Secret too: the cluster now matches Git.
    let diff = capstan::diff::diff(&engine.engine, &file, target.client.clone()).await.unwrap();
    assert!(!diff.has_differences(), "in sync after the sync");
}
