//! Benchmark: builtin:kustomize (native) against `kubectl kustomize`.
//!
//! (a) renders every case of `tests/corpus/kustomize`; (b) renders generated
//! overlays of 2, 5 and 10 bases (× 100 apps × 4 objects + generators ≈ 800,
//! 2,000 and 4,000 objects, with patches, labels, images and generators), to
//! show DESIGN's 4,000-object point (< 300 ms) and linear growth. All are timed
//! natively and, when `kubectl` is on PATH, through `kubectl kustomize` in the
//! same run; a table with the ratio is printed.
//!
//! Run: `cargo bench -p capstan-kustomize` (set `KUSTOMIZE_BENCH_ITERS` to
//! change the native repetitions, default 5; `KUSTOMIZE_BENCH_NO_KUBECTL=1`
//! skips the kubectl side; `KUSTOMIZE_BENCH_KEEP=1` keeps the generated
//! overlay for inspection).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use capstan_host::{Builtins, HostConfig, Limits, Plugin, PluginHost, RenderCall};
use capstan_kustomize::{DirFs, LoadRestrictor, Options, build};
use serde_json::{Value, json};

struct Case {
    input: PathBuf,
    run: String,
    opts: Options,
    flags: Vec<String>,
}

fn corpus_cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/kustomize");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs.into_iter()
        .map(|d| {
            let case: Value = serde_json::from_str(&std::fs::read_to_string(d.join("case.json")).unwrap()).unwrap();
            let flags: Vec<String> = case["kubectl_flags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(String::from))
                .collect();
            let none = flags.iter().any(|f| f == "--load-restrictor=LoadRestrictionsNone");
            Case {
                input: d.join("input"),
                run: case["run"].as_str().unwrap_or(".").to_string(),
                opts: Options { load_restrictor: if none { LoadRestrictor::None } else { LoadRestrictor::RootOnly } },
                flags,
            }
        })
        .collect()
}

fn native(cases: &[Case]) -> (Duration, usize) {
    let start = Instant::now();
    let mut objects = 0;
    for c in cases {
        let fs = DirFs::new(&c.input);
        if let Ok(v) = build(&fs, Path::new(&c.run), &c.opts) {
            objects += v.len();
        }
    }
    (start.elapsed(), objects)
}

/// Renders every case through the component, a fresh instance each time.
fn sandboxed(host: &PluginHost, plugin: &Plugin, cases: &[Case]) -> Duration {
    let start = Instant::now();
    for c in cases {
        let params = match c.opts.load_restrictor {
            LoadRestrictor::None => json!({"loadRestrictor": "none"}),
            LoadRestrictor::RootOnly => json!({}),
        };
        let call = RenderCall {
            snapshot: &c.input,
            path: &c.run,
            app: "bench",
            namespace: None,
            revision: "0",
            params: &params,
        };
        let _ = host.render(plugin, &call, &Limits::default());
    }
    start.elapsed()
}

fn kubectl(cases: &[Case]) -> Option<Duration> {
    if std::env::var_os("KUSTOMIZE_BENCH_NO_KUBECTL").is_some() {
        return None;
    }
    Command::new("kubectl").arg("version").arg("--client").output().ok()?;
    let start = Instant::now();
    for c in cases {
        let _ = Command::new("kubectl").arg("kustomize").arg(c.input.join(&c.run)).args(&c.flags).output().ok()?;
    }
    Some(start.elapsed())
}

