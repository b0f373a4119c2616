//! builtin:jsonnet end to end: the two examples (`examples/webapp-jsonnet`:
//! TLAs, ext vars, a library vendored with jsonnet-bundler behind its
//! legacy link; `examples/kube-prometheus-jsonnet`: kube-prometheus's
//! shape, with a Namespace, CRDs, cluster RBAC and custom resources) render
//! in the sandbox exactly as the `capstan-jsonnet` library does natively
//! and as the `jsonnet` binary evaluates them (when it is installed), and
//! sync; imports cannot leave the snapshot; deep recursion is a Jsonnet
//! error with its stack trace, endless recursion and runaway output are
//! stopped by the leash, and the host serves the next call.

use std::path::{Path, PathBuf};
use std::process::Command;

use capstan::SyncOptions;
use capstan_apiserver::test_target;
use capstan_integration::{GitRepo, TestEngine, app};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

/// Copies `examples/<name>` into a fresh repository under `app/`, links kept as links.
fn example_repo(name: &str) -> GitRepo {
    let repo = GitRepo::new();
    let src = Path::new(EXAMPLES).join(name);
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let to = repo.path().join("app").join(p.strip_prefix(&src).unwrap());
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(std::fs::read_link(&p).unwrap(), &to).unwrap();
            } else if meta.is_dir() {
                stack.push(p);
            } else {
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&p, &to).unwrap();
            }
        }
    }
    repo
}

/// The `jsonnet` binary (Debian's package, the C++ implementation), if installed.
fn jsonnet_binary() -> Option<PathBuf> {
    Command::new("jsonnet").arg("--version").output().is_ok_and(|o| o.status.success()).then(|| "jsonnet".into())
}

/// `jsonnet ARGS main.jsonnet` in `dir`, flattened as builtin:jsonnet flattens.
fn jsonnet_objects(jsonnet: &Path, dir: &Path, args: &[&str]) -> Vec<Value> {
    let out = Command::new(jsonnet).args(args).arg("main.jsonnet").current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    capstan_jsonnet::flatten::objects_of_snippet(std::str::from_utf8(&out.stdout).unwrap(), "main.jsonnet").unwrap()
}

/// Renders `file` through the engine; checks the stage and compares with
/// the native library (`opts`) and, when installed, the jsonnet binary (`args`).
async fn render_and_compare(
    engine: &TestEngine,
    repo: &GitRepo,
    file: &capstan::AppFile,
    opts: &capstan_jsonnet::Options,
    args: &[&str],
) -> Vec<Value> {
    let out = engine.engine.render_async(file).await.unwrap();
    assert_eq!(out.stages[0].plugin, "builtin:jsonnet");
    let rendered: Vec<Value> = out.rendered.objects.iter().map(|o| o.as_value().clone()).collect();
    let namespace = file.app.spec.destination.namespace.as_deref();
    let native = capstan_jsonnet::render(repo.path(), "app", namespace, opts).unwrap();
    assert_eq!(rendered, native, "the component must render as the library does natively");
    match jsonnet_binary() {
        Some(jsonnet) => {
            let want = jsonnet_objects(&jsonnet, &repo.path().join("app"), args);
            assert_eq!(rendered, want, "builtin:jsonnet must evaluate as the jsonnet binary does");
        }
        None => println!("jsonnet not found on PATH: skipping the comparison with the jsonnet binary"),
    }
    rendered
}

