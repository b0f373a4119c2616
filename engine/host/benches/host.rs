//! Plugin host benchmarks: warm call (fresh instance + call) of a trivial
//! renderer, cold start from the on-disk compiled cache, first compile, and
//! transformer throughput. Goals (DESIGN.md): warm call ≤ 10 µs median,
//! ≤ 50 µs p99 [peer: wasmtime InstancePre + pooling, 3-27 µs instantiate];
//! cached load ≤ 1 ms [peer: wasmtime deserialize ~90 µs]; cold start < 20 ms.
//! No peer runs on this machine, so peer figures are the published ones.

use std::path::Path;
use std::time::{Duration, Instant};

use capstan_host::{HostConfig, Limits, Plugin, PluginHost, RenderCall};
use capstan_types::Object;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tempfile::TempDir;

fn program(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(capstan_test_artifacts::GUEST_DIR).join(format!("capstan_test_{name}.wasm"))).unwrap()
}

fn host(cache: &Path) -> PluginHost {
    PluginHost::new(HostConfig { cache_dir: Some(cache.to_owned()), ..HostConfig::default() }).unwrap()
}

fn call<'a>(snapshot: &'a Path, params: &'a serde_json::Value) -> RenderCall<'a> {
    RenderCall { snapshot, path: ".", app: "bench", namespace: None, revision: "0123abc", params }
}

/// Median and p99 of `n` timed calls, printed beside the goal: criterion
/// reports means and medians, the goal is also stated at p99.
fn percentiles(host: &PluginHost, plugin: &Plugin, snapshot: &Path, n: usize) {
    let params = json!({});
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            host.render(plugin, &call(snapshot, &params), &Limits::default()).unwrap();
            start.elapsed()
        })
        .collect();
    samples.sort();
    let at = |q: f64| samples[((n as f64 * q) as usize).min(n - 1)];
    println!(
        "warm call, trivial renderer ({} allocator), {n} calls: median {:?}, p99 {:?} (goal ≤ 10 µs median, ≤ 50 µs p99; peer wasmtime InstancePre + pooling 3-27 µs instantiate)",
        if host.is_pooling() { "pooling" } else { "on-demand" },
        at(0.5),
        at(0.99)
    );
}

fn warm_call(c: &mut Criterion) {
    let (cache, snapshot) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let host = host(cache.path());
    let plugin = host.load_bytes("trivial", &program("trivial")).unwrap();
    let params = json!({});
    c.bench_function("warm call: instantiate + render, trivial renderer", |b| {
        b.iter(|| host.render(&plugin, &call(snapshot.path(), &params), &Limits::default()).unwrap())
    });
    percentiles(&host, &plugin, snapshot.path(), 20_000);
}

fn cold_start(c: &mut Criterion) {
    let cache = TempDir::new().unwrap();
    let bytes = program("trivial");
    host(cache.path()).load_bytes("trivial", &bytes).unwrap();
    c.bench_function("cold start from the on-disk cache: new host + load trivial", |b| {
        b.iter(|| host(cache.path()).load_bytes("trivial", &bytes).unwrap())
    });
    let warm_host = host(cache.path());
    c.bench_function("engine only: new host, no plugin", |b| b.iter(|| host(cache.path())));
    drop(warm_host);
}

fn first_compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("first compile (no cache)");
    group.sample_size(10);
    for name in ["trivial", "labels"] {
        let bytes = program(name);
        group.bench_function(name, |b| {
            b.iter(|| PluginHost::new(HostConfig::default()).unwrap().load_bytes(name, &bytes).unwrap())
        });
    }
    group.finish();
}

fn transform_throughput(c: &mut Criterion) {
    let (cache, snapshot) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let host = host(cache.path());
    let plugin = host.load_bytes("labels", &program("labels")).unwrap();
    let params = json!({"team": "web"});
    let mut group = c.benchmark_group("transformer throughput (labels)");
    group.sample_size(10);
    for count in [1_000usize, 10_000] {
        let objects: Vec<Object> = (0..count)
            .map(|i| {
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"), "namespace": "bench"}, "data": {"key": "value"}});
                Object::new(cm).unwrap()
            })
            .collect();
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(BenchmarkId::from_parameter(count), &objects, |b, objects| {
            b.iter(|| host.transform(&plugin, &call(snapshot.path(), &params), objects, &Limits::default()).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, warm_call, cold_start, first_compile, transform_throughput);
criterion_main!(benches);
