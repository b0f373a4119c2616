//! What a pass found, as the Application's `status`: kstatus conditions,
//! the synced revision, per-object rows, the operation and the history.
//!
//! The new status is computed from the old one ([`Pass::apply`]) and
//! written only when it differs, through the status subresource with
//! server-side apply under [`crate::FIELD_MANAGER`]: a pass that changed
//! nothing writes nothing. Times come from the clock only when something
//! happened (a condition flipped, a sync ran), never on a no-op pass.

use capstan_apply::Action;
use capstan_health::{Assessment, Health, aggregate};
use capstan_reconcile::{SyncReport, apply::health_of};
use capstan_types::text::escape_untrusted;
use capstan_types::{
    ApplicationResource, ApplicationStatus, Condition, Difference, HealthStatus, HistoryEntry, Operation,
    POLICY_FINDINGS_LIMIT, PluginDigest, PolicyFinding, ResourceStatus, Revision, SyncStatus,
};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::Context;
use crate::reconcile::{Error, key};

/// The current time, RFC 3339 in UTC with seconds (as Kubernetes writes it).
pub fn now() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    now.round(k8s_openapi::jiff::Unit::Second).unwrap_or(now).to_string()
}

/// How a pass synced: for real or only compared, and who asked.
#[derive(Debug, Clone)]
pub struct How {
    /// A real sync (else a compare).
    pub real: bool,
    /// Someone asked for this sync (`capstan sync`, `rollback`): it is a new
    /// operation even when nothing changed.
    pub asked: bool,
    /// `automated`, `drift`, `capstan sync`, `capstan rollback`.
    pub initiated_by: String,
}

/// How a pass changes the status.
pub struct Pass(Box<dyn FnOnce(&mut ApplicationStatus) + Send>);

impl Pass {
    /// The Application cannot be reconciled as written.
    pub fn stalled(generation: Option<i64>, reason: &str, message: &str) -> Self {
        let (reason, message) = (reason.to_owned(), message.to_owned());
        Pass(Box::new(move |status| {
            status.observed_generation = generation;
            set(status, "Stalled", true, &reason, &message, generation);
            set(status, "Reconciling", false, &reason, "", generation);
            set(status, "Ready", false, &reason, &message, generation);
            status.message = Some(message);
        }))
    }

    /// `spec.suspend`: nothing is changed in the cluster.
    pub fn suspended(generation: Option<i64>) -> Self {
        Pass(Box::new(move |status| {
            status.observed_generation = generation;
            set(status, "Reconciling", false, "Suspended", "", generation);
            set(status, "Stalled", false, "Suspended", "", generation);
            status.message = Some("suspended: spec.suspend is true; the cluster is not changed".to_owned());
        }))
    }

    /// A pass that failed at some stage.
    pub fn failed(
        generation: Option<i64>,
        error: &capstan_reconcile::Error,
        old: &ApplicationStatus,
        how: &How,
    ) -> Self {
        let message = chain(error);
        let reason = format!("{}Failed", capitalise(error.stage.as_str()));
        let transient = error.is_transient();
        let revision = error.at.clone().unwrap_or_default();
        let operation = operation(old, "Failed", &revision, &message, how);
        Pass(Box::new(move |status| {
            status.observed_generation = generation;
            // kstatus: a transient failure is still reconciling; a permanent one is stalled.
            set(status, "Reconciling", transient, &reason, if transient { &message } else { "" }, generation);
            set(status, "Stalled", !transient, &reason, if transient { "" } else { &message }, generation);
            set(status, "Ready", false, &reason, &message, generation);
            status.operation = Some(operation);
            status.message = Some(message);
        }))
    }

    /// A sync a newer commit superseded: stopped at a safe point, the
    /// newer commit is synced next (still reconciling, not a failure).
    pub fn superseded(
        generation: Option<i64>,
        error: &capstan_reconcile::Error,
        newer: Option<&str>,
        old: &ApplicationStatus,
        how: &How,
    ) -> Self {
        let revision = error.at.clone().unwrap_or_default();
        let by = newer.map_or_else(|| "a newer commit".to_owned(), |n| capstan_reconcile::short(n).to_owned());
        let message = format!("sync of {} superseded by {by}: {}", capstan_reconcile::short(&revision), chain(error));
        let operation = operation(old, "Terminated", &revision, &message, how);
        Pass(Box::new(move |status| {
            status.observed_generation = generation;
            set(status, "Reconciling", true, "Superseded", &message, generation);
            set(status, "Stalled", false, "Superseded", "", generation);
            status.operation = Some(operation);
            status.message = Some(message);
        }))
    }

