//! The in-cluster controller end to end, in-process against the test API
//! server (or the real cluster `CAPSTAN_TEST_KUBECONFIG` names): the CRD is
//! accepted, a new commit is applied after a signed webhook and by polling,
//! drift is reverted with selfHeal and only reported without, a no-op pass
//! writes nothing, the CLI (`get apps`, `status`, `sync APP`, `history`,
//! `rollback`, `suspend`, `resume`) works through the controller,
//! `dependsOn` holds an Application back, Events say what happened, a pass
//! over an unchanged commit renders from the cache, and with leader
//! election only the leader reconciles and a standby takes over. Every wait
//! is a poll with a deadline.

use std::net::SocketAddr;
use std::time::Duration;

use capstan_apiserver::{TestTarget, test_target};
use capstan_controller::leader::LeaderElection;
use capstan_integration::cluster::{event_reasons, eventually, free_port, install_crd, namespace};
use capstan_integration::{GitRepo, TestEngine};
use capstan_types::{ApplicationResource, ApplicationStatus};
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "controller-test-secret";

fn config_map(value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{color: {value}}}\n")
}

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// What `run` returned.
    task: tokio::task::JoinHandle<Result<(), capstan_controller::Error>>,
    engine: TestEngine,
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let result = tokio::time::timeout(Duration::from_secs(30), self.task).await.expect("the controller stops");
        result.unwrap().expect("the controller ran");
    }

    /// The status and body of `GET path` on the controller's port (0 while
    /// it does not listen yet).
    async fn get(&self, path: &str) -> (u16, String) {
        let Ok(mut stream) = tokio::net::TcpStream::connect(self.addr).await else { return (0, String::new()) };
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let code = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
        (code, body)
    }

    /// Whether `/readyz` answers 200.
    async fn ready(&self) -> bool {
        self.get("/readyz").await.0 == 200
    }

    /// Reconcile passes so far, from `/metrics`.
    async fn passes(&self) -> u64 {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .filter(|l| l.starts_with("capstan_reconciles_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

/// Starts a controller for the Applications of `ns`.
fn start(client: &Client, ns: &str) -> Running {
    start_with(client, ns, None)
}

/// Starts a controller for the Applications of `ns`, with `leader_election`.
fn start_with(client: &Client, ns: &str, leader_election: Option<LeaderElection>) -> Running {
    if let Ok(filter) = std::env::var("CAPSTAN_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let engine = TestEngine::new();
    let addr = free_port();
    let config = capstan_controller::Config {
        namespace: Some(ns.to_owned()),
        concurrency: 4,
        listen: addr,
        webhook_secret: SECRET.as_bytes().to_vec(),
        leader_election,
        ..capstan_controller::Config::new()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (engine_clone, client) = (engine.engine.clone(), client.clone());
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        capstan_controller::run(engine_clone, client, config, shutdown).await
    });
    Running { addr, stop: Some(stop), task, engine }
}

/// A repository holding the blue ConfigMap, an Application `web` of `ns`
/// on it with `sync`, and a controller that has applied it.
async fn web_synced_blue(client: &Client, ns: &str, sync: &str) -> (GitRepo, String, Running) {
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", &config_map("blue"));
    let first = repo.commit("first");
    create_app(client, ns, "web", &repo, sync).await;
    let running = start(client, ns);
    eventually("the first sync", Duration::from_secs(120), || async {
        (color(client, ns).await.as_deref() == Some("blue")).then_some(())
    })
    .await;
    (repo, first, running)
}

async fn create_app(client: &Client, ns: &str, name: &str, repo: &GitRepo, sync: &str) {
    let text = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  source: {{repoURL: {repo}, revision: main, path: deploy, interval: 10s}}\n  destination: {{namespace: {ns}}}\n  sync: {sync}\n",
        repo = repo.path().display()
    );
    let app: ApplicationResource = serde_yaml::from_str(&text).unwrap();
    Api::<ApplicationResource>::namespaced(client.clone(), ns).create(&PostParams::default(), &app).await.unwrap();
}

async fn status(client: &Client, ns: &str, name: &str) -> ApplicationStatus {
    let app = Api::<ApplicationResource>::namespaced(client.clone(), ns).get(name).await.unwrap();
    app.status.unwrap_or_default()
}

async fn color(client: &Client, ns: &str) -> Option<String> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns).get_opt("settings").await.ok()??;
    cm.data?.get("color").cloned()
}

