//! Benchmark: a no-op reconcile of 1,000 objects (DESIGN: 0 writes, 0
//! dry-runs for unchanged objects, < 100 ms engine CPU).
//!
//! The test API server runs on its own runtime, on threads named
//! `apiserver`; the engine's CPU is the process's CPU minus those threads',
//! read from `/proc` (10 ms clock ticks, so the figure is a mean over
//! several syncs). Each sync is the whole reconcile: ref lookup of the Git
//! source, render through `builtin:yaml` in the sandbox, plan, one GET per
//! object, apply of what differs (nothing), inventory check.
//!
//! Run: `cargo bench -p capstan-integration --bench reconcile`
//! (`RECONCILE_BENCH_OBJECTS`, default 1000; `RECONCILE_BENCH_ITERS`, default 10).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use capstan::SyncOptions;
use capstan_apiserver::TestApiServer;
use capstan_integration::{GitRepo, TestEngine, app};

/// Kernel clock ticks per second of `/proc/*/stat` CPU times (USER_HZ,
/// 100 on every Linux architecture Capstan targets).
const TICKS_PER_SECOND: u64 = 100;

/// CPU time of the whole process, and of its live threads named `apiserver`.
fn cpu() -> (Duration, Duration) {
    let ticks = |stat: &str| -> u64 {
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
            + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
    };
    let process = ticks(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default());
    let server: u64 = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim() == "apiserver"))
        .map(|task| ticks(&std::fs::read_to_string(task.path().join("stat")).unwrap_or_default()))
        .sum();
    let duration = |t: u64| Duration::from_millis(t * 1000 / TICKS_PER_SECOND);
    (duration(process), duration(server))
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A repository of `objects` ConfigMaps, 100 per file.
fn repository(objects: usize) -> GitRepo {
    let repo = GitRepo::new();
    for file in 0..objects.div_ceil(100) {
        let mut text = String::new();
        for i in file * 100..((file + 1) * 100).min(objects) {
            writeln!(text, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  index: \"{i}\"\n---")
                .unwrap();
        }
        repo.write(&format!("app/cm-{file}.yaml"), &text);
    }
    repo.commit("objects");
    repo
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let (objects, iters) = (env("RECONCILE_BENCH_OBJECTS", 1000), env("RECONCILE_BENCH_ITERS", 10).max(1));
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("apiserver")
        .enable_all()
        .build()
        .unwrap();
    let server = server_runtime.block_on(TestApiServer::start()).expect("failed to start the test API server");
    let engine_runtime =
        tokio::runtime::Builder::new_current_thread().thread_name("engine").enable_all().build().unwrap();
    let client = engine_runtime.block_on(async { kube::Client::try_from(server.kube_config()).unwrap() });

    let repo = repository(objects);
    let engine = TestEngine::new();
    let file =
        app("bench", &repo, "main", "app", "  destination: {namespace: bench}\n  sync: {createNamespace: true}\n");
    let sync = || {
        let report = engine_runtime.block_on(engine.engine.sync(&file, client.clone(), &SyncOptions::default()));
        report.expect("sync failed").applied.len()
    };
    let start = Instant::now();
    sync();
    let first = start.elapsed();

    sync();
    server.clear_requests();
    let writes = server.write_count();
    let (cpu_before, server_before) = cpu();
    let start = Instant::now();
    for _ in 0..iters {
        assert_eq!(sync(), objects, "every object is reported");
    }
    let wall = start.elapsed() / iters as u32;
    let (cpu_after, server_after) = cpu();
    let server_cpu = (server_after - server_before) / iters as u32;
    let engine_cpu = ((cpu_after - cpu_before) / iters as u32).saturating_sub(server_cpu);
    let requests = server.requests();
    let dry_runs = requests.iter().filter(|r| r.dry_run).count() / iters;
    let writes = server.write_count() - writes;

    println!("first sync of {objects} objects: {:.0} ms wall (engine and server together)", ms(first));
    println!("| no-op reconcile of {objects} objects | per sync, mean of {iters} | goal (DESIGN) |");
    println!("| --- | ---: | ---: |");
    println!("| engine CPU | {:.1} ms | < 100 ms |", ms(engine_cpu));
    println!("| test API server CPU (same process, own threads) | {:.1} ms | |", ms(server_cpu));
    println!("| wall | {:.1} ms | |", ms(wall));
    println!("| API requests | {} | |", requests.len() / iters);
    println!("| writes | {writes} | 0 |");
    println!("| dry-runs | {dry_runs} | 0 |");
    println!(
        "Peer (not on this machine): Argo CD's server-side diff takes seconds per app (DESIGN); Flux's kustomize-controller dry-runs every object on each reconcile."
    );
}