    /// A pass that rendered and synced (`real`) or compared.
    pub fn done(
        generation: Option<i64>,
        report: &SyncReport,
        how: &How,
        drift: Vec<Difference>,
        old: &ApplicationStatus,
    ) -> Self {
        let real = how.real;
        let checkout = &report.render.checkout;
        let health = health_of(&report.assessor, &report.applied);
        let resources = rows(report, &health);
        let overall = aggregate(health.iter().flatten());
        let unhealthy = resources.iter().find(|r| !r.health.is_empty() && r.health != "Healthy");
        let health_message = unhealthy.map(|r| format!("{} {}: {}", r.kind, r.name, r.message)).unwrap_or_default();
        let changed: Vec<&ResourceStatus> = resources.iter().filter(|r| r.action != "Unchanged").collect();
        let in_sync = real || changed.is_empty();
        let revision = Revision {
            sha: checkout.commit.clone(),
            short: capstan_reconcile::short(&checkout.commit).to_owned(),
            subject: checkout.subject.clone(),
            author: checkout.author.clone(),
        };
        let synced_before = old.sync.as_ref().and_then(|s| s.revision.as_ref()).map(|r| r.sha.clone());
        let differences = drift;
        let message = if in_sync {
            format!("synced to {} ({})", revision.short, revision.subject)
        } else {
            let names: Vec<String> = changed.iter().take(3).map(|r| format!("{}/{}", r.kind, r.name)).collect();
            format!("out of sync with {}: {} object(s) differ: {}", revision.short, changed.len(), names.join(", "))
        };
        let ran =
            real && (how.asked || !changed.is_empty() || synced_before.as_deref() != Some(checkout.commit.as_str()));
        let history = ran.then(|| HistoryEntry {
            id: 0,
            revision: checkout.commit.clone(),
            plugins: report
                .render
                .rendered
                .plugins
                .iter()
                .map(|(plugin, digest)| PluginDigest { plugin: plugin.clone(), digest: digest.clone() })
                .collect(),
            deployed_at: now(),
            result: "Succeeded".to_owned(),
            initiated_by: how.initiated_by.clone(),
        });
        let policy = policy_findings(&report.render.rendered.verdicts);
        let operation_message = format!("{} object(s) changed", changed.len());
        let operation = ran.then(|| operation(old, "Succeeded", &checkout.commit, &operation_message, how));
        Pass(Box::new(move |status| {
            status.observed_generation = generation;
            let synced_revision = if in_sync { Some(revision) } else { status.sync.take().and_then(|s| s.revision) };
            status.sync = Some(SyncStatus {
                status: if in_sync { "Synced" } else { "OutOfSync" }.to_owned(),
                revision: synced_revision,
                differences: if in_sync { Vec::new() } else { differences },
            });
            let healthy = overall == Health::Healthy;
            status.health = Some(HealthStatus { status: overall.to_string(), message: health_message.clone() });
            set(status, "Synced", in_sync, if in_sync { "Synced" } else { "OutOfSync" }, "", generation);
            set(status, "Healthy", healthy, &overall.to_string(), &health_message, generation);
            set(status, "Reconciling", false, "Succeeded", "", generation);
            set(status, "Stalled", false, "Succeeded", "", generation);
            let ready_reason = if !in_sync {
                "OutOfSync"
            } else if healthy {
                "Succeeded"
            } else {
                "Unhealthy"
            };
            set(status, "Ready", in_sync && healthy, ready_reason, &message, generation);
            // `action` is what the last sync did: a compare pass that finds an
            // object unchanged keeps it (and so writes nothing).
            let mut resources = resources;
            for row in resources.iter_mut().filter(|r| r.action == "Unchanged") {
                let same = |old: &&ResourceStatus| {
                    old.kind == row.kind && old.namespace == row.namespace && old.name == row.name
                };
                if let Some(old) = status.resources.iter().find(same) {
                    row.action = old.action.clone();
                }
            }
            status.resources = resources;
            status.policy = policy;
            status.message = Some(message);
            if let Some(operation) = operation {
                status.operation = Some(operation);
            } else if status.operation.as_ref().is_some_and(|o| o.phase == "Failed") {
                status.operation = None;
            }
            if let Some(entry) = history {
                status.record(entry);
            }
        }))
    }

    /// A sync is running: the operation says so until the pass ends.
    pub fn running(revision: &str, how: &How) -> Self {
        let operation = Operation {
            phase: "Running".to_owned(),
            revision: revision.to_owned(),
            started_at: now(),
            finished_at: None,
            message: format!("syncing {}", capstan_reconcile::short(revision)),
            initiated_by: how.initiated_by.clone(),
        };
        Pass(Box::new(move |status| status.operation = Some(operation)))
    }

