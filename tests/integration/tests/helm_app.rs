//! builtin:helm end to end: the component in the real host renders every
//! chart of `tests/corpus/helm/rendered` exactly as the `capstan-helm`
//! library does natively (the library is held to `helm template` by
//! `plugins/helm/tests/conformance.rs`); the example chart
//! `examples/webapp-helm` is picked by its Chart.yaml, equals `helm
//! template` (when helm is available) and syncs; a value file outside the
//! snapshot is refused and nothing is applied.

use std::path::{Path, PathBuf};
use std::process::Command;

use capstan::SyncOptions;
use capstan_apiserver::test_target;
use capstan_host::{Limits, RenderCall};
use capstan_integration::{GitRepo, TestEngine, app, builtin_component};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::{Value, json};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus");
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/webapp-helm/chart");

/// Charts whose output the host refuses on purpose: objects without `kind`
/// or `apiVersion` (Helm prints them; no cluster would accept them).
const HOST_REFUSES: &[(&str, &str)] = &[
    ("action__charts_multiplecharts-lint-chart-1", "missing field `kind`"),
    ("action__charts_multiplecharts-lint-chart-2", "missing field `kind`"),
    ("lint__goodone", "missing field `apiVersion`"),
    ("lint__withsubchart", "missing field `apiVersion`"),
    ("lint__withsubchart_charts_subchart", "missing field `apiVersion`"),
];

/// Charts with `randAlphaNum` passwords: equal but for those values.
const RANDOM: &[&str] =
    &["action__charts_chart-with-compressed-dependencies", "action__charts_chart-with-uncompressed-dependencies"];

/// Drops ` (os error N)`: WASI and Linux number errno differently.
fn without_errno(message: &str) -> String {
    match message.find(" (os error ") {
        Some(start) => {
            let end = message[start..].find(')').map_or(message.len(), |i| start + i + 1);
            format!("{}{}", &message[..start], without_errno(&message[end..]))
        }
        None => message.to_owned(),
    }
}

fn helm_binary() -> Option<PathBuf> {
    if Command::new("helm").arg("version").output().is_ok_and(|o| o.status.success()) {
        return Some("helm".into());
    }
    let cached = Path::new(&std::env::var_os("HOME")?).join(".cache/capstan/helm/helm");
    cached.exists().then_some(cached)
}

#[test]
fn component_renders_every_corpus_chart_like_the_library() {
    let (host, plugin) = builtin_component("helm");
    let index = std::fs::read_to_string(Path::new(CORPUS).join("helm/rendered/INDEX.tsv")).unwrap();
    let params = json!({"releaseName": "release-name", "includeCrds": false});
    let opts: capstan_helm::Options = serde_json::from_value(params.clone()).unwrap();
    let (mut rendered, mut rejected, mut mismatches) = (0, 0, Vec::new());
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let chart = cols[3];
        // The host escapes a plugin's error text (newlines included) before it
        // reaches a terminal or a log.
        let native = capstan_helm::render(Path::new(CORPUS), chart, "app", None, &opts)
            .map_err(|e| capstan_types::text::escape_untrusted(&capstan_helm::error::chain(&e)).into_owned());
        let call = RenderCall {
            snapshot: Path::new(CORPUS),
            path: chart,
            app: "app",
            namespace: None,
            revision: "0",
            params: &params,
        };
        let sandboxed = host
            .render(&plugin, &call, &Limits::default())
            .map(|o| o.objects.into_iter().map(|o| o.into_value()).collect::<Vec<Value>>())
            .map_err(|e| format!("{:#}", anyhow::Error::new(e)));
        let refusal = HOST_REFUSES.iter().find(|(name, _)| *name == cols[0]).map(|(_, text)| *text);
        match (native, sandboxed, refusal) {
            (Ok(want), Ok(got), None) if want == got => rendered += 1,
            (Ok(want), Ok(got), None) if RANDOM.contains(&cols[0]) && want.len() == got.len() => rendered += 1,
            (Err(want), Err(got), None) if without_errno(&got).contains(&without_errno(&want)) => rejected += 1,
            (Ok(_), Err(got), Some(text)) if got.contains(text) => rejected += 1,
            (want, got, _) => mismatches.push(format!("{}: native {want:?} / sandboxed {got:?}", cols[0])),
        }
    }
    println!("builtin:helm in the sandbox: {rendered} charts rendered and {rejected} rejected as natively");
    assert!(mismatches.is_empty(), "{} charts differ:\n{}", mismatches.len(), mismatches.join("\n"));
    assert!(rendered >= 40, "only {rendered} charts rendered: is the corpus there?");
}

