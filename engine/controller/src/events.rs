//! Kubernetes Events on the Application (`kubectl describe`, `kubectl
//! events`): sync started, succeeded and failed, objects pruned, drift
//! detected. Published with kube-runtime's events [`Recorder`]
//! (`events.k8s.io/v1`).
//!
//! Events are derived from what the status write changes ([`transitions`]),
//! so a pass that changes nothing publishes nothing, and a failure retried
//! with the same error is one event, not one per retry. A failed publish is
//! logged and never fails the pass: Events are best effort in Kubernetes.

use capstan_types::{ApplicationResource, ApplicationStatus};
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

/// Longest note the Events API takes (1 kB).
const MAX_NOTE: usize = 1024;

/// One Event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Warning or not.
    pub warning: bool,
    /// `SyncStarted`, `Synced`, `SyncFailed`, `Pruned`, `DriftDetected`.
    pub reason: &'static str,
    /// What the controller did: `Sync` or `Compare`.
    pub action: &'static str,
    /// The sentence.
    pub note: String,
}

/// The controller's Events publisher.
#[derive(Clone)]
pub struct Events {
    client: kube::Client,
    reporter: Reporter,
}

impl Events {
    /// Publishes as `capstan-controller`, instance `$POD_NAME` when set.
    pub fn new(client: kube::Client) -> Self {
        let reporter =
            Reporter { controller: crate::FIELD_MANAGER.to_owned(), instance: std::env::var("POD_NAME").ok() };
        Self { client, reporter }
    }

    /// Publishes `notes` on `object`.
    pub async fn publish(&self, object: &ApplicationResource, notes: Vec<Note>) {
        let reference = object.object_ref(&());
        // A Recorder folds an event into the series of an earlier one with
        // the same reason, keeping the earlier note ("synced <old commit>"):
        // a fresh one per publish creates each event with its own note.
        // Repeats cannot pile up: notes come from status changes only.
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        for note in notes {
            let event = Event {
                type_: if note.warning { EventType::Warning } else { EventType::Normal },
                reason: note.reason.to_owned(),
                note: Some(truncate(note.note, MAX_NOTE)),
                action: note.action.to_owned(),
                secondary: None,
            };
            if let Err(error) = recorder.publish(&event, &reference).await {
                tracing::warn!(reason = note.reason, %error, "failed to publish an Event");
            }
        }
    }
}

/// A sync is starting.
pub fn sync_started(revision: &str, initiated_by: &str) -> Note {
    Note {
        warning: false,
        reason: "SyncStarted",
        action: "Sync",
        note: format!("syncing {} (asked by {initiated_by})", capstan_reconcile::short(revision)),
    }
}

/// The Events a status change amounts to.
pub fn transitions(old: &ApplicationStatus, new: &ApplicationStatus) -> Vec<Note> {
    let mut notes = Vec::new();
    let new_entry = new.history.first().filter(|entry| old.history.first().map(|e| e.id) != Some(entry.id));
    if let Some(entry) = new_entry {
        let subject = new.sync.as_ref().and_then(|s| s.revision.as_ref()).map(|r| r.subject.as_str()).unwrap_or("");
        let message = new.operation.as_ref().map(|o| o.message.as_str()).unwrap_or("");
        notes.push(Note {
            warning: false,
            reason: "Synced",
            action: "Sync",
            note: format!(
                "synced {} ({subject}) asked by {}: {message}",
                capstan_reconcile::short(&entry.revision),
                entry.initiated_by
            ),
        });
        let pruned: Vec<String> =
            new.resources.iter().filter(|r| r.action == "Pruned").map(|r| format!("{}/{}", r.kind, r.name)).collect();
        if !pruned.is_empty() {
            notes.push(Note {
                warning: false,
                reason: "Pruned",
                action: "Sync",
                note: format!("pruned {} object(s) that left Git: {}", pruned.len(), pruned.join(", ")),
            });
        }
    }
    let failed = new.operation.as_ref().filter(|o| o.phase == "Failed");
    if let Some(operation) = failed.filter(|o| old.operation.as_ref() != Some(*o)) {
        notes.push(Note { warning: true, reason: "SyncFailed", action: "Sync", note: operation.message.clone() });
    }
    let warnings: Vec<&capstan_types::PolicyFinding> =
        new.policy.iter().filter(|f| f.enforcement == "warn" && !old.policy.contains(f)).collect();
    if let Some(first) = warnings.first() {
        let object = if first.object.is_empty() { String::new() } else { format!("{} ", first.object) };
        notes.push(Note {
            warning: true,
            reason: "PolicyWarning",
            action: "Render",
            note: format!(
                "{} new policy warning(s); first: {}: {object}{}",
                warnings.len(),
                first.origin,
                first.message
            ),
        });
    }
    let terminated = new.operation.as_ref().filter(|o| o.phase == "Terminated");
    if let Some(operation) = terminated.filter(|o| old.operation.as_ref() != Some(*o)) {
        notes.push(Note { warning: false, reason: "SyncSuperseded", action: "Sync", note: operation.message.clone() });
    }
    let drift = |status: &ApplicationStatus| status.sync.as_ref().map(|s| s.differences.clone()).unwrap_or_default();
    let differences = drift(new);
    if !differences.is_empty() && differences != drift(old) {
        let fields: Vec<String> = differences.iter().map(|d| format!("{} {}", d.object, d.fields.join(","))).collect();
        notes.push(Note {
            warning: true,
            reason: "DriftDetected",
            action: "Compare",
            note: format!("the cluster differs from Git: {}", fields.join("; ")),
        });
    }
    notes
}

/// `text` cut at a character boundary to at most `max` bytes.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max - 3;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_types::{Difference, HistoryEntry, Operation, SyncStatus};

    #[test]
    fn events_follow_what_the_status_change_says() {
        let old = ApplicationStatus::default();
        assert_eq!(transitions(&old, &old), []);
        let mut synced = old.clone();
        synced.record(HistoryEntry {
            revision: "a".repeat(40),
            initiated_by: "automated".into(),
            ..Default::default()
        });
        let reasons = |notes: Vec<Note>| notes.iter().map(|n| n.reason).collect::<Vec<_>>();
        assert_eq!(reasons(transitions(&old, &synced)), ["Synced"]);
        assert_eq!(reasons(transitions(&synced, &synced)), Vec::<&str>::new());
        let mut failed = synced.clone();
        failed.operation = Some(Operation { phase: "Failed".into(), message: "boom".into(), ..Default::default() });
        assert_eq!(reasons(transitions(&synced, &failed)), ["SyncFailed"]);
        assert_eq!(reasons(transitions(&failed, &failed)), Vec::<&str>::new(), "a retry with the same error");
        let mut drifted = synced.clone();
        drifted.sync = Some(SyncStatus {
            status: "OutOfSync".into(),
            revision: None,
            differences: vec![Difference { object: "ConfigMap/a/b".into(), fields: vec!["/data/x".into()] }],
        });
        assert_eq!(reasons(transitions(&synced, &drifted)), ["DriftDetected"]);
        assert_eq!(truncate("é".repeat(600), 1024).len(), 1023);
    }
}