    /// Blocked on a dependency (`spec.dependsOn`): `blocked on NAMESPACE/NAME: reason`.
    pub fn blocked(generation: Option<i64>, message: &str) -> Self {
        let message = message.to_owned();
        Pass(Box::new(move |status| {
            status.observed_generation = generation;
            set(status, "Reconciling", true, "DependencyNotReady", &message, generation);
            set(status, "Stalled", false, "DependencyNotReady", "", generation);
            set(status, "Ready", false, "DependencyNotReady", &message, generation);
            status.message = Some(message);
        }))
    }

    /// This pass, then `more`.
    pub fn and(self, more: impl FnOnce(&mut ApplicationStatus) + Send + 'static) -> Self {
        let first = self.0;
        Pass(Box::new(move |status| {
            first(status);
            more(status);
        }))
    }

    /// The new status.
    pub fn apply(self, old: &ApplicationStatus) -> ApplicationStatus {
        let mut status = old.clone();
        (self.0)(&mut status);
        status
    }
}

/// Writes the status if `pass` changes it, and publishes the Events the
/// change amounts to.
pub async fn write(
    ctx: &Context,
    object: &ApplicationResource,
    old: &ApplicationStatus,
    pass: Pass,
) -> Result<(), Error> {
    write_over(ctx, object, old, old, pass).await
}