/// The component reads a chart's files with WASI calls of its own, in
/// requests of 16 KiB and then 64 KiB: files of every size around those
/// bounds (empty, one byte either side, several requests long) reach the
/// templates whole, in the values and through `.Files`.
#[test]
fn files_around_the_read_sizes_reach_the_sandboxed_chart_whole() {
    let (host, plugin) = builtin_component("helm");
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(chart.join("Chart.yaml"), "apiVersion: v2\nname: sizes\nversion: 1.0.0\n").unwrap();
    // A values file over 64 KiB whose last key only a whole read sees.
    let mut values: String = (0..3000).map(|i| format!("key{i}: {}\n", "v".repeat(i % 40 + 1))).collect();
    values.push_str("last: end-of-values\n");
    assert!(values.len() > 64 << 10);
    std::fs::write(chart.join("values.yaml"), values).unwrap();
    let sizes = [0, 1, (16 << 10) - 1, 16 << 10, (16 << 10) + 1, (80 << 10) - 1, 80 << 10, (80 << 10) + 1, 300_000];
    // Bytes that differ along the file, so a lost or repeated request shows.
    let text_of = |size: usize| -> Vec<u8> { (0..size).map(|i| b'a' + (i % 26) as u8).collect() };
    let mut data = String::new();
    for size in sizes {
        std::fs::write(chart.join(format!("f{size}.txt")), text_of(size)).unwrap();
        data.push_str(&format!("  f{size}: {{{{ .Files.Get \"f{size}.txt\" | sha256sum | quote }}}}\n"));
    }
    std::fs::write(
        chart.join("templates/cm.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sizes\ndata:\n  last: {{{{ .Values.last }}}}\n  keys: {{{{ len .Values | quote }}}}\n{data}"),
    )
    .unwrap();
    let params = json!({});
    let call =
        RenderCall { snapshot: dir.path(), path: "chart", app: "app", namespace: None, revision: "0", params: &params };
    let objects = host.render(&plugin, &call, &Limits::default()).unwrap().objects;
    let got = &objects[0].as_value()["data"];
    assert_eq!(got["last"], "end-of-values");
    assert_eq!(got["keys"], "3001");
    for size in sizes {
        let digest = capstan_host::sha256_digest(&text_of(size));
        let want = digest.strip_prefix("sha256:").unwrap();
        assert_eq!(got[format!("f{size}")], want, "file of {size} bytes");
    }
}

/// Copies the example chart into a fresh repository under `webapp/`.
fn example_repo() -> GitRepo {
    let repo = GitRepo::new();
    let mut stack = vec![PathBuf::from(EXAMPLE)];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(EXAMPLE).unwrap().display().to_string();
                repo.write(&format!("webapp/{rel}"), &std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    repo
}

#[tokio::test]
async fn example_chart_renders_like_helm_and_syncs() {
    let repo = example_repo();
    let head = repo.commit("webapp chart");
    let engine = TestEngine::new();
    let file =
        app("webapp", &repo, &head, "webapp", "  destination: {namespace: webapp}\n  sync: {createNamespace: true}\n");
    let out = engine.engine.render_async(&file).await.unwrap();
    assert_eq!(out.stages[0].plugin, "builtin:helm", "a Chart.yaml selects builtin:helm");
    let rendered: Vec<Value> = out.rendered.objects.iter().map(|o| o.as_value().clone()).collect();
    let kinds: Vec<&str> = rendered.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["ConfigMap", "Service", "Service", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Ingress", "Pod"]
    );
    match helm_binary() {
        Some(helm) => {
            let out = Command::new(helm)
                .args(["template", "webapp", "--namespace", "webapp"])
                .arg(repo.path().join("webapp"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let text = String::from_utf8(out.stdout).unwrap();
            let expected: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
                .map(|d| serde::Deserialize::deserialize(d).unwrap())
                .filter(|v: &Value| !v.is_null())
                .collect();
            assert_eq!(rendered, expected, "builtin:helm must match helm template");
        }
        None => {
            println!("helm not found (PATH or ~/.cache/capstan/helm/helm): skipping the comparison with helm template")
        }
    }

    // The test hook (a Pod) is a Capstan hook: a real cluster would run it; sync the rest.
    let target = test_target().await;
    engine.engine.sync(&file, target.client.clone(), &SyncOptions::default()).await.unwrap();
    let deployment = Api::<Deployment>::namespaced(target.client.clone(), "webapp").get("webapp").await.unwrap();
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.containers[0].image.as_deref(), Some("nginx:1.27.0"));
    let cm = Api::<ConfigMap>::namespaced(target.client.clone(), "webapp").get("webapp").await.unwrap();
    let data = cm.data.unwrap();
    assert_eq!(data["GREETING"], "hello from webapp");
    assert_eq!(data["CACHE_ADDR"], "webapp-cache:6379");
}

#[tokio::test]
async fn value_file_outside_the_snapshot_is_refused_and_applies_nothing() {
    let repo = example_repo();
    let head = repo.commit("webapp chart");
    let target = test_target().await;
    let Some(server) = target
        .server_or_skip("value_file_outside_the_snapshot_is_refused_and_applies_nothing", "its log of every request")
    else {
        return;
    };
    let engine = TestEngine::new();
    let spec = "  render:\n    - plugin: builtin:helm\n      with: {valueFiles: [../../../../etc/passwd]}\n  destination: {namespace: webapp}\n";
    let file = app("escape", &repo, &head, "webapp", spec);
    let error = engine.engine.sync(&file, server.client(), &SyncOptions::default()).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("builtin:helm") && message.contains("escapes the snapshot"), "{message}");
    assert_eq!(server.write_count(), 0);
}
