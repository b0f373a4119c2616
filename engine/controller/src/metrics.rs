//! Prometheus metrics of the controller (`prometheus-client`, the official
//! Rust client): reconcile and stage durations, results by outcome and
//! failed stage, plugin calls (time and failures, per plugin and world),
//! Git fetches (time, objects, bytes) and API requests by verb. Served on
//! `/metrics` ([`crate::http`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use capstan_host::{CallObserver, CallRecord};
use capstan_source::Fetched;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::reconcile::Error;

/// Labels of a reconcile result.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    /// `ok`, `transient`, `permanent` or `stalled`.
    result: String,
    /// The failed stage, or empty.
    stage: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    /// `source`, `render` (plugins and policies), `apply` (waves, hooks, prune, health gates).
    stage: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    /// The plugin reference (`builtin:yaml`, a file, a URL).
    plugin: String,
    /// `renderer`, `transformer`, `validator` or `health`.
    world: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabel {
    /// `local`, `up_to_date` (ref advertisement only) or `pack`.
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The Kubernetes verb (`get`, `list`, `watch`, `create`, `patch`, …).
    verb: String,
    /// Whether it was a dry run.
    dry_run: String,
}

/// Buckets from 1 ms to about 33 s (stages, fetches).
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Buckets from 10 µs to about 0.3 s (plugin calls).
fn call_seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.00001, 2.0, 16))
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The controller's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    reconciles: Family<Outcome, Counter>,
    duration: Histogram,
    stages: Histograms<StageLabel>,
    plugin_calls: Histograms<PluginLabels>,
    plugin_failures: Family<PluginLabels, Counter>,
    fetches: Family<FetchLabel, Counter>,
    fetch_duration: Histogram,
    fetched_objects: Counter,
    fetched_bytes: Counter,
    requests: Family<RequestLabels, Counter>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("capstan");
        let reconciles = Family::<Outcome, Counter>::default();
        registry.register("reconciles", "Reconcile passes by result and failed stage", reconciles.clone());
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register("reconcile_duration_seconds", "Duration of a reconcile pass", duration.clone());
        let stages: Histograms<StageLabel> = Family::new_with_constructor(seconds);
        registry.register("stage_duration_seconds", "Duration of a reconcile stage", stages.clone());
        let plugin_calls: Histograms<PluginLabels> = Family::new_with_constructor(call_seconds);
        registry.register("plugin_call_duration_seconds", "Duration of one plugin call", plugin_calls.clone());
        let plugin_failures = Family::<PluginLabels, Counter>::default();
        registry.register(
            "plugin_call_failures",
            "Plugin calls that failed (trap, limit, guest error, sandbox violation)",
            plugin_failures.clone(),
        );
        let fetches = Family::<FetchLabel, Counter>::default();
        registry.register("git_fetches", "Git fetches by what they cost", fetches.clone());
        let fetch_duration = seconds();
        registry.register("git_fetch_duration_seconds", "Duration of a Git fetch and resolve", fetch_duration.clone());
        let fetched_objects = Counter::default();
        registry.register("git_fetched_objects", "Objects received in Git packs", fetched_objects.clone());
        let fetched_bytes = Counter::default();
        registry.register("git_fetched_bytes", "Bytes of Git packs received", fetched_bytes.clone());
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("api_requests", "Requests to the Kubernetes API by verb", requests.clone());
        Self {
            registry: Mutex::new(registry),
            reconciles,
            duration,
            stages,
            plugin_calls,
            plugin_failures,
            fetches,
            fetch_duration,
            fetched_objects,
            fetched_bytes,
            requests,
        }
    }

    /// Counts one pass.
    pub fn reconciled(&self, took: Duration, error: Option<&Error>) {
        self.duration.observe(took.as_secs_f64());
        let (result, stage) = match error {
            None => ("ok", String::new()),
            Some(Error::Reconcile(e)) if e.is_transient() => ("transient", e.stage.to_string()),
            Some(Error::Reconcile(e)) => ("permanent", e.stage.to_string()),
            Some(Error::Status { .. }) => ("transient", "status".to_owned()),
            Some(Error::Dependencies { .. }) => ("transient", "dependencies".to_owned()),
            Some(Error::Stalled { .. }) => ("stalled", "spec".to_owned()),
        };
        self.reconciles.get_or_create(&Outcome { result: result.to_owned(), stage }).inc();
    }

    /// Times one stage of a pass.
    pub fn stage(&self, stage: &str, took: Duration) {
        self.stages.get_or_create(&StageLabel { stage: stage.to_owned() }).observe(took.as_secs_f64());
    }

    /// Counts one Git fetch.
    pub fn fetched(&self, fetched: &Fetched, took: Duration) {
        let result = match fetched {
            Fetched::Local => "local",
            Fetched::UpToDate => "up_to_date",
            Fetched::Pack { objects, bytes } => {
                self.fetched_objects.inc_by(*objects);
                self.fetched_bytes.inc_by(*bytes);
                "pack"
            }
        };
        self.fetches.get_or_create(&FetchLabel { result: result.to_owned() }).inc();
        self.fetch_duration.observe(took.as_secs_f64());
    }

    /// What the plugin host tells of each call: its duration, and whether it failed.
    pub fn plugin_observer(self: &Arc<Self>) -> CallObserver {
        let metrics = Arc::downgrade(self);
        CallObserver(Arc::new(move |call: &CallRecord<'_>| {
            let Some(metrics) = metrics.upgrade() else { return };
            let labels = PluginLabels { plugin: call.plugin.to_owned(), world: call.world.to_string() };
            metrics.plugin_calls.get_or_create(&labels).observe(call.stats.elapsed.as_secs_f64());
            if !call.ok {
                metrics.plugin_failures.get_or_create(&labels).inc();
            }
        }))
    }

    /// Counts one API request (see [`crate::cli::counting_client`]).
    pub fn request(&self, verb: &str, dry_run: bool) {
        self.requests.get_or_create(&RequestLabels { verb: verb.to_owned(), dry_run: dry_run.to_string() }).inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The Kubernetes verb of a request, as the API server's audit log names
/// it: `watch` and `list` are GETs of a collection, told apart by the
/// `watch` parameter; a GET of one object is `get`.
pub fn verb(method: &http::Method, path: &str, query: Option<&str>) -> &'static str {
    let query = query.unwrap_or_default();
    let watch = query.split('&').any(|p| p == "watch=true" || p == "watch=1");
    match *method {
        http::Method::GET if watch => "watch",
        http::Method::GET if is_collection(path) => "list",
        http::Method::GET => "get",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE if is_collection(path) => "deletecollection",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

/// Whether `path` names a collection: `/api/v1/pods`, `/apis/G/V/namespaces/N/R`
/// (an even number of segments after the group version, counting
/// `namespaces/N` as a pair), not one object or a subresource.
fn is_collection(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return false,
    };
    let rest = match rest {
        ["namespaces", _name, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    rest.len() == 1
}

/// Whether a request is a dry run (`dryRun=All`).
pub fn is_dry_run(query: Option<&str>) -> bool {
    query.unwrap_or_default().split('&').any(|p| p.starts_with("dryRun="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_named_as_the_audit_log_names_them() {
        let get = http::Method::GET;
        assert_eq!(verb(&get, "/api/v1/namespaces/a/configmaps", None), "list");
        assert_eq!(verb(&get, "/api/v1/namespaces/a/configmaps", Some("watch=true&resourceVersion=1")), "watch");
        assert_eq!(verb(&get, "/api/v1/namespaces/a/configmaps/x", None), "get");
        assert_eq!(verb(&get, "/api/v1/namespaces", None), "list");
        assert_eq!(verb(&get, "/api/v1/namespaces/a", None), "get");
        assert_eq!(verb(&get, "/apis/apps/v1/deployments", None), "list");
        assert_eq!(verb(&get, "/apis/capstan.dev/v1alpha1/namespaces/a/applications/w/status", None), "get");
        assert_eq!(verb(&http::Method::PATCH, "/apis/apps/v1/namespaces/a/deployments/w", None), "patch");
        assert!(is_dry_run(Some("fieldManager=capstan&dryRun=All")));
        assert!(!is_dry_run(Some("fieldManager=capstan")));
    }

    #[test]
    fn plugin_calls_fetches_and_requests_are_exposed() {
        let metrics = Arc::new(Metrics::new());
        let observe = metrics.plugin_observer();
        let stats = capstan_host::CallStats { elapsed: Duration::from_millis(2), memory_bytes: 0 };
        (observe.0)(&CallRecord { plugin: "builtin:yaml", world: capstan_host::World::Renderer, stats, ok: false });
        metrics.fetched(&Fetched::Pack { objects: 4, bytes: 900 }, Duration::from_millis(5));
        metrics.request("patch", true);
        metrics.stage("render", Duration::from_millis(3));
        let text = metrics.encode();
        for line in [
            r#"capstan_plugin_call_failures_total{plugin="builtin:yaml",world="renderer"} 1"#,
            r#"capstan_plugin_call_duration_seconds_count{plugin="builtin:yaml",world="renderer"} 1"#,
            "capstan_git_fetched_objects_total 4",
            "capstan_git_fetched_bytes_total 900",
            r#"capstan_git_fetches_total{result="pack"} 1"#,
            r#"capstan_api_requests_total{verb="patch",dry_run="true"} 1"#,
            r#"capstan_stage_duration_seconds_count{stage="render"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
