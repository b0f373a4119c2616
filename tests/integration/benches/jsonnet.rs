//! Benchmark: builtin:jsonnet through the sandbox against the same library
//! natively (jrsonnet) and the `jsonnet` binary (Debian's C++ jsonnet),
//! measured in the same run.
//!
//! Workload: a generated kube-prometheus-sized program. A library in the
//! style of k8s-libsonnet (constructors and `with*` mixins merged with `+:`
//! several levels deep) builds, per application, a ServiceAccount, a
//! ConfigMap, a Deployment, a Service, a ServiceMonitor and a PrometheusRule
//! (rules folded with `std.foldl`, names formatted with `%`), and
//! main.jsonnet maps it over N applications (`--ext-code apps=N`): 50, 250
//! and 1,000 applications, i.e. 300, 1,500 and 6,000 objects. Each size is
//! checked to give the same objects all three ways before it is timed.
//! Goals (issue 24): the plugin within 1.5× of native; ≥ 10× faster than
//! the C++ binary.
//!
//! Run: `cargo bench --workspace --bench jsonnet`
//! (`JSONNET_BENCH_ITERS` repetitions, default 3; the C++ binary runs once
//! per size, and only up to 1,500 objects unless `JSONNET_BENCH_CXX_ALL=1`:
//! it takes minutes on the largest; `JSONNET_BENCH_NO_CXX=1` skips it, for
//! profiling the other two). "Native" is `capstan_jsonnet::render`:
//! evaluation, each object manifested as JSON text and parsed, the work
//! the component and the host share between them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use capstan_host::{Builtins, HostConfig, Limits, Plugin, PluginHost, RenderCall};
use serde_json::{Value, json};

const LIBRARY: &str = r#"
// k8s-libsonnet style: constructors, and mixins merged with +:.
{
  meta:: {
    new(name):: { metadata+: { name: name } },
    withNamespace(ns):: { metadata+: { namespace: ns } },
    withLabels(labels):: { metadata+: { labels+: labels } },
    withAnnotations(annotations):: { metadata+: { annotations+: annotations } },
  },
  core:: {
    v1:: {
      serviceAccount:: { new(name):: { apiVersion: 'v1', kind: 'ServiceAccount' } + $.meta.new(name) },
      configMap:: {
        new(name, data):: { apiVersion: 'v1', kind: 'ConfigMap' } + $.meta.new(name) + { data: data },
      },
      service:: {
        new(name, selector, ports):: { apiVersion: 'v1', kind: 'Service' } + $.meta.new(name) + {
          spec: { selector: selector, ports: [{ name: p.name, port: p.port, targetPort: p.name } for p in ports] },
        },
        withType(type):: { spec+: { type: type } },
      },
      container:: {
        new(name, image):: { name: name, image: image, imagePullPolicy: 'IfNotPresent' },
        withPorts(ports):: { ports+: [{ name: p.name, containerPort: p.port } for p in ports] },
        withEnvMap(env):: { env+: [{ name: k, value: std.toString(env[k]) } for k in std.objectFields(env)] },
        withResources(cpu, memory):: { resources+: { requests+: { cpu: cpu, memory: memory }, limits+: { memory: memory } } },
        withProbe(path, port):: {
          readinessProbe: { httpGet: { path: path, port: port }, periodSeconds: 10 },
          livenessProbe: self.readinessProbe { initialDelaySeconds: 5 },
        },
      },
    },
  },
  apps:: {
    v1:: {
      deployment:: {
        new(name, replicas, containers, labels)::
          { apiVersion: 'apps/v1', kind: 'Deployment' } + $.meta.new(name) + $.meta.withLabels(labels) + {
            spec: {
              replicas: replicas,
              selector: { matchLabels: labels },
              template: { metadata: { labels: labels }, spec: { containers: containers } },
            },
          },
        withServiceAccount(name):: { spec+: { template+: { spec+: { serviceAccountName: name } } } },
        withRollingUpdate(surge, unavailable):: {
          spec+: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: surge, maxUnavailable: unavailable } } },
        },
      },
    },
  },
  monitoring:: {
    v1:: {
      serviceMonitor:: {
        new(name, selector, port):: { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor' } + $.meta.new(name) + {
          spec: { selector: { matchLabels: selector }, endpoints: [{ port: port, interval: '30s' }] },
        },
      },
      prometheusRule:: {
        new(name, groups):: { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule' } + $.meta.new(name) + {
          spec: { groups: groups },
        },
      },
    },
  },
}
"#;