async fn push(addr: SocketAddr, repo: &GitRepo) -> u16 {
    let body = serde_json::json!({
        "ref": "refs/heads/main",
        "after": "0000000000000000000000000000000000000001",
        "repository": {"clone_url": repo.path().display().to_string(), "default_branch": "main"},
    })
    .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /hooks/git HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-Hub-Signature-256: sha256={signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

async fn target_with_crd() -> TestTarget {
    let target = test_target().await;
    install_crd(&target.client).await;
    target
}

#[tokio::test]
async fn crd_is_accepted_and_status_is_written_through_the_subresource() {
    let target = target_with_crd().await;
    let client = &target.client;
    let ns = namespace(client, "ctl-crd").await;
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", &config_map("blue"));
    repo.commit("first");
    create_app(client, &ns, "web", &repo, "{}").await;
    let running = start(client, &ns);
    // Not automated: the controller compares and reports; nothing is applied.
    let status = eventually("an OutOfSync status", Duration::from_secs(120), || async {
        let status = status(client, &ns, "web").await;
        (status.sync.as_ref().map(|s| s.status.as_str()) == Some("OutOfSync")).then_some(status)
    })
    .await;
    assert_eq!(color(client, &ns).await, None, "a non-automated Application must not be applied");
    assert_eq!(status.observed_generation, Some(1));
    assert!(status.condition("Ready").is_some_and(|c| c.status == "False" && c.reason == "OutOfSync"), "{status:?}");
    assert!(status.resources.iter().any(|r| r.kind == "ConfigMap" && r.action == "Created"), "{status:?}");
    running.stop().await;
}

#[tokio::test]
async fn a_new_commit_is_applied_after_a_signed_webhook() {
    let target = target_with_crd().await;
    let client = &target.client;
    let ns = namespace(client, "ctl-hook").await;
    let (repo, first, running) = web_synced_blue(client, &ns, "{automated: {prune: true}}").await;
    let synced = eventually("status Synced", Duration::from_secs(10), || async {
        let status = status(client, &ns, "web").await;
        status.is_true("Synced", Some(1)).then_some(status)
    })
    .await;
    let revision = synced.sync.unwrap().revision.unwrap();
    assert_eq!((revision.sha.as_str(), revision.subject.as_str()), (first.as_str(), "first"));
    assert!(revision.author.contains("Capstan Test"), "{revision:?}");
    assert_eq!(synced.history.len(), 1);

    repo.write("deploy/cm.yaml", &config_map("green"));
    let second = repo.commit("second");
    assert_eq!(push(running.addr, &repo).await, 202);
    // The interval is 10 s (jitter ±1 s): only the webhook can make this in
    // time. Alone it takes well under a second; the margin is for loaded CI.
    eventually("the pushed commit to be applied", Duration::from_secs(8), || async {
        (color(client, &ns).await.as_deref() == Some("green")).then_some(())
    })
    .await;
    let status = eventually("the history to record it", Duration::from_secs(5), || async {
        let status = status(client, &ns, "web").await;
        (status.history.len() == 2).then_some(status)
    })
    .await;
    assert_eq!(status.history[0].revision, second);
    assert!(!status.history[0].plugins.is_empty(), "{status:?}");
    running.stop().await;
}

#[tokio::test]
async fn drift_is_reverted_with_self_heal_and_only_reported_without() {
    let target = target_with_crd().await;
    let client = &target.client;
    let ns = namespace(client, "ctl-drift").await;
    let (_repo, _, running) = web_synced_blue(client, &ns, "{automated: {selfHeal: true}}").await;
    let edit = |value: &'static str| {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            let patch = serde_json::json!({"data": {"color": value}});
            Api::<ConfigMap>::namespaced(client, &ns)
                .patch("settings", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        }
    };
    edit("red").await;
    eventually("self-heal to revert the edit", Duration::from_secs(5), || async {
        (color(client, &ns).await.as_deref() == Some("blue")).then_some(())
    })
    .await;

    // Without selfHeal: reported with the differing field, not reverted.
    let apps = Api::<ApplicationResource>::namespaced(client.clone(), &ns);
    let patch = serde_json::json!({"spec": {"sync": {"automated": {"selfHeal": false}}}});
    apps.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    eventually("the spec change to be observed", Duration::from_secs(10), || async {
        (status(client, &ns, "web").await.observed_generation == Some(2)).then_some(())
    })
    .await;
    edit("red").await;
    // The edit's watch event wakes a pass at once; on kube-apiserver a pass
    // still in flight (the spec change's) can hold it a few seconds (5 s
    // timed out once in a realk8s run).
    let status = eventually("drift to be reported", Duration::from_secs(20), || async {
        let status = status(client, &ns, "web").await;
        (status.sync.as_ref()?.status == "OutOfSync").then_some(status)
    })
    .await;
    // The Event follows the status write.
    eventually("a DriftDetected Event", Duration::from_secs(5), || async {
        event_reasons(client, &ns, "web").await.iter().any(|r| r == "DriftDetected").then_some(())
    })
    .await;
    let differences = &status.sync.as_ref().unwrap().differences;
    assert!(
        differences.iter().any(|d| d.object.contains("settings") && d.fields.iter().any(|f| f == "/data/color")),
        "{differences:?}"
    );
    assert_eq!(color(client, &ns).await.as_deref(), Some("red"), "without selfHeal drift stays");
    running.stop().await;
}

#[tokio::test]
async fn a_no_op_pass_over_many_applications_writes_nothing() {
    let target = target_with_crd().await;
    let Some(server) = target.server_or_skip("a_no_op_pass_over_many_applications_writes_nothing", "its request log")
    else {
        return;
    };
    let client = &target.client;
    let ns = namespace(client, "ctl-noop").await;
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", &config_map("blue"));
    repo.commit("first");
    // 200, as the issue asks: their first syncs took 331 s of wall time
    // (102 s of CPU) on a 2-core machine shared with four builds.
    const APPS: usize = 200;
    for n in 0..APPS {
        let text = format!(
            "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: app-{n}, namespace: {ns}}}\nspec:\n  source: {{repoURL: {repo}, revision: main, path: deploy, interval: 10s}}\n  destination: {{namespace: {ns}-{n}}}\n  sync: {{automated: {{prune: true}}, createNamespace: true}}\n",
            repo = repo.path().display()
        );
        let app: ApplicationResource = serde_yaml::from_str(&text).unwrap();
        Api::<ApplicationResource>::namespaced(client.clone(), &ns).create(&PostParams::default(), &app).await.unwrap();
    }
    let running = start(client, &ns);
    let apps = Api::<ApplicationResource>::namespaced(client.clone(), &ns);
    eventually("all Applications synced", Duration::from_secs(900), || async {
        let list = apps.list(&Default::default()).await.ok()?;
        list.items.iter().all(|a| a.status.as_ref().is_some_and(|s| s.is_true("Synced", Some(1)))).then_some(())
    })
    .await;
    running.stop().await;
    // A fresh controller passes over every Application once: nothing changed.
    server.clear_requests();
    let running = start(client, &ns);
    let reads = || {
        server
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("capstan-inventory"))
            .map(|r| r.path.clone())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    eventually("a pass over every Application", Duration::from_secs(300), || async { (reads() >= APPS).then_some(()) })
        .await;
    running.stop().await;
    let writes: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") || r.dry_run)
        .map(|r| format!("{} {}{}", r.method, r.path, if r.dry_run { " (dry run)" } else { "" }))
        .collect();
    assert!(writes.is_empty(), "a no-op pass wrote or dry-ran: {writes:?}");
}

/// The `capstan` commands on Applications, run with `client`.
async fn cli(client: &Client, ns: &str, command: &[&str]) -> String {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: capstan::apps::AppsCommand,
    }
    let mut args = vec!["capstan"];
    args.extend_from_slice(command);
    if !command.contains(&"-A") {
        args.extend_from_slice(&["-n", ns]);
    }
    let parsed = <Cli as clap::Parser>::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    capstan::apps::execute(client, parsed.command).await.unwrap_or_else(|e| panic!("{args:?}: {e:#}"))
}

