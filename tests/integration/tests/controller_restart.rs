//! The controller as a process of its own (`controller-under-test`),
//! SIGKILLed in the middle of a sync, against the test API server or the
//! real cluster `CAPSTAN_TEST_KUBECONFIG` names.
//!
//! The Application has two waves: a Job `migrate` (wave 0; the wave gate
//! waits until it completes, and nothing runs it but the test) and the
//! ConfigMap `settings` (wave 1). The controller is killed while it waits
//! between the waves, and:
//! - restarted, it finishes the sync: the ConfigMap appears once the Job
//!   completes, the Job is the same object (no duplicate), one history entry;
//! - restarted after a commit that drops the Job, it prunes the Job its
//!   killed predecessor created (the inventory was written ahead of the
//!   wave): no orphan;
//! - not killed, a newer commit supersedes the sync stuck on the Job: the
//!   newer commit is synced, the Job pruned, the Application says so.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use capstan_apiserver::{TestTarget, test_target};
use capstan_integration::GitRepo;
use capstan_integration::cluster::{event_reasons, eventually, finish_job, free_port, install_crd, namespace};
use capstan_types::{ApplicationResource, ApplicationStatus};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, PostParams};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(120);

const JOB: &str = "apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {capstan.dev/sync-wave: \"0\"}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: busybox, command: [\"true\"]}]
";

fn config_map(color: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, annotations: {{capstan.dev/sync-wave: \"1\"}}}}\ndata: {{color: {color}}}\n"
    )
}

/// The controller in a child process, killed when dropped.
struct Controller(Child, SocketAddr);

impl Controller {
    fn start(kubeconfig: &Path, ns: &str, cache: &Path) -> Self {
        let addr = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_controller-under-test"))
            .arg(kubeconfig)
            .arg(ns)
            .arg(addr.to_string())
            .arg(cache)
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("CAPSTAN_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .expect("controller-under-test starts");
        Self(child, addr)
    }

    /// Its `/metrics` page.
    async fn metrics(&self) -> String {
        let mut stream = tokio::net::TcpStream::connect(self.1).await.expect("the HTTP port answers");
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.1);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    /// SIGKILL: no shutdown, no cleanup, as when a node dies.
    fn kill(mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reaped");
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The cluster, its kubeconfig as a file (the child connects with it), and a cache.
struct Setup {
    target: TestTarget,
    kubeconfig: std::path::PathBuf,
    cache: TempDir,
    _files: TempDir,
}

async fn setup() -> Setup {
    let target = test_target().await;
    install_crd(&target.client).await;
    let files = TempDir::new().unwrap();
    let kubeconfig = match (&target.server, std::env::var(capstan_apiserver::KUBECONFIG_ENV)) {
        (Some(server), _) => {
            let path = files.path().join("kubeconfig");
            std::fs::write(&path, serde_yaml::to_string(&server.kubeconfig()).unwrap()).unwrap();
            path
        }
        (None, Ok(path)) => path.into(),
        (None, Err(_)) => unreachable!("a real cluster comes from its kubeconfig"),
    };
    Setup { target, kubeconfig, cache: TempDir::new().unwrap(), _files: files }
}

/// A repository with the Job and the blue ConfigMap, and an automated
/// Application `name` of `ns` on it (polled every 2 s).
async fn app_with_job(client: &Client, ns: &str, name: &str) -> (GitRepo, String) {
    let repo = GitRepo::new();
    repo.write("deploy/job.yaml", JOB).write("deploy/cm.yaml", &config_map("blue"));
    let first = repo.commit("job then settings");
    let text = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  source: {{repoURL: {repo}, revision: main, path: deploy, interval: 2s}}\n  destination: {{namespace: {ns}}}\n  sync: {{automated: {{prune: true}}}}\n",
        repo = repo.path().display()
    );
    let app: ApplicationResource = serde_yaml::from_str(&text).unwrap();
    Api::<ApplicationResource>::namespaced(client.clone(), ns).create(&PostParams::default(), &app).await.unwrap();
    (repo, first)
}

async fn job(client: &Client, ns: &str) -> Option<Job> {
    Api::<Job>::namespaced(client.clone(), ns).get_opt("migrate").await.unwrap()
}

async fn color(client: &Client, ns: &str) -> Option<String> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns).get_opt("settings").await.unwrap()?;
    cm.data?.get("color").cloned()
}

async fn status(client: &Client, ns: &str, name: &str) -> ApplicationStatus {
    let app = Api::<ApplicationResource>::namespaced(client.clone(), ns).get(name).await.unwrap();
    app.status.unwrap_or_default()
}

/// The objects of the stored inventory of `app`, one line each.
async fn inventory(client: &Client, ns: &str, app: &str) -> String {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns).get_opt(&format!("capstan-inventory-{app}")).await;
    cm.unwrap().and_then(|cm| cm.data).and_then(|d| d.get("objects").cloned()).unwrap_or_default()
}

/// Waits until the controller applied the Job and waits on it.
async fn applied_job(client: &Client, ns: &str) -> Job {
    eventually("the Job of wave 0", LIMIT, || job(client, ns)).await
}

