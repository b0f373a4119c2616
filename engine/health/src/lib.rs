//! The health stage: is an applied object doing what it should?
//!
//! [`assess`] reads a live object's `status` (pure, no I/O): built-in rules
//! for Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Pod,
//! PersistentVolumeClaim, Service (LoadBalancer), Ingress, CRD and
//! APIService, and kstatus conventions for every other kind: an
//! `observedGeneration` behind `metadata.generation` is Progressing, a
//! `Ready` (or `Available`) condition decides, `Stalled=True` is Degraded,
//! no status at all is Healthy (nothing reports otherwise). [`aggregate`]
//! folds object health into the Application's; [`Assessor`] puts custom
//! checks (health plugins) in front of the built-in rules.

mod builtin;
mod custom;

pub use custom::{Assessor, Check};

use serde_json::Value;

/// Health of an object or an Application, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    /// Doing what it should.
    Healthy,
    /// The status cannot be read.
    Unknown,
    /// Not there yet: rolling out, starting, binding.
    Progressing,
    /// Expected but not in the cluster.
    Missing,
    /// Failed, or cannot make progress.
    Degraded,
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Healthy => "Healthy",
            Self::Unknown => "Unknown",
            Self::Progressing => "Progressing",
            Self::Missing => "Missing",
            Self::Degraded => "Degraded",
        })
    }
}

/// The health of one object, with the reason for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The verdict.
    pub health: Health,
    /// Why; empty when healthy for the obvious reason.
    pub message: String,
}

impl Assessment {
    /// A verdict with its reason.
    pub fn new(health: Health, message: impl Into<String>) -> Self {
        Self { health, message: message.into() }
    }

    pub(crate) fn healthy() -> Self {
        Self::new(Health::Healthy, "")
    }
}

/// Assesses a live object; `None` means it does not exist.
pub fn assess(live: Option<&Value>) -> Assessment {
    let Some(object) = live else { return Assessment::new(Health::Missing, "not found in the cluster") };
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        return Assessment::new(Health::Progressing, "being deleted");
    }
    let (group, kind) = group_kind(object);
    builtin::assess(group, kind, object).unwrap_or_else(|| kstatus(object))
}

/// API group (empty for the core group) and kind of an object.
fn group_kind(object: &Value) -> (&str, &str) {
    let group =
        object.get("apiVersion").and_then(Value::as_str).unwrap_or_default().rsplit_once('/').map_or("", |(g, _)| g);
    (group, object.get("kind").and_then(Value::as_str).unwrap_or_default())
}

/// The Application's health: the worst of its objects' (Healthy when empty).
pub fn aggregate<'a>(objects: impl IntoIterator<Item = &'a Assessment>) -> Health {
    objects.into_iter().map(|a| a.health).max().unwrap_or(Health::Healthy)
}

/// kstatus conventions, for kinds without a built-in rule.
pub(crate) fn kstatus(object: &Value) -> Assessment {
    if let Some(progress) = generation_pending(object) {
        return progress;
    }
    if condition(object, "Stalled") == Some("True") {
        return Assessment::new(Health::Degraded, condition_message(object, "Stalled"));
    }
    for ready in ["Ready", "Available"] {
        match condition(object, ready) {
            Some("True") => return Assessment::healthy(),
            Some("False") => return Assessment::new(Health::Progressing, condition_message(object, ready)),
            Some(_) => return Assessment::new(Health::Unknown, condition_message(object, ready)),
            None => {}
        }
    }
    Assessment::healthy()
}

/// Progressing while the controller has not seen the latest spec.
pub(crate) fn generation_pending(object: &Value) -> Option<Assessment> {
    let generation = object.pointer("/metadata/generation").and_then(Value::as_i64)?;
    let observed = object.pointer("/status/observedGeneration").and_then(Value::as_i64)?;
    (observed < generation).then(|| {
        Assessment::new(Health::Progressing, format!("waiting for the controller to observe generation {generation}"))
    })
}

/// The `status` of condition `type_`, if the object reports it.
pub(crate) fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a str> {
    find_condition(object, type_)?.get("status")?.as_str()
}

pub(crate) fn condition_message(object: &Value, type_: &str) -> String {
    let found = find_condition(object, type_);
    let text = |key| found.and_then(|c| c.get(key)).and_then(Value::as_str).unwrap_or_default();
    match (text("reason"), text("message")) {
        ("", "") => format!("condition {type_} is {}", text("status")),
        (reason, "") => format!("{type_}: {reason}"),
        (_, message) => message.to_owned(),
    }
}

fn find_condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kstatus_conventions() {
        let custom = |status: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "generation": 2}, "status": status});
        assert_eq!(assess(Some(&custom(json!(null)))).health, Health::Healthy);
        assert_eq!(assess(Some(&custom(json!({"observedGeneration": 1})))).health, Health::Progressing);
        let ready = |s: &str| {
            custom(
                json!({"observedGeneration": 2, "conditions": [{"type": "Ready", "status": s, "message": "warming up"}]}),
            )
        };
        assert_eq!(assess(Some(&ready("True"))).health, Health::Healthy);
        assert_eq!(assess(Some(&ready("False"))), Assessment::new(Health::Progressing, "warming up"));
        assert_eq!(assess(Some(&ready("Unknown"))).health, Health::Unknown);
        let stalled = custom(json!({"conditions": [{"type": "Stalled", "status": "True", "reason": "BadConfig"}]}));
        assert_eq!(assess(Some(&stalled)), Assessment::new(Health::Degraded, "Stalled: BadConfig"));
        assert_eq!(assess(None).health, Health::Missing);
    }

    #[test]
    fn aggregate_is_the_worst() {
        let a = |h| Assessment::new(h, "");
        assert_eq!(aggregate(&[a(Health::Healthy), a(Health::Progressing), a(Health::Unknown)]), Health::Progressing);
        assert_eq!(aggregate(&[a(Health::Missing), a(Health::Degraded)]), Health::Degraded);
        assert_eq!(aggregate(&[]), Health::Healthy);
    }
}