const APP: &str = r#"
local k = import 'k.libsonnet';
local c = k.core.v1.container;

// One application: six objects, built the way Tanka users write them.
function(name, i) {
  local app = self,
  local labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'bench', tier: ['web', 'api', 'worker'][i % 3] },
  local ports = [{ name: 'http', port: 8080 + (i % 10) }, { name: 'metrics', port: 9090 }],
  local env = { APP: name, INDEX: i, REPLICAS: 1 + i % 4, REGION: ['eu', 'us', 'ap'][i % 3] },
  local severities = ['info', 'warning', 'critical'],

  serviceAccount: k.core.v1.serviceAccount.new(name) + k.meta.withLabels(labels),
  config: k.core.v1.configMap.new(name + '-config', { ['key%03d' % j]: '%s-%d-%d' % [name, i, j] for j in std.range(0, 9) })
          + k.meta.withLabels(labels),
  deployment: k.apps.v1.deployment.new(name, 1 + i % 4, [
    c.new('main', 'registry.example.com/%s:1.%d.0' % [name, i % 7])
    + c.withPorts(ports) + c.withEnvMap(env) + c.withResources('%dm' % (50 + i % 200), '%dMi' % (64 + i % 256))
    + c.withProbe('/healthz', 'http'),
  ], labels) + k.apps.v1.deployment.withServiceAccount(name) + k.apps.v1.deployment.withRollingUpdate('25%', 0)
     + k.meta.withAnnotations({ 'checksum/config': std.md5(std.manifestJson(app.config)) }),
  service: k.core.v1.service.new(name, labels, ports) + k.meta.withLabels(labels),
  monitor: k.monitoring.v1.serviceMonitor.new(name, labels, 'metrics') + k.meta.withLabels(labels),
  rules: k.monitoring.v1.prometheusRule.new(name + '-rules', [{
    name: name + '.rules',
    rules: std.foldl(function(acc, s) acc + [{
      alert: '%sHigh%s' % [std.strReplace(name, '-', ''), std.asciiUpper(s[0]) + s[1:]],
      expr: 'rate(http_requests_total{job="%s",code=~"5.."}[5m]) > %g' % [name, 0.01 * (1 + std.length(acc))],
      labels: { severity: s },
      annotations: { summary: 'Errors in %s (%s)' % [name, s] },
    }], severities, []),
  }]) + k.meta.withLabels(labels),
}
"#;

const MAIN: &str = r#"
local app = import 'app.libsonnet';
local n = std.extVar('apps');
{ ['app-%04d' % i]: app('app-%04d' % i, i) for i in std.range(0, n - 1) }
"#;

/// Writes the program for `apps` applications; returns the snapshot root.
fn program(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("prog/lib")).unwrap();
    std::fs::write(dir.join("prog/lib/k.libsonnet"), LIBRARY).unwrap();
    std::fs::write(dir.join("prog/lib/app.libsonnet"), APP).unwrap();
    std::fs::write(dir.join("prog/main.jsonnet"), MAIN).unwrap();
    dir.to_path_buf()
}

fn params(apps: usize) -> Value {
    json!({"extVars": [{"name": "apps", "value": apps.to_string(), "code": true}]})
}

/// The whole render, the guest call within it, and the objects.
fn sandboxed(host: &PluginHost, plugin: &Plugin, root: &Path, apps: usize) -> (Duration, Duration, Vec<Value>) {
    let params = params(apps);
    let call =
        RenderCall { snapshot: root, path: "prog", app: "bench", namespace: None, revision: "0", params: &params };
    let limits = Limits { deadline: Duration::from_secs(120), ..Limits::default() };
    let start = Instant::now();
    let out = host.render(plugin, &call, &limits).unwrap_or_else(|e| panic!("builtin:jsonnet: {e:#}"));
    let elapsed = start.elapsed();
    let guest = capstan_host::last_call_stats().expect("a call was made").elapsed;
    (elapsed, guest, out.objects.into_iter().map(|o| o.into_value()).collect())
}