fn kinds(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn webapp_example_with_tlas_and_a_vendored_library_renders_like_jsonnet_and_syncs() {
    let repo = example_repo("webapp-jsonnet");
    let head = repo.commit("webapp");
    let engine = TestEngine::new();
    let with = r#"{tlas: [{name: image, value: "ghcr.io/stefanprodan/podinfo:6.7.1"}, {name: replicas, value: "3", code: true}], extVars: [{name: env, value: prod}]}"#;
    let spec = format!(
        "  render:\n    - plugin: builtin:jsonnet\n      with: {with}\n  destination: {{namespace: webapp-jsonnet}}\n  sync: {{createNamespace: true}}\n"
    );
    let file = app("webapp-jsonnet", &repo, &head, "app", &spec);
    let opts: capstan_jsonnet::Options = serde_json::from_value(file.app.spec.render[0].params.clone()).unwrap();
    let args = [
        "-J",
        "vendor",
        "-J",
        "lib",
        "--tla-str",
        "image=ghcr.io/stefanprodan/podinfo:6.7.1",
        "--tla-code",
        "replicas=3",
        "--ext-str",
        "env=prod",
    ];
    let rendered = render_and_compare(&engine, &repo, &file, &opts, &args).await;
    assert_eq!(kinds(&rendered), ["ConfigMap/webapp-config", "Deployment/webapp", "Service/webapp"]);

    let target = test_target().await;
    engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let deployment =
        Api::<Deployment>::namespaced(target.client.clone(), "webapp-jsonnet").get("webapp").await.unwrap();
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(3), "the replicas TLA is code: a number");
    assert_eq!(spec.template.spec.unwrap().containers[0].image.as_deref(), Some("ghcr.io/stefanprodan/podinfo:6.7.1"));
    let cm = Api::<ConfigMap>::namespaced(target.client.clone(), "webapp-jsonnet").get("webapp-config").await.unwrap();
    let data = cm.data.unwrap();
    assert_eq!((data["ENV"].as_str(), data["PODINFO_UI_MESSAGE"].as_str()), ("prod", "Hello from Jsonnet"));
}