/// [`write`] of `pass` applied to `base`, when the result differs from
/// `current`, the status in the cluster (the pass may have written a
/// `Running` operation since it read `base`).
pub async fn write_over(
    ctx: &Context,
    object: &ApplicationResource,
    base: &ApplicationStatus,
    current: &ApplicationStatus,
    pass: Pass,
) -> Result<(), Error> {
    let status = inert(pass.apply(base));
    if &status == current && object.status.is_some() {
        return Ok(());
    }
    let notes = crate::events::transitions(current, &status);
    let api: Api<ApplicationResource> = Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": capstan_types::API_VERSION,
        "kind": "Application",
        "status": status,
    });
    api.patch_status(&object.name_any(), &PatchParams::apply(crate::FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(|source| Error::Status { key: key(object), source })?;
    ctx.events.publish(object, notes).await;
    Ok(())
}

/// The status with every string made one line of inert text
/// ([`escape_untrusted`]): commit subjects, authors and messages come from
/// Git and plugins, and a control character in them would reach whoever
/// runs `kubectl describe`, and makes the API server refuse the whole
/// apply (its YAML reader rejects control characters), so the Application
/// could never report again.
pub fn inert(status: ApplicationStatus) -> ApplicationStatus {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) => {
                if let std::borrow::Cow::Owned(escaped) = escape_untrusted(text) {
                    *text = escaped;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            serde_json::Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&status) else { return status };
    walk(&mut value);
    serde_json::from_value(value).unwrap_or(status)
}

fn set(status: &mut ApplicationStatus, type_: &str, value: bool, reason: &str, message: &str, generation: Option<i64>) {
    let unchanged = status.condition(type_).is_some_and(|c| {
        c.status == bool_status(value)
            && c.reason == reason
            && c.message == message
            && c.observed_generation == generation
    });
    if unchanged {
        return;
    }
    status.set_condition(Condition {
        type_: type_.to_owned(),
        status: bool_status(value).to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        last_transition_time: now(),
        observed_generation: generation,
    });
}

fn bool_status(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// The error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

/// The findings of policies that let the sync through (`warn`, `audit`,
/// and non-error findings of `deny` ones), in pipeline order (platform
/// policies first), at most [`POLICY_FINDINGS_LIMIT`].
pub fn policy_findings(verdicts: &[capstan_host::pipeline::Verdict]) -> Vec<PolicyFinding> {
    verdicts
        .iter()
        .filter(|v| !v.denies())
        .take(POLICY_FINDINGS_LIMIT)
        .map(|v| {
            let d = &v.diagnostic;
            PolicyFinding {
                origin: v.origin.to_string(),
                plugin: v.plugin.clone(),
                enforcement: format!("{:?}", v.enforcement).to_lowercase(),
                severity: format!("{:?}", d.severity).to_lowercase(),
                object: d.object.as_ref().map(ToString::to_string).unwrap_or_default(),
                field: d.field.clone().unwrap_or_default(),
                message: d.message.clone(),
            }
        })
        .collect()
}

/// An operation; the start time is kept when the same operation repeats
/// (a failure retried with the same message is not a new operation), unless
/// someone asked for this one.
fn operation(old: &ApplicationStatus, phase: &str, revision: &str, message: &str, how: &How) -> Operation {
    let same = old.operation.as_ref().filter(|o| {
        !how.asked
            && o.phase == phase
            && o.revision == revision
            && o.message == message
            && o.initiated_by == how.initiated_by
    });
    let now = now();
    Operation {
        phase: phase.to_owned(),
        revision: revision.to_owned(),
        started_at: same.map_or_else(|| now.clone(), |o| o.started_at.clone()),
        finished_at: Some(same.and_then(|o| o.finished_at.clone()).unwrap_or(now)),
        message: message.to_owned(),
        initiated_by: how.initiated_by.clone(),
    }
}

fn rows(report: &SyncReport, health: &[Option<Assessment>]) -> Vec<ResourceStatus> {
    report
        .applied
        .iter()
        .zip(health)
        .map(|(applied, health)| {
            let object = &applied.object;
            ResourceStatus {
                group: object.api_version.rsplit_once('/').map(|(group, _)| group.to_owned()).unwrap_or_default(),
                kind: object.kind.clone(),
                namespace: object.namespace.clone().unwrap_or_default(),
                name: object.name.clone(),
                action: action(applied.action).to_owned(),
                health: health.as_ref().map(|h| h.health.to_string()).unwrap_or_default(),
                message: health.as_ref().map(|h| h.message.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

fn action(action: Action) -> &'static str {
    match action {
        Action::Created => "Created",
        Action::Configured => "Configured",
        Action::Unchanged => "Unchanged",
        Action::Pruned => "Pruned",
        Action::PruneSkipped => "PruneSkipped",
    }
}

/// The fields where `desired` and `live` differ, as JSON pointers (at most `limit`).
pub fn differing_fields(desired: &serde_json::Value, live: Option<&serde_json::Value>, limit: usize) -> Vec<String> {
    fn walk(
        path: &str,
        desired: &serde_json::Value,
        live: Option<&serde_json::Value>,
        out: &mut Vec<String>,
        limit: usize,
    ) {
        if out.len() >= limit || Some(desired) == live {
            return;
        }
        match (desired, live) {
            (serde_json::Value::Object(d), Some(serde_json::Value::Object(l))) => {
                for (k, v) in d {
                    walk(&format!("{path}/{}", k.replace('~', "~0").replace('/', "~1")), v, l.get(k), out, limit);
                }
                for k in l.keys().filter(|k| !d.contains_key(*k)) {
                    if out.len() < limit {
                        out.push(format!("{path}/{}", k.replace('~', "~0").replace('/', "~1")));
                    }
                }
            }
            (serde_json::Value::Array(d), Some(serde_json::Value::Array(l))) if d.len() == l.len() => {
                for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                    walk(&format!("{path}/{i}"), dv, Some(lv), out, limit);
                }
            }
            _ => out.push(if path.is_empty() { "/".to_owned() } else { path.to_owned() }),
        }
    }
    let mut out = Vec::new();
    walk("", desired, live, &mut out, limit);
    out
}

/// A difference row for `object`.
pub fn difference(object: &capstan_types::ObjectRef, fields: Vec<String>) -> Difference {
    Difference { object: object.to_string(), fields }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differing_fields_are_json_pointers() {
        let desired =
            json!({"spec": {"replicas": 2, "template": {"image": "a"}}, "metadata": {"labels": {"a/b": "1"}}});
        let live = json!({"spec": {"replicas": 5, "template": {"image": "a"}}, "metadata": {"labels": {"a/b": "2"}}});
        assert_eq!(differing_fields(&desired, Some(&live), 10), ["/spec/replicas", "/metadata/labels/a~1b"]);
        assert_eq!(differing_fields(&desired, Some(&desired), 10), Vec::<String>::new());
        assert_eq!(differing_fields(&desired, None, 10), ["/"]);
    }

    #[test]
    fn git_text_is_written_inert() {
        let status = ApplicationStatus { message: Some("fix\u{1b}[2J\u{9b}\nforged".to_owned()), ..Default::default() };
        let inert = inert(status);
        assert_eq!(inert.message.as_deref(), Some("fix\\u{1b}[2J\\u{9b}\\nforged"));
        assert_eq!(super::inert(inert.clone()), inert, "escaping twice changes nothing");
    }

    #[test]
    fn an_unchanged_pass_leaves_the_status_equal() {
        let mut old = ApplicationStatus::default();
        set(&mut old, "Ready", true, "Succeeded", "ok", Some(1));
        let again = Pass(Box::new(|status| set(status, "Ready", true, "Succeeded", "ok", Some(1)))).apply(&old);
        assert_eq!(again, old);
    }
}