fn kube_args(ns: &str) -> capstan::apps::KubeArgs {
    capstan::apps::KubeArgs { namespace: Some(ns.to_owned()), ..Default::default() }
}

/// A commit subject that would clear the screen, set the window title and
/// forge a line of Capstan's own if printed raw.
const HOSTILE_SUBJECT: &str = "first \u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}";

#[tokio::test]
async fn the_cli_lists_shows_and_syncs_applications_through_the_controller() {
    let target = target_with_crd().await;
    let client = &target.client;
    let ns = namespace(client, "ctl-cli").await;
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", &config_map("blue"));
    let first = repo.commit(HOSTILE_SUBJECT);
    create_app(client, &ns, "web", &repo, "{}").await;
    let running = start(client, &ns);
    eventually("an OutOfSync status", Duration::from_secs(120), || async {
        (status(client, &ns, "web").await.sync?.status == "OutOfSync").then_some(())
    })
    .await;
    let table = cli(client, &ns, &["get", "apps"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME   SYNC        HEALTH"), "{table}");
    assert!(lines[1].starts_with("web    OutOfSync"), "{table}");
    let all = cli(client, &ns, &["get", "applications", "-A"]).await;
    assert!(all.starts_with("NAMESPACE"), "{all}");
    assert!(all.contains(&ns), "{all}");
    let json: serde_json::Value =
        serde_json::from_str(&cli(client, &ns, &["get", "app", "web", "-o", "json"]).await).unwrap();
    assert_eq!(json["status"]["sync"]["status"], "OutOfSync");
    let yaml = cli(client, &ns, &["get", "apps", "-o", "yaml"]).await;
    assert!(yaml.starts_with("---\napiVersion: capstan.dev/v1alpha1\nkind: Application\n"), "{yaml}");

    // Not automated: only `capstan sync APP` applies, through the controller.
    assert_eq!(color(client, &ns).await, None);
    let outcome = capstan::apps::request_sync(client, "web", &kube_args(&ns), false, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(!outcome.failed, "{}", outcome.output);
    assert_eq!(color(client, &ns).await.as_deref(), Some("blue"));
    let page = outcome.output;
    assert!(page.contains("Sync:        Synced"), "{page}");
    assert!(page.contains("Operation:   Succeeded"), "{page}");
    assert!(page.contains("capstan sync"), "{page}");
    assert!(page.contains(&format!("Revision:    {} first \\u{{1b}}]0;pwned", &first[..12])), "{page}");
    assert!(page.contains("Author:      Capstan Test <test@capstan.dev>"), "{page}");
    assert!(page.contains("ConfigMap   ") && page.contains("settings"), "{page}");
    for output in
        [&page, &cli(client, &ns, &["status", "web"]).await, &cli(client, &ns, &["get", "apps", "-o", "json"]).await]
    {
        assert!(
            !output.contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}']),
            "raw control characters reached the terminal: {output:?}"
        );
    }
    let history = cli(client, &ns, &["history", "web"]).await;
    assert!(history.starts_with("ID   REVISION       DEPLOYED"), "{history}");
    assert!(
        history
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with(&format!("1    {}", &first[..12])) && l.contains("capstan sync")),
        "{history}"
    );
    let reasons = event_reasons(client, &ns, "web").await;
    assert!(reasons.iter().any(|r| r == "SyncStarted") && reasons.iter().any(|r| r == "Synced"), "{reasons:?}");
    running.stop().await;
}

#[tokio::test]
async fn a_rollback_restores_the_older_revision_and_holds_automation_until_resumed() {
    let target = target_with_crd().await;
    let client = &target.client;
    let ns = namespace(client, "ctl-rollback").await;
    let (repo, first, running) = web_synced_blue(client, &ns, "{automated: {prune: true}}").await;
    repo.write("deploy/cm.yaml", &config_map("green"));
    repo.write("deploy/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: b}\n");
    let second = repo.commit("second");
    assert_eq!(push(running.addr, &repo).await, 202);
    eventually("the second commit", Duration::from_secs(30), || async {
        (status(client, &ns, "web").await.history.len() == 2).then_some(())
    })
    .await;
    assert_eq!(color(client, &ns).await.as_deref(), Some("green"));

    let said = cli(client, &ns, &["rollback", "web", "1", "--prune"]).await;
    assert!(said.contains(&format!("back to {}", &first[..12])) && said.contains("capstan resume"), "{said}");
    let rolled = eventually("the rollback", Duration::from_secs(30), || async {
        let status = status(client, &ns, "web").await;
        (status.history.len() == 3).then_some(status)
    })
    .await;
    assert_eq!(color(client, &ns).await.as_deref(), Some("blue"));
    let extra = Api::<ConfigMap>::namespaced(client.clone(), &ns).get_opt("extra").await.unwrap();
    assert!(extra.is_none(), "the rollback with --prune removes what the older revision lacks");
    assert_eq!(
        (rolled.history[0].revision.as_str(), rolled.history[0].initiated_by.as_str()),
        (first.as_str(), "capstan rollback")
    );
    let hold = rolled.automation_suspended.clone().expect("automation is held after a rollback");
    assert_eq!((hold.revision.as_str(), hold.source_revision.as_str()), (first.as_str(), second.as_str()));
    // Held: the next passes compare with Git and say so, but change nothing.
    let held = eventually("the hold in the status", Duration::from_secs(30), || async {
        let status = status(client, &ns, "web").await;
        (status.sync.as_ref()?.status == "OutOfSync").then_some(status)
    })
    .await;
    assert!(
        held.message.as_deref().unwrap_or_default().contains("automated sync suspended after rollback"),
        "{held:?}"
    );
    let page = cli(client, &ns, &["status", "web"]).await;
    assert!(page.contains("Automation:  held since"), "{page}");
    assert_eq!(push(running.addr, &repo).await, 202);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(color(client, &ns).await.as_deref(), Some("blue"), "automation is held");
    let reasons = event_reasons(client, &ns, "web").await;
    assert!(reasons.iter().any(|r| r == "Pruned"), "{reasons:?}");

    cli(client, &ns, &["resume", "web"]).await;
    eventually("automation to resume", Duration::from_secs(30), || async {
        (color(client, &ns).await.as_deref() == Some("green")).then_some(())
    })
    .await;
    let lifted = eventually("the hold lifted", Duration::from_secs(10), || async {
        let status = status(client, &ns, "web").await;
        status.automation_suspended.is_none().then_some(status)
    })
    .await;
    assert_eq!(lifted.history[0].revision, second);

    // `suspend`: a new commit waits until `resume`.
    cli(client, &ns, &["suspend", "web"]).await;
    eventually("the suspension in the status", Duration::from_secs(30), || async {
        status(client, &ns, "web").await.message?.starts_with("suspended").then_some(())
    })
    .await;
    repo.write("deploy/cm.yaml", &config_map("yellow"));
    repo.commit("third");
    assert_eq!(push(running.addr, &repo).await, 202);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(color(client, &ns).await.as_deref(), Some("green"), "a suspended Application is not synced");
    let refused =
        capstan::apps::request_sync(client, "web", &kube_args(&ns), false, Some(Duration::from_secs(30))).await;
    assert!(
        refused.unwrap_err().to_string().contains("is suspended (spec.suspend)"),
        "`sync --wait` says why it waits"
    );
    cli(client, &ns, &["resume", "web"]).await;
    eventually("the third commit after resume", Duration::from_secs(30), || async {
        (color(client, &ns).await.as_deref() == Some("yellow")).then_some(())
    })
    .await;
    running.stop().await;
}

#[tokio::test]
async fn depends_on_holds_an_application_until_its_dependency_is_ready_and_cycles_are_errors() {
    let target = target_with_crd().await;
    let client = &target.client;
    let ns = namespace(client, "ctl-deps").await;
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", &config_map("blue"));
    repo.write("db/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: db}\ndata: {ready: 'yes'}\n");
    repo.commit("first");
    create_app(
        client,
        &ns,
        "web",
        &repo,
        &format!("{{automated: {{}}}}\n  dependsOn: [{{name: db, namespace: {ns}}}]"),
    )
    .await;
    let running = start(client, &ns);
    let blocked = eventually("web to be blocked", Duration::from_secs(120), || async {
        let status = status(client, &ns, "web").await;
        (status.condition("Ready")?.reason == "DependencyNotReady").then_some(status)
    })
    .await;
    assert_eq!(blocked.message.as_deref(), Some(format!("blocked on {ns}/db: not found").as_str()));
    assert_eq!(color(client, &ns).await, None, "a blocked Application is not synced");

    let db = format!(
        "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: db, namespace: {ns}}}\nspec:\n  source: {{repoURL: {repo}, revision: main, path: db, interval: 10s}}\n  destination: {{namespace: {ns}}}\n  sync: {{automated: {{}}}}\n",
        repo = repo.path().display()
    );
    let apps = Api::<ApplicationResource>::namespaced(client.clone(), &ns);
    apps.create(&PostParams::default(), &serde_yaml::from_str(&db).unwrap()).await.unwrap();
    // The dependency's reconcile wakes web: well within its 30 s retry.
    eventually("web to sync once db is ready", Duration::from_secs(20), || async {
        (color(client, &ns).await.as_deref() == Some("blue")).then_some(())
    })
    .await;
    let db_status = status(client, &ns, "db").await;
    assert!(db_status.is_true("Synced", Some(1)) && db_status.is_true("Healthy", Some(1)), "{db_status:?}");

    // db → web → db: a cycle, said in db's status.
    let patch = serde_json::json!({"spec": {"dependsOn": [{"name": "web"}]}});
    apps.patch("db", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let stalled = eventually("the cycle", Duration::from_secs(30), || async {
        let status = status(client, &ns, "db").await;
        (status.condition("Stalled")?.reason == "DependencyCycle").then_some(status)
    })
    .await;
    let message = stalled.message.unwrap_or_default();
    assert_eq!(message, format!("spec.dependsOn: dependency cycle {ns}/db → {ns}/web → {ns}/db"));
    running.stop().await;
}

#[tokio::test]
async fn a_second_pass_over_the_same_commit_renders_from_the_cache() {
    let target = target_with_crd().await;
    let client = &target.client;
    let ns = namespace(client, "ctl-cache").await;
    let (repo, _, running) = web_synced_blue(client, &ns, "{automated: {prune: true}}").await;
    let engine = &running.engine.engine;
    eventually("status Synced", Duration::from_secs(10), || async {
        status(client, &ns, "web").await.is_true("Synced", Some(1)).then_some(())
    })
    .await;
    let (before, calls) = (engine.render_cache_stats(), engine.plugin_calls());
    assert!(before.misses >= 1 && before.entries == 1, "{before:?}");
    // A webhook push of the same commit: one more pass, rendered from the
    // cache. Waits for the cache hit itself, not for the pass count: on a
    // real server a pass already in flight (woken by a controller's write
    // to a synced object) can finish after `before` was read and count as
    // "another pass" before the push's pass has rendered (a CI failure).
    assert_eq!(push(running.addr, &repo).await, 202);
    let after = eventually("a render from the cache", Duration::from_secs(10), || async {
        let after = engine.render_cache_stats();
        (after.hits > before.hits).then_some(after)
    })
    .await;
    assert_eq!(after.misses, before.misses, "the same commit is not rendered again");
    assert_eq!(engine.plugin_calls(), calls, "no plugin ran");
    running.stop().await;
}

/// Leader election with a short lease, so that a lost one shows quickly.
/// Short leases, so a lost lease shows within the test; renewed 3 s in,
/// leaving 5 s of slack, so a leader slowed by a loaded machine keeps it.
fn election(ns: &str, identity: &str) -> LeaderElection {
    LeaderElection {
        lease_duration: Duration::from_secs(8),
        renew_before: Duration::from_secs(5),
        ..LeaderElection::new(ns, identity)
    }
}

async fn lease_holder(client: &Client, ns: &str) -> Option<String> {
    let leases = Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(client.clone(), ns);
    leases.get_opt("capstan-controller").await.unwrap()?.spec?.holder_identity
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_standby_takes_over_when_it_stops() {
    let target = target_with_crd().await;
    let client = &target.client;
    let ns = namespace(client, "ctl-leader").await;
    let repo = GitRepo::new();
    repo.write("deploy/cm.yaml", &config_map("blue"));
    repo.commit("first");
    create_app(client, &ns, "web", &repo, "{automated: {prune: true}}").await;
    let a = start_with(client, &ns, Some(election(&ns, "controller-a")));
    eventually("a to lead", Duration::from_secs(30), || async { a.ready().await.then_some(()) }).await;
    let b = start_with(client, &ns, Some(election(&ns, "controller-b")));
    eventually("the first sync", Duration::from_secs(120), || async {
        (color(client, &ns).await.as_deref() == Some("blue")).then_some(())
    })
    .await;
    // Several renewals of a's lease later, b still waits and has done nothing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(lease_holder(client, &ns).await.as_deref(), Some("controller-a"));
    assert!(a.ready().await && !b.ready().await, "only the leader is ready");
    assert!(a.passes().await >= 1);
    assert_eq!(b.passes().await, 0, "a standby reconciles nothing");

    // a stops (SIGTERM): it releases the lease and b takes over at once,
    // well before a's lease would have expired.
    let stopped = std::time::Instant::now();
    a.stop().await;
    eventually("b to lead", Duration::from_secs(3), || async { b.ready().await.then_some(()) }).await;
    eprintln!("standby took over {:?} after the leader was asked to stop", stopped.elapsed());
    assert_eq!(lease_holder(client, &ns).await.as_deref(), Some("controller-b"));
    repo.write("deploy/cm.yaml", &config_map("green"));
    repo.commit("second");
    assert_eq!(push(b.addr, &repo).await, 202);
    eventually("b to apply the new commit", Duration::from_secs(30), || async {
        (color(client, &ns).await.as_deref() == Some("green")).then_some(())
    })
    .await;
    // Counted once the pass has written the status, a moment after the apply.
    eventually("b's pass to be counted", Duration::from_secs(10), || async { (b.passes().await >= 1).then_some(()) })
        .await;
    b.stop().await;
    assert_eq!(lease_holder(client, &ns).await, None, "released on stop");
}

#[tokio::test]
async fn a_leader_that_loses_its_lease_stops_with_an_error() {
    let target = target_with_crd().await;
    let client = &target.client;
    let ns = namespace(client, "ctl-lost").await;
    let a = start_with(client, &ns, Some(election(&ns, "controller-a")));
    eventually("a to lead", Duration::from_secs(30), || async { a.ready().await.then_some(()) }).await;
    // Someone else takes the lease (as a standby would after a network
    // partition kept a from renewing).
    let leases = Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(client.clone(), &ns);
    let patch = serde_json::json!({"spec": {"holderIdentity": "intruder"}});
    leases.patch("capstan-controller", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let error = tokio::time::timeout(Duration::from_secs(10), a.task)
        .await
        .expect("a stops once it notices, at its next renewal")
        .unwrap()
        .expect_err("losing the lease is an error");
    let message = error.to_string();
    assert!(
        message.contains(&format!("lost the leader election Lease {ns}/capstan-controller to intruder")),
        "{message}"
    );
}