#[tokio::test]
async fn kube_prometheus_example_is_detected_renders_crds_and_custom_resources_and_syncs() {
    let repo = example_repo("kube-prometheus-jsonnet");
    let head = repo.commit("kube-prometheus");
    let engine = TestEngine::new();
    let spec = "  destination: {namespace: monitoring}\n  allow:\n    clusterResources:\n      - {group: \"\", kind: Namespace}\n      - {group: apiextensions.k8s.io, kind: CustomResourceDefinition}\n      - {group: rbac.authorization.k8s.io, kind: ClusterRole}\n      - {group: rbac.authorization.k8s.io, kind: ClusterRoleBinding}\n";
    let file = app("kube-prometheus", &repo, &head, "app", spec);
    let rendered =
        render_and_compare(&engine, &repo, &file, &capstan_jsonnet::Options::default(), &["-J", "vendor"]).await;
    let names = kinds(&rendered);
    assert_eq!(rendered.len(), 21, "{names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("CustomResourceDefinition/")).count(), 2, "{names:?}");
    assert!(names.contains(&"Prometheus/k8s".to_string()), "{names:?}");

    // Without the allow list the cluster-scoped objects are refused.
    let strict = app("kube-prometheus", &repo, &head, "app", "  destination: {namespace: monitoring}\n");
    let target = test_target().await;
    let error = engine.engine.sync(&strict, target.client.clone(), &SyncOptions::default()).await.unwrap_err();
    assert!(format!("{error:#}").contains("spec.allow.clusterResources"), "{error:#}");

    engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", "Prometheus");
    let prometheuses: Api<DynamicObject> = Api::namespaced_with(
        target.client.clone(),
        "monitoring",
        &ApiResource::from_gvk_with_plural(&gvk, "prometheuses"),
    );
    let prometheus = prometheuses.get("k8s").await.unwrap();
    assert_eq!(prometheus.data["spec"]["replicas"], 2, "values+:: in main.jsonnet overrides the library's default");
    assert_eq!(prometheus.data["spec"]["retention"], "15d");
    let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor");
    let monitors: Api<DynamicObject> = Api::namespaced_with(
        target.client.clone(),
        "monitoring",
        &ApiResource::from_gvk_with_plural(&gvk, "servicemonitors"),
    );
    assert_eq!(monitors.list(&Default::default()).await.unwrap().items.len(), 3);
}

/// A repository whose `app/` holds `main` and `extra` files and `links`.
fn program_repo(main: &str, extra: &[(&str, &str)], links: &[(&str, &str)]) -> (GitRepo, String) {
    let repo = GitRepo::new();
    repo.write("app/main.jsonnet", main);
    for (path, text) in extra {
        repo.write(path, text);
    }
    for (link, target) in links {
        std::os::unix::fs::symlink(target, repo.path().join(link)).unwrap();
    }
    let head = repo.commit("program");
    (repo, head)
}

/// Renders a one-file program through the engine: its objects, or the error text.
async fn render(engine: &TestEngine, repo: &GitRepo, head: &str, spec: &str) -> Result<Vec<Value>, String> {
    let file = app("prog", repo, head, "app", &format!("  destination: {{namespace: prog}}\n{spec}"));
    match engine.engine.render_async(&file).await {
        Ok(out) => Ok(out.rendered.objects.iter().map(|o| o.as_value().clone()).collect()),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// The error of rendering `main`; then checks that the same engine renders
/// the next program normally.
async fn render_error(main: &str, spec: &str) -> String {
    let (repo, head) = program_repo(main, &[], &[]);
    let engine = TestEngine::new();
    let error = render(&engine, &repo, &head, spec).await.expect_err("the render must fail");
    repo.write("app/main.jsonnet", "{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'ok'}}");
    let head = repo.commit("fine");
    assert_eq!(render(&engine, &repo, &head, spec).await.unwrap().len(), 1, "the engine carries on");
    error
}

#[tokio::test]
async fn imports_cannot_leave_the_snapshot() {
    for program in ["import '../../../../../../etc/passwd'", "importstr '/etc/passwd'", "importbin '../../x'"] {
        let error = render_error(program, "").await;
        assert!(error.contains("builtin:jsonnet") && error.contains("escapes the snapshot"), "{program}: {error}");
    }
    // A link out of the repository is not even materialised in the snapshot;
    // a link inside it is followed.
    let engine = TestEngine::new();
    let (repo, head) = program_repo("importstr 'passwd'", &[], &[("app/passwd", "/etc/passwd")]);
    let error = render(&engine, &repo, &head, "").await.unwrap_err();
    assert!(error.contains("import 'passwd'") && error.contains("not found"), "{error}");
    let main = "{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'x'}, data: {v: importstr 'inside'}}";
    let (repo, head) = program_repo(main, &[("shared/name.txt", "linked")], &[("app/inside", "../shared/name.txt")]);
    let objects = render(&engine, &repo, &head, "").await.unwrap();
    assert_eq!(objects[0]["data"]["v"], "linked");
}

#[tokio::test]
async fn deep_recursion_is_a_jsonnet_error_with_its_stack_trace() {
    let program = "local f(n) = if n == 0 then 0 else 1 + f(n - 1);\n{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'x'}, data: {n: std.toString(f(100000))}}\n";
    let error = render_error(program, "").await;
    assert!(error.contains("stack overflow") && error.contains("main.jsonnet:1:"), "{error}");
    assert!(!error.contains("trap"), "a Jsonnet error, not a trap: {error}");
    // Recursion through object fields is not counted by jrsonnet: the
    // sandbox's stack is the bound, and the host reports it.
    let program = "local F = {n: 1, local o = self, r: (F {n: o.n}).r};\n(F {n: 15}).r\n";
    let error = render_error(program, "").await;
    assert!(error.contains("builtin:jsonnet"), "{error}");
}

#[tokio::test]
async fn runaway_output_is_stopped_by_the_leash() {
    let program = "[{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'c' + i}, data: {x: std.repeat('x', 4096)}} for i in std.range(1, 10000000)]";
    let error = render_error(program, "  limits: {timeout: 10s, memory: 128Mi}\n").await;
    assert!(error.contains("builtin:jsonnet"), "{error}");
    assert!(["memory", "deadline", "output", "exceeds"].iter().any(|w| error.contains(w)), "{error}");
}
