//! Prometheus metrics of the controller (`prometheus-client`, the official
//! Rust client): reconcile durations as a histogram and results by outcome
//! and failed stage.

use std::sync::Mutex;
use std::time::Duration;

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

/// The controller's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    reconciles: Family<Outcome, Counter>,
    duration: Histogram,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("capstan");
        let reconciles = Family::<Outcome, Counter>::default();
        registry.register("reconciles", "Reconcile passes by result and failed stage", reconciles.clone());
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register("reconcile_duration_seconds", "Duration of a reconcile pass", duration.clone());
        Self { registry: Mutex::new(registry), reconciles, duration }
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

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