/// Writes an overlay of `bases` bases under `dir` and returns its root.
fn generate_large(dir: &Path, bases: usize) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    let apps = 100;
    for b in 0..bases {
        let base = dir.join(format!("base{b}"));
        std::fs::create_dir_all(&base).unwrap();
        let mut res = String::new();
        for a in 0..apps {
            let n = format!("app{b}-{a}");
            write!(
                res,
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {n}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {n}\n  template:\n    metadata:\n      labels:\n        app: {n}\n    spec:\n      serviceAccountName: {n}\n      containers:\n      - name: main\n        image: registry.example.com/{n}:1.0\n        envFrom:\n        - configMapRef:\n            name: {n}-config\n        ports:\n        - containerPort: 8080\n      volumes:\n      - name: config\n        configMap:\n          name: shared{b}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {n}\nspec:\n  selector:\n    app: {n}\n  ports:\n  - port: 80\n    targetPort: 8080\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {n}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {n}-config\ndata:\n  APP: {n}\n---\n"
            )
            .unwrap();
        }
        std::fs::write(base.join("resources.yaml"), res).unwrap();
        std::fs::write(
            base.join("kustomization.yaml"),
            format!(
                "resources:\n- resources.yaml\nnamePrefix: b{b}-\ncommonLabels:\n  base: b{b}\nconfigMapGenerator:\n- name: shared{b}\n  literals:\n  - BASE=b{b}\n  - LEVEL=info\n"
            ),
        )
        .unwrap();
    }
    let overlay = dir.join("overlay");
    std::fs::create_dir_all(&overlay).unwrap();
    let mut k = String::from(
        "namespace: prod\nnamePrefix: prod-\ncommonLabels:\n  env: prod\ncommonAnnotations:\n  owner: platform\nresources:\n",
    );
    for b in 0..bases {
        writeln!(k, "- ../base{b}").unwrap();
    }
    k.push_str(
        "images:\n- name: registry.example.com/app0-1\n  newTag: \"2.0\"\npatches:\n- target:\n    kind: Deployment\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: any\n    spec:\n      template:\n        spec:\n          containers:\n          - name: main\n            resources:\n              limits:\n                memory: 256Mi\n- target:\n    kind: Service\n  patch: |-\n    - op: add\n      path: /spec/type\n      value: ClusterIP\nconfigMapGenerator:\n- name: overlay-settings\n  literals:\n  - REGION=eu\nsecretGenerator:\n- name: overlay-secret\n  literals:\n  - TOKEN=abc\nreplicas:\n- name: app0-0\n  count: 3\n",
    );
    std::fs::write(overlay.join("kustomization.yaml"), k).unwrap();
    dir.to_path_buf()
}

/// Whether our render of `case` equals `kubectl kustomize`'s (parsed, in order).
fn same_as_kubectl(case: &Case) -> bool {
    let ours = build(&DirFs::new(&case.input), Path::new(&case.run), &case.opts).unwrap();
    let out = Command::new("kubectl").arg("kustomize").arg(case.input.join(&case.run)).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let theirs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect();
    ours == theirs
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Mean of `iters` runs of `f`, after one warm-up run.
fn mean(iters: u32, mut f: impl FnMut() -> Duration) -> Duration {
    f();
    (0..iters).map(|_| f()).sum::<Duration>() / iters
}

fn main() {
    let iters: u32 = std::env::var("KUSTOMIZE_BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let host = PluginHost::new(HostConfig {
        builtins: Builtins::Dir(PathBuf::from(capstan_test_artifacts::GUEST_DIR)),
        ..HostConfig::default()
    })
    .expect("failed to create the plugin host");
    let plugin = host.load("builtin:kustomize", None, Path::new(".")).expect("failed to load builtin:kustomize");
    let cases = corpus_cases();
    let objects = native(&cases).1;
    let corpus_native = mean(iters, || native(&cases).0);
    let corpus_wasm = mean(iters, || sandboxed(&host, &plugin, &cases));
    let corpus_kubectl = kubectl(&cases);

    let mut rows =
        vec![(format!("corpus ({} cases)", cases.len()), objects, corpus_wasm, corpus_native, corpus_kubectl)];
    let dir = std::env::temp_dir().join("capstan-kustomize-bench");
    for bases in [2, 5, 10] {
        let large = vec![Case {
            input: generate_large(&dir.join(bases.to_string()), bases),
            run: "overlay".into(),
            opts: Options::default(),
            flags: Vec::new(),
        }];
        let large_kubectl = kubectl(&large);
        if large_kubectl.is_some() {
            println!("{bases}-base overlay output identical to kubectl kustomize: {}", same_as_kubectl(&large[0]));
        }
        let name = format!("overlay, {bases} bases");
        let wasm = mean(iters, || sandboxed(&host, &plugin, &large));
        rows.push((name, native(&large).1, wasm, mean(iters, || native(&large).0), large_kubectl));
    }

    println!(
        "| workload | objects | builtin:kustomize (WASM) | WASM per object | same library, native | kubectl kustomize | ratio WASM ÷ kubectl (goal ≤ 0.5) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, n, wasm, nat, kc) in rows {
        let (k, r) = match kc {
            Some(k) => (format!("{:.1} ms", ms(k)), format!("{:.3}", ms(wasm) / ms(k))),
            None => ("n/a (kubectl not on PATH)".into(), "n/a".into()),
        };
        let per_object = ms(wasm) * 1000.0 / n.max(1) as f64;
        println!("| {name} | {n} | {:.1} ms | {per_object:.0} µs | {:.1} ms | {k} | {r} |", ms(wasm), ms(nat));
    }
    println!(
        "DESIGN goals: WASM ÷ kubectl ≤ 0.5; a 4,000-object overlay < 300 ms; µs per object flat as objects grow."
    );
    if std::env::var_os("KUSTOMIZE_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("large overlay kept in {}", dir.display());
    }
}