/// Completes the Job as the job controller would.
async fn complete(client: &Client, ns: &str) {
    let jobs = Api::<Job>::namespaced(client.clone(), ns);
    finish_job(&jobs, "migrate", |start, now| {
        let condition = |kind: &str| serde_json::json!({"type": kind, "status": "True", "reason": "CompletionsReached", "message": "completed by the test", "lastProbeTime": now, "lastTransitionTime": now});
        serde_json::json!({"active": 0, "succeeded": 1, "ready": 0, "startTime": start, "completionTime": now,
            "conditions": [condition("SuccessCriteriaMet"), condition("Complete")]})
    })
    .await;
}

async fn synced_to(client: &Client, ns: &str, name: &str, commit: &str) -> ApplicationStatus {
    eventually(&format!("{name} synced to {commit}"), LIMIT, || async {
        let status = status(client, ns, name).await;
        let revision = status.sync.as_ref().and_then(|s| s.revision.as_ref()).map(|r| r.sha.clone());
        let succeeded = status.history.first().is_some_and(|h| h.revision == commit && h.result == "Succeeded");
        (revision.as_deref() == Some(commit) && succeeded).then_some(status)
    })
    .await
}

#[tokio::test]
async fn a_controller_killed_between_two_waves_finishes_the_sync_after_restart_with_no_duplicate() {
    let setup = setup().await;
    let client = &setup.target.client;
    let ns = namespace(client, "restart-finish").await;
    let (_repo, first) = app_with_job(client, &ns, "restart-finish").await;
    let controller = Controller::start(&setup.kubeconfig, &ns, setup.cache.path());
    let before = applied_job(client, &ns).await;
    controller.kill();
    assert_eq!(color(client, &ns).await, None, "wave 1 waits for the Job");
    assert!(
        inventory(client, &ns, "restart-finish").await.contains("Job"),
        "the Job was recorded before it was applied"
    );

    complete(client, &ns).await;
    let _controller = Controller::start(&setup.kubeconfig, &ns, setup.cache.path());
    let status = synced_to(client, &ns, "restart-finish", &first).await;
    assert_eq!(color(client, &ns).await.as_deref(), Some("blue"));
    let after = job(client, &ns).await.expect("the Job stays");
    assert_eq!(after.metadata.uid, before.metadata.uid, "the same Job: not deleted and created again");
    let jobs = Api::<Job>::namespaced(client.clone(), &ns).list(&Default::default()).await.unwrap();
    assert_eq!(jobs.items.len(), 1, "no second Job");
    assert_eq!(status.history.len(), 1, "one sync on record: {:?}", status.history);
}

#[tokio::test]
async fn a_controller_killed_mid_sync_prunes_after_restart_what_it_created_before_the_kill() {
    let setup = setup().await;
    let client = &setup.target.client;
    let ns = namespace(client, "restart-prune").await;
    let (repo, _) = app_with_job(client, &ns, "restart-prune").await;
    let controller = Controller::start(&setup.kubeconfig, &ns, setup.cache.path());
    applied_job(client, &ns).await;
    controller.kill();

    repo.remove("deploy/job.yaml");
    let second = repo.commit("no more migration");
    let _controller = Controller::start(&setup.kubeconfig, &ns, setup.cache.path());
    synced_to(client, &ns, "restart-prune", &second).await;
    eventually("the Job pruned", LIMIT, || async { job(client, &ns).await.is_none().then_some(()) }).await;
    assert_eq!(color(client, &ns).await.as_deref(), Some("blue"));
    assert!(!inventory(client, &ns, "restart-prune").await.contains("Job"));
}

#[tokio::test]
async fn a_newer_commit_supersedes_a_sync_stuck_on_a_wave() {
    let setup = setup().await;
    let client = &setup.target.client;
    let ns = namespace(client, "supersede").await;
    let (repo, first) = app_with_job(client, &ns, "supersede").await;
    let controller = Controller::start(&setup.kubeconfig, &ns, setup.cache.path());
    applied_job(client, &ns).await;
    eventually("the sync running", LIMIT, || async {
        let status = status(client, &ns, "supersede").await;
        status.operation.filter(|o| o.phase == "Running" && o.revision == first).map(drop)
    })
    .await;

    repo.remove("deploy/job.yaml").write("deploy/cm.yaml", &config_map("green"));
    let second = repo.commit("drop the stuck migration");
    let status = synced_to(client, &ns, "supersede", &second).await;
    assert_eq!(color(client, &ns).await.as_deref(), Some("green"));
    eventually("the Job pruned", LIMIT, || async { job(client, &ns).await.is_none().then_some(()) }).await;
    assert!(
        status.history.iter().all(|h| h.revision != first),
        "the superseded sync is not a sync on record: {:?}",
        status.history
    );
    let reasons = event_reasons(client, &ns, "supersede").await;
    assert!(reasons.iter().any(|r| r == "SyncSuperseded"), "{reasons:?}");

    // What it took, on the controller's /metrics.
    let metrics = controller.metrics().await;
    for expected in [
        r#"capstan_plugin_call_duration_seconds_count{plugin="builtin:yaml",world="renderer"}"#,
        r#"capstan_git_fetches_total{result="local"}"#,
        r#"capstan_stage_duration_seconds_count{stage="apply"}"#,
        r#"capstan_api_requests_total{verb="patch",dry_run="false"}"#,
        r#"capstan_api_requests_total{verb="watch",dry_run="false"}"#,
        r#"capstan_reconciles_total{result="ok",stage=""}"#,
    ] {
        assert!(metrics.contains(expected), "missing {expected} in\n{metrics}");
    }
}