fn native(root: &Path, apps: usize) -> (Duration, Vec<Value>) {
    let opts: capstan_jsonnet::Options = serde_json::from_value(params(apps)).unwrap();
    let start = Instant::now();
    let objects = capstan_jsonnet::render(root, "prog", None, &opts).unwrap();
    (start.elapsed(), objects)
}

fn cxx(root: &Path, apps: usize) -> (Duration, Vec<Value>) {
    let start = Instant::now();
    let out = Command::new("jsonnet")
        .args(["-J", "lib", "--ext-code", &format!("apps={apps}"), "main.jsonnet"])
        .current_dir(root.join("prog"))
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    assert!(out.status.success(), "jsonnet: {}", String::from_utf8_lossy(&out.stderr));
    let objects =
        capstan_jsonnet::flatten::objects_of_snippet(std::str::from_utf8(&out.stdout).unwrap(), "main.jsonnet")
            .unwrap();
    (elapsed, objects)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mean(iters: u32, mut f: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| f()).sum::<Duration>() / iters
}

fn main() {
    let iters: u32 = std::env::var("JSONNET_BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let cxx_all = std::env::var_os("JSONNET_BENCH_CXX_ALL").is_some();
    let skip_cxx = std::env::var_os("JSONNET_BENCH_NO_CXX").is_some();
    let has_cxx = !skip_cxx && Command::new("jsonnet").arg("--version").output().is_ok_and(|o| o.status.success());
    if skip_cxx {
        println!("JSONNET_BENCH_NO_CXX is set: the C++ column is n/a");
    } else if !has_cxx {
        println!("jsonnet not found on PATH (apt-get install jsonnet): the C++ column is n/a");
    }
    let host = PluginHost::new(HostConfig {
        builtins: Builtins::Dir(PathBuf::from(capstan_test_artifacts::GUEST_DIR)),
        ..HostConfig::default()
    })
    .expect("failed to create the plugin host");
    let plugin = host.load("builtin:jsonnet", None, Path::new(".")).expect("failed to load builtin:jsonnet");
    let root = program(&std::env::temp_dir().join("capstan-jsonnet-bench"));
    let mut table = String::from(
        "| applications | objects | builtin:jsonnet (WASM) | of which the guest call | jrsonnet native | jsonnet (C++) | WASM ÷ native | guest call ÷ native | C++ ÷ WASM |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for apps in [50, 250, 1000] {
        let (_, _, wasm_objects) = sandboxed(&host, &plugin, &root, apps);
        let (_, native_objects) = native(&root, apps);
        assert_eq!(wasm_objects, native_objects, "the component and the library disagree at {apps} applications");
        // The guest call alone (instantiation included) is what the sandbox
        // costs the evaluator; the rest is the host parsing and checking the
        // objects' JSON, which the native column parses too.
        let calls: Vec<_> = (0..iters).map(|_| sandboxed(&host, &plugin, &root, apps)).collect();
        let wasm = calls.iter().map(|c| c.0).sum::<Duration>() / iters;
        let guest = calls.iter().map(|c| c.1).sum::<Duration>() / iters;
        let nat = mean(iters, || native(&root, apps).0);
        let (c, ratio) = if has_cxx && (cxx_all || apps <= 250) {
            let (c, objects) = cxx(&root, apps);
            assert_eq!(wasm_objects, objects, "builtin:jsonnet and jsonnet disagree at {apps} applications");
            (format!("{:.0} ms", ms(c)), format!("{:.1}", ms(c) / ms(wasm)))
        } else {
            ("skipped".into(), "n/a".into())
        };
        let line = format!(
            "| {apps} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {c} | {:.2} | {:.2} | {ratio} |",
            wasm_objects.len(),
            ms(wasm),
            ms(guest),
            ms(nat),
            ms(wasm) / ms(nat),
            ms(guest) / ms(nat)
        );
        println!("{line}");
        writeln!(table, "{line}").unwrap();
    }
    println!("\n{table}Goals: WASM ÷ native ≤ 1.5; C++ ÷ WASM ≥ 10.");
    let _ = std::fs::remove_dir_all(&root);
}
