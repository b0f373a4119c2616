//! Benchmark: builtin:helm end to end (`capstan render`), through the
//! sandbox alone (one component call) and natively, against `helm
//! template`, all measured in the same run.
//!
//! Workloads: (a) the example chart `examples/webapp-helm` (a typical web
//! app: ConfigMap, Deployment, Service, Ingress, HPA, a cache subchart;
//! goal ≤ 30 ms in the sandbox); (b) generated umbrella charts of 100, 300
//! and 1,000 subcharts (goal: `capstan render` ≤ 0.25 × `helm template`,
//! linear), in three shapes: small apps (one template of three objects
//! each), `helm create`'s chart (`benches/helm-create`: five templates,
//! helpers, a test hook), and `helm create`'s chart whose pod annotations
//! go through `tpl`, as charts that let users template their settings do
//! (Helm clones every template of the umbrella on each `tpl` call, so it
//! grows super-linearly there); (c) a chart whose `tpl` calls grow with its
//! values (100, 1,000 and 5,000 entries: linear). Each chart is committed to a Git repository
//! of its own; `capstan render` reads it through an Application as a user's
//! would, with a warm cache (snapshot materialised, component compiled: the
//! state of every render after the first), and prints YAML into a pipe as
//! `helm template` does; it runs its embedded builtin:helm when that is
//! the component this tree built (else the built one, `--builtin-dir`;
//! the first line says which). A table with the ratios to `helm template` is
//! printed, then the growth of each series (time ratio against size ratio:
//! linear when they match).
//!
//! Run: `cargo bench --workspace --bench helm` (`HELM_BENCH_ITERS`
//! rounds, default 5, each running every column once in turn; medians are
//! printed; `HELM_BENCH_NO_HELM=1` skips the helm side;
//! `HELM_BENCH_ONLY=text` keeps the workloads whose name contains it).
//! `helm` comes from PATH or `~/.cache/capstan/helm/helm` (`cargo xtask test`
//! fetches it there).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use capstan_host::{Builtins, HostConfig, Limits, Plugin, PluginHost, RenderCall};
use serde_json::json;

fn helm_binary() -> Option<PathBuf> {
    if std::env::var_os("HELM_BENCH_NO_HELM").is_some() {
        return None;
    }
    if Command::new("helm").arg("version").output().is_ok_and(|o| o.status.success()) {
        return Some("helm".into());
    }
    let cached = Path::new(&std::env::var_os("HOME")?).join(".cache/capstan/helm/helm");
    cached.exists().then_some(cached)
}

/// One chart to render: the snapshot root (a Git repository), the chart's
/// path in it, and an Application file that renders it.
struct Work {
    name: String,
    root: PathBuf,
    path: String,
    app: PathBuf,
}

