//! Benchmark: policy evaluation through the sandbox (DESIGN: p99 < 1 ms per
//! object per policy).
//!
//! 20 policies — the starter library's five CEL policies four times over
//! (renamed), and its five Rego policies four times over (in renamed
//! packages) — over 5,000 workload objects (Deployments, half of them
//! violating something), as a sync runs them: one `validate` call per stage
//! with every object, a fresh instance each time, policies parsed once per
//! call. The figure per object per policy is a call's time divided by
//! objects × policies; the distribution comes from calls over batches of
//! 100 objects (the per-call parse included, so it is pessimistic).
//!
//! Peers (not on this machine, users' published figures): Kubewarden,
//! context-aware policies, hundreds of ms per request; Kyverno, ~0.5 s p99
//! added per policy under load.
//!
//! Run: `cargo bench -p capstan-integration --bench policy`
//! (`POLICY_BENCH_OBJECTS`, default 5000; `POLICY_BENCH_ITERS`, default 5).

use std::path::Path;
use std::time::{Duration, Instant};

use capstan_host::{Builtins, HostConfig, Limits, PluginHost, RenderCall};
use capstan_types::Object;
use serde_json::{Value, json};

const COPIES: usize = 4;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn library() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies")
}

const POLICIES: [&str; 5] = ["no-latest", "resources", "no-privileged", "required-labels", "allowed-registries"];

/// One builtin:cel stage with the five CEL policies, `COPIES` times each.
fn cel_stage() -> Value {
    let mut policies = Vec::new();
    for copy in 0..COPIES {
        for name in POLICIES {
            let text = std::fs::read_to_string(library().join(name).join("cel.yaml")).unwrap();
            let mut doc: Value = serde_yaml::from_str(&text).unwrap();
            doc["metadata"]["name"] = json!(format!("{name}-{copy}"));
            policies.push(doc);
        }
    }
    json!({"policies": policies, "params": {"labels": ["team"], "registries": ["registry.example.com/"]}})
}

/// One builtin:rego stage with the five Rego policies, `COPIES` times each.
fn rego_stage() -> Value {
    let mut modules = serde_json::Map::new();
    for copy in 0..COPIES {
        for name in POLICIES {
            let text = std::fs::read_to_string(library().join(name).join("policy.rego")).unwrap();
            let package = name.replace('-', "");
            let text = text.replacen(&format!("package {package}"), &format!("package {package}{copy}"), 1);
            modules.insert(format!("{name}-{copy}.rego"), json!(text));
        }
    }
    json!({"modules": modules, "data": {"requiredLabels": ["team"], "allowedRegistries": ["registry.example.com/"]}})
}

fn objects(n: usize) -> Vec<Object> {
    (0..n)
        .map(|i| {
            let image = if i % 2 == 0 { "registry.example.com/web/app:1.2.3" } else { "nginx:latest" };
            Object::new(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": format!("web-{i}"), "namespace": "web", "labels": {"team": "web", "app.kubernetes.io/name": "web"}},
                "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                    "containers": [{"name": "app", "image": image,
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}}]}}}
            }))
            .unwrap()
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let n = env("POLICY_BENCH_OBJECTS", 5000);
    let iters = env("POLICY_BENCH_ITERS", 5);
    let policies = POLICIES.len() * COPIES;
    let host = PluginHost::new(HostConfig {
        builtins: Builtins::Dir(capstan_test_artifacts::GUEST_DIR.into()),
        ..HostConfig::default()
    })
    .unwrap();
    let limits = Limits::default()
        .with_overrides(&serde_json::from_value(json!({"timeout": "300s", "memory": "1Gi"})).unwrap())
        .unwrap();
    let items = objects(n);
    let snapshot = tempfile::TempDir::new().unwrap();
    println!("policy evaluation through the sandbox: {policies} policies per stage, {n} objects");
    println!(
        "| stage | whole call ({n} objects) | per object per policy (mean) | batches of 100: p50 | p99 | goal p99 |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (plugin, params) in [("builtin:cel", cel_stage()), ("builtin:rego", rego_stage())] {
        let loaded = host.load(plugin, None, snapshot.path()).unwrap();
        let call = RenderCall {
            snapshot: snapshot.path(),
            path: ".",
            app: "bench",
            namespace: Some("web"),
            revision: "0000000000000000000000000000000000000000",
            params: &params,
        };
        let found = host.validate(&loaded, &call, &items, &limits).unwrap();
        assert!(found.len() >= n / 2 * COPIES, "{plugin}: expected the :latest half to be found, got {}", found.len());
        let mut whole = Vec::new();
        for _ in 0..iters {
            let started = Instant::now();
            host.validate(&loaded, &call, &items, &limits).unwrap();
            whole.push(started.elapsed());
        }
        let mean: Duration = whole.iter().sum::<Duration>() / iters as u32;
        let per = |d: Duration, objects: usize| d.as_secs_f64() * 1e6 / (objects * policies) as f64;
        let mut batches: Vec<f64> = items
            .chunks(100)
            .map(|batch| {
                let started = Instant::now();
                host.validate(&loaded, &call, batch, &limits).unwrap();
                per(started.elapsed(), batch.len())
            })
            .collect();
        batches.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&batches, 0.5), percentile(&batches, 0.99));
        println!(
            "| {plugin} | {:.0} ms | {:.1} µs | {p50:.1} µs | {p99:.1} µs | 1,000 µs — {} |",
            mean.as_secs_f64() * 1e3,
            per(mean, n),
            if p99 < 1000.0 { "met" } else { "NOT met" }
        );
    }
    println!(
        "peers (published, not measured here): Kubewarden ~500 ms per request (context-aware policies, users' reports); Kyverno ~0.5 s p99 added per policy under load"
    );
}