impl Work {
    /// Commits `root` to a repository of its own and writes the Application
    /// (release `bench` in namespace `default`, as `helm template bench`).
    fn new(name: String, root: PathBuf, path: &str) -> Work {
        let git = |args: &[&str]| {
            let out = Command::new("git").args(args).current_dir(&root).output().expect("git runs");
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        git(&["init", "-q"]);
        git(&["add", "-A"]);
        git(&["-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "chart"]);
        let app = root.with_extension("application.yaml");
        let text = format!(
            "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata:\n  name: bench\n  namespace: capstan-system\n\
             spec:\n  source:\n    repoURL: {}\n    revision: HEAD\n    path: {path}\n  destination:\n    namespace: default\n",
            root.file_name().unwrap().to_string_lossy()
        );
        std::fs::write(&app, text).unwrap();
        Work { name, root, path: path.into(), app }
    }
}

fn sandboxed(host: &PluginHost, plugin: &Plugin, w: &Work) -> Result<(Duration, usize), String> {
    let params = json!({});
    let call =
        RenderCall { snapshot: &w.root, path: &w.path, app: "bench", namespace: None, revision: "0", params: &params };
    let start = Instant::now();
    let n = host.render(plugin, &call, &Limits::default()).map(|o| o.objects.len()).map_err(|e| e.to_string())?;
    Ok((start.elapsed(), n))
}

fn native(w: &Work) -> Duration {
    let start = Instant::now();
    capstan_helm::render_json(&w.root, &w.path, "bench", None, &capstan_helm::Options::default()).unwrap();
    start.elapsed()
}

/// Whether the `capstan` binary's embedded builtin:helm is the component
/// this tree built (`plugins/dist` is current): `capstan render` then runs
/// as users run it, without `--builtin-dir`, which reads and hashes the
/// component on every run.
fn embedded_is_built() -> bool {
    let built = Path::new(capstan_test_artifacts::GUEST_DIR).join("capstan_helm.wasm");
    let embedded = Builtins::Embedded.get("helm").ok();
    std::fs::read(built).ok().as_deref() == embedded.as_deref()
}

/// `capstan render -f APP` with the components this tree built (as the
/// sandbox column: embedded when they are the same, else from
/// `--builtin-dir`) and a cache of its own; returns the time and the
/// number of objects printed.
fn end_to_end(cache: &Path, w: &Work, embedded: bool) -> Result<(Duration, usize), String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_capstan"));
    command.arg("--cache-dir").arg(cache);
    if !embedded {
        command.arg("--builtin-dir").arg(capstan_test_artifacts::GUEST_DIR);
    }
    let start = Instant::now();
    let out = command.arg("render").arg("-f").arg(&w.app).output().map_err(|e| e.to_string())?;
    let took = start.elapsed();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok((took, text.lines().filter(|l| l.starts_with("kind: ")).count()))
}

fn helm(bin: &Path, w: &Work) -> Duration {
    let start = Instant::now();
    let out =
        Command::new(bin).args(["template", "bench", "--include-crds"]).arg(w.root.join(&w.path)).output().unwrap();
    assert!(out.status.success(), "helm template {}: {}", w.name, String::from_utf8_lossy(&out.stderr));
    start.elapsed()
}

/// Copies a directory tree (the example chart into a repository of its own).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Rewrites the file `path` with `f`.
fn edit_file(path: &Path, f: &dyn Fn(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

/// Rewrites every file under `dir` with `f`.
fn edit_tree(dir: &Path, f: &dyn Fn(String) -> String) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            edit_tree(&entry.path(), f);
        } else {
            edit_file(&entry.path(), f);
        }
    }
}

/// An umbrella chart of `n` subcharts, each a small app (Deployment, Service,
/// ConfigMap) using helpers, globals and `toYaml`.
fn umbrella(dir: &Path, n: usize) -> PathBuf {
    let root = dir.join("umbrella");
    std::fs::create_dir_all(root.join("templates")).unwrap();
    let mut deps = String::from("apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n");
    let mut values = String::from("global:\n  registry: registry.example.com\n  env: prod\n");
    for i in 0..n {
        let name = format!("svc{i}");
        writeln!(deps, "  - name: {name}\n    version: 0.1.0\n    condition: {name}.enabled").unwrap();
        writeln!(values, "{name}:\n  enabled: true\n  replicas: {}", 1 + i % 3).unwrap();
        let c = root.join("charts").join(&name);
        std::fs::create_dir_all(c.join("templates")).unwrap();
        std::fs::write(
            c.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\nappVersion: \"1.{i}\"\n"),
        )
        .unwrap();
        std::fs::write(
            c.join("values.yaml"),
            "replicas: 1\nimage: app\nport: 8080\nresources:\n  requests: {cpu: 10m, memory: 32Mi}\nlabels:\n  tier: backend\n",
        )
        .unwrap();
        std::fs::write(
            c.join("templates/_helpers.tpl"),
            "{{- define \"app.fullname\" -}}{{ printf \"%s-%s\" .Release.Name .Chart.Name | trunc 63 | trimSuffix \"-\" }}{{- end }}\n{{- define \"app.labels\" -}}\napp.kubernetes.io/name: {{ .Chart.Name }}\napp.kubernetes.io/instance: {{ .Release.Name }}\napp.kubernetes.io/version: {{ .Chart.AppVersion | quote }}\n{{- range $k, $v := .Values.labels }}\n{{ $k }}: {{ $v | quote }}\n{{- end }}\n{{- end }}\n",
        )
        .unwrap();
        std::fs::write(
            c.join("templates/all.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"app.fullname\" . }}\n  labels:\n    {{- include \"app.labels\" . | nindent 4 }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: {{ .Chart.Name }}\n  template:\n    metadata:\n      labels:\n        {{- include \"app.labels\" . | nindent 8 }}\n    spec:\n      containers:\n        - name: main\n          image: \"{{ .Values.global.registry }}/{{ .Values.image }}:{{ .Chart.AppVersion }}\"\n          ports:\n            - containerPort: {{ .Values.port }}\n          resources:\n            {{- toYaml .Values.resources | nindent 12 }}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {{ include \"app.fullname\" . }}\nspec:\n  selector:\n    app.kubernetes.io/name: {{ .Chart.Name }}\n  ports:\n    - port: 80\n      targetPort: {{ .Values.port }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"app.fullname\" . }}-config\ndata:\n  ENV: {{ .Values.global.env | quote }}\n",
        )
        .unwrap();
    }
    std::fs::write(root.join("Chart.yaml"), deps).unwrap();
    std::fs::write(root.join("values.yaml"), values).unwrap();
    root
}

/// An umbrella chart of `n` copies of `helm create`'s chart, each renamed
/// (chart and helper names); with `tpl`, each passes its pod annotations
/// (which hold a template) through `tpl`.
fn helm_create_umbrella(dir: &Path, n: usize, tpl: bool) -> PathBuf {
    let starter = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/helm-create");
    let root = dir.join("umbrella");
    std::fs::create_dir_all(root.join("templates")).unwrap();
    let mut deps = String::from("apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n");
    for i in 0..n {
        let name = format!("svc{i}");
        writeln!(deps, "  - name: {name}\n    version: 0.1.0").unwrap();
        let c = root.join("charts").join(&name);
        copy_tree(&starter, &c);
        std::fs::remove_file(c.join("NOTICE")).unwrap();
        edit_tree(&c, &|t| {
            t.replace("name: base\n", &format!("name: {name}\n")).replace("\"base.", &format!("\"{name}."))
        });
        if tpl {
            edit_file(&c.join("values.yaml"), &|t| {
                t.replace(
                    "podAnnotations: {}",
                    "podAnnotations:\n  example.com/release: \"{{ .Release.Name }}-{{ .Chart.Version }}\"",
                )
            });
            edit_file(&c.join("templates/deployment.yaml"), &|t| {
                t.replacen("{{- toYaml . | nindent 8 }}", "{{- tpl (toYaml .) $ | nindent 8 }}", 1)
            });
        }
    }
    std::fs::write(root.join("Chart.yaml"), deps).unwrap();
    std::fs::write(root.join("values.yaml"), "").unwrap();
    root
}

/// A chart whose ConfigMap renders `n` values through `tpl`.
fn tpl_chart(dir: &Path, n: usize) -> PathBuf {
    let root = dir.join("tplchart");
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(root.join("Chart.yaml"), "apiVersion: v2\nname: tplchart\nversion: 1.0.0\n").unwrap();
    let mut values = String::from("prefix: app\nentries:\n");
    for i in 0..n {
        writeln!(values, "  key{i}: \"{{{{ .Values.prefix }}}}-{i}-{{{{ .Release.Name }}}}\"").unwrap();
    }
    std::fs::write(root.join("values.yaml"), values).unwrap();
    std::fs::write(
        root.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-tpl\ndata:\n{{- range $k, $v := .Values.entries }}\n  {{ $k }}: {{ tpl $v $ | quote }}\n{{- end }}\n",
    )
    .unwrap();
    root
}

/// Pairs of workloads of one series (same name before the comma) with the
/// ratio of their sizes (the number after it).
fn growth_pairs(work: &[Work]) -> Vec<(usize, usize, f64)> {
    let size = |w: &Work| -> Option<(String, f64)> {
        let (series, rest) = w.name.split_once(", ")?;
        let n: f64 = rest.split_whitespace().next()?.replace(',', "").parse().ok()?;
        Some((series.to_string(), n))
    };
    let mut out = Vec::new();
    for (i, a) in work.iter().enumerate() {
        for (j, b) in work.iter().enumerate().skip(i + 1) {
            if let (Some((sa, na)), Some((sb, nb))) = (size(a), size(b))
                && sa == sb
                && j == i + 1
            {
                out.push((i, j, nb / na));
            }
        }
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let iters: u32 = std::env::var("HELM_BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let host = PluginHost::new(HostConfig {
        builtins: Builtins::Dir(PathBuf::from(capstan_test_artifacts::GUEST_DIR)),
        ..HostConfig::default()
    })
    .expect("failed to create the plugin host");
    let plugin = host.load("builtin:helm", None, Path::new(".")).expect("failed to load builtin:helm");
    let helm_bin = helm_binary();
    let embedded = embedded_is_built();
    if embedded {
        println!("capstan render runs its embedded builtin:helm (the same bytes as this tree built)");
    } else {
        println!(
            "capstan render runs builtin:helm from --builtin-dir (plugins/dist differs from this tree's build: `cargo xtask plugins`)"
        );
    }
    if helm_bin.is_none() {
        println!("helm not found (PATH or ~/.cache/capstan/helm/helm): the helm column is n/a");
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = std::env::temp_dir().join("capstan-helm-bench");
    let _ = std::fs::remove_dir_all(&tmp);
    let cache = tmp.join("cache");
    let typical = tmp.join("typical");
    copy_tree(&repo.join("examples/webapp-helm/chart"), &typical.join("chart"));
    let mut work = vec![Work::new("typical chart (examples/webapp-helm)".into(), typical, "chart")];
    for n in [100, 300, 1000] {
        let root = umbrella(&tmp.join(format!("u{n}")), n);
        work.push(Work::new(format!("umbrella, {n} subcharts"), root.parent().unwrap().to_path_buf(), "umbrella"));
    }
    for (series, tpl) in [("umbrella of helm create", false), ("umbrella of helm create + tpl", true)] {
        for n in [100, 300, 1000] {
            let root = helm_create_umbrella(&tmp.join(format!("c{n}{tpl}")), n, tpl);
            work.push(Work::new(format!("{series}, {n} subcharts"), root.parent().unwrap().to_path_buf(), "umbrella"));
        }
    }
    for n in [100, 1000, 5000] {
        let root = tpl_chart(&tmp.join(format!("t{n}")), n);
        work.push(Work::new(format!("tpl, {n} values"), root.parent().unwrap().to_path_buf(), "tplchart"));
    }
    if let Ok(only) = std::env::var("HELM_BENCH_ONLY") {
        work.retain(|w| w.name.contains(&only));
    }
    println!(
        "| workload | objects | capstan render | builtin:helm call (WASM) | same library, native | helm template | render ÷ helm | WASM call ÷ helm |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut times: Vec<Option<[f64; 4]>> = Vec::new();
    for w in &work {
        match measure(&host, &plugin, &cache, helm_bin.as_deref(), iters, embedded, w) {
            Ok((n, t)) => {
                let ratio = |x: f64| if t[3].is_nan() { "n/a".into() } else { format!("{:.3}", x / t[3]) };
                let helm = if t[3].is_nan() { "n/a".into() } else { format!("{:.1} ms", t[3]) };
                println!(
                    "| {} | {n} | {:.1} ms | {:.1} ms | {:.1} ms | {helm} | {} | {} |",
                    w.name,
                    t[0],
                    t[1],
                    t[2],
                    ratio(t[0]),
                    ratio(t[1])
                );
                times.push(Some(t));
            }
            Err(e) => {
                println!("| {} | failed: {e} | | | | | | |", w.name);
                times.push(None);
            }
        }
    }
    // Growth: how much longer the larger workload of a series takes than
    // the smaller one, against how much larger it is (linear = the same).
    println!();
    println!("| growth | size × | render × | WASM call × | native × | helm × |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (a, b, size) in growth_pairs(&work) {
        if let (Some(x), Some(y)) = (&times[a], &times[b]) {
            let r = |i: usize| format!("{:.2}", y[i] / x[i]);
            println!("| {} → {} | {size:.1} | {} | {} | {} | {} |", work[a].name, work[b].name, r(0), r(1), r(2), r(3));
        }
    }
    println!(
        "Goals: typical chart ≤ 30 ms in the sandbox; umbrella: capstan render ≤ 0.25 × helm template, linear in subcharts; tpl linear in values."
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// One workload's median times in ms: end to end, component call, native,
/// helm (NaN without helm); and the number of objects. The columns run in
/// turn, one of each per round: this shared machine's speed drifts by up to
/// 2× within minutes, and a drift then moves every column of a round alike
/// rather than one column's whole series.
fn measure(
    host: &PluginHost,
    plugin: &Plugin,
    cache: &Path,
    helm_bin: Option<&Path>,
    iters: u32,
    embedded: bool,
    w: &Work,
) -> Result<(usize, [f64; 4]), String> {
    // These first runs are the warm-up (and fill `capstan render`'s cache).
    let (_, n) = sandboxed(host, plugin, w)?;
    let (_, printed) = end_to_end(cache, w, embedded)?;
    if printed != n {
        return Err(format!("capstan render printed {printed} objects, the component returned {n}"));
    }
    native(w);
    let mut rounds: [Vec<f64>; 4] = Default::default();
    for _ in 0..iters {
        let e2e = end_to_end(cache, w, embedded).map_err(|e| format!("failed on a repeat: {e}"))?.0;
        let wasm = sandboxed(host, plugin, w).map_err(|e| format!("failed on a repeat: {e}"))?.0;
        let round = [e2e, wasm, native(w), helm_bin.map_or(Duration::ZERO, |bin| helm(bin, w))];
        for (column, t) in rounds.iter_mut().zip(round) {
            column.push(ms(t));
        }
    }
    let [e2e, wasm, nat, h] = rounds.map(median);
    Ok((n, [e2e, wasm, nat, if helm_bin.is_some() { h } else { f64::NAN }]))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}
