//! `status` of an Application in the cluster, as the controller writes it
//! and `kubectl get`, `capstan status` and other tools read it.
//!
//! The conditions follow kstatus (`Ready`, `Reconciling`, `Stalled`, each
//! with `observedGeneration`) so generic tooling (Flux's `kstatus`, `kubectl
//! wait --for=condition=Ready`) understands an Application, plus Capstan's
//! own `Synced` and `Healthy`. The rest is what Argo CD users expect to see:
//! the synced revision with its commit, one row per object, the current or
//! last operation, and the last syncs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Syncs kept in [`ApplicationStatus::history`] (Argo CD keeps 10 by default).
pub const HISTORY_LIMIT: usize = 10;

/// Findings kept in [`ApplicationStatus::policy`]; the rest are counted in
/// the Application's message, so a policy that flags every object cannot
/// swell the status towards the API server's object size limit.
pub const POLICY_FINDINGS_LIMIT: usize = 50;

/// `status` of an Application.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling`, `Stalled`, `Synced`, `Healthy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Whether the cluster matches Git, and at which commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncStatus>,
    /// Aggregate health of the managed objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    /// One line for people: the state or the last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One row per managed object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    /// What `warn` and `audit` policies found at the commit last
    /// rendered (a `deny` finding stops the sync and is in the operation's
    /// message instead), at most [`POLICY_FINDINGS_LIMIT`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<PolicyFinding>,
    /// The running or last operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// The last syncs, newest first, at most [`HISTORY_LIMIT`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    /// Set while automated sync is held back after a rollback: a new commit
    /// or `capstan resume` lifts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automation_suspended: Option<AutomationSuspended>,
    /// `requestedAt` of the last `capstan.dev/operation` request handled
    /// (see [`crate::OperationRequest`]); a request with another value is new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_request: Option<String>,
}

/// `status.automationSuspended`: a rollback holds automated sync (and
/// self-heal) back, as Argo CD does, so Git does not undo it at once.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutomationSuspended {
    /// For people: what happened and what lifts it.
    pub message: String,
    /// The commit rolled back to.
    pub revision: String,
    /// The commit Git's revision pointed at during the rollback; once it
    /// points elsewhere (a new commit), automation resumes.
    pub source_revision: String,
    /// When (RFC 3339).
    pub since: String,
}

/// A kstatus condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Reconciling`, `Stalled`, `Synced` or `Healthy`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason, for machines.
    pub reason: String,
    /// Sentence, for people.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (RFC 3339).
    pub last_transition_time: String,
    /// The generation the condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// `status.sync`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub status: String,
    /// The commit last synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
    /// Fields of managed objects that differ from Git (drift).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
}

/// A commit, as people recognise it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// The full SHA.
    pub sha: String,
    /// Its first 12 hex digits (the printer column).
    pub short: String,
    /// First line of the commit message.
    #[serde(default)]
    pub subject: String,
    /// `Name <email>` of the author.
    #[serde(default)]
    pub author: String,
}

/// One finding of a policy that let the sync through (`warn` or `audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyFinding {
    /// Where the policy comes from: `platform policy NAME (FILE)` or `spec.policy[N]`.
    pub origin: String,
    /// The policy plugin (`builtin:cel`, a digest-pinned file, …).
    pub plugin: String,
    /// `warn` or `audit`.
    pub enforcement: String,
    /// `error`, `warning` or `info`, as the policy said.
    pub severity: String,
    /// `Kind/namespace/name` of the object, when the finding names one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub object: String,
    /// The field path, when the finding names one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
    /// What the policy said.
    pub message: String,
}

/// A managed object that differs from Git.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    /// `kind/namespace/name`.
    pub object: String,
    /// JSON pointers of the differing fields (`/spec/replicas`).
    pub fields: Vec<String>,
}

/// `status.health`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatus {
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    pub status: String,
    /// Why, when not healthy.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// One managed object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// API group, empty for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace, empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name.
    pub name: String,
    /// What the last sync did (`Created`, `Configured`, `Unchanged`, `Pruned`, …).
    pub action: String,
    /// Health of the object.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub health: String,
    /// Health or error detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A sync: the running one, or the last.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// `Running`, `Succeeded`, `Failed` or `Superseded`.
    pub phase: String,
    /// The commit being synced.
    #[serde(default)]
    pub revision: String,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339), when finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Outcome or error.
    #[serde(default)]
    pub message: String,
    /// Who asked: `automated`, `webhook`, `drift`, `capstan sync`, `capstan rollback`.
    #[serde(default)]
    pub initiated_by: String,
}

/// A finished sync.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Increasing number of the sync (what `capstan rollback` may also take).
    pub id: i64,
    /// The commit synced.
    pub revision: String,
    /// The plugins that rendered it, with their digests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginDigest>,
    /// When it finished (RFC 3339).
    pub deployed_at: String,
    /// `Succeeded` or `Failed: <message>`.
    pub result: String,
    /// Who asked for it.
    #[serde(default)]
    pub initiated_by: String,
}

/// A plugin and the digest of the component that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginDigest {
    /// `builtin:NAME`, a path or a URL.
    pub plugin: String,
    /// `sha256:HEX` of the component.
    #[serde(default)]
    pub digest: String,
}

impl ApplicationStatus {
    /// The condition of `type_`, if set.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether condition `type_` is `True` for `generation`.
    pub fn is_true(&self, type_: &str, generation: Option<i64>) -> bool {
        self.condition(type_).is_some_and(|c| c.status == "True" && c.observed_generation == generation)
    }

    /// Sets a condition, keeping its transition time when its status is unchanged.
    pub fn set_condition(&mut self, mut condition: Condition) {
        match self.conditions.iter_mut().find(|c| c.type_ == condition.type_) {
            Some(existing) => {
                if existing.status == condition.status {
                    condition.last_transition_time = existing.last_transition_time.clone();
                }
                *existing = condition;
            }
            None => self.conditions.push(condition),
        }
    }

    /// Records a finished sync, newest first, keeping [`HISTORY_LIMIT`].
    pub fn record(&mut self, mut entry: HistoryEntry) {
        entry.id = self.history.first().map_or(1, |last| last.id + 1);
        self.history.insert(0, entry);
        self.history.truncate(HISTORY_LIMIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(type_: &str, status: &str, time: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: "R".into(),
            message: String::new(),
            last_transition_time: time.into(),
            observed_generation: Some(1),
        }
    }

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let mut status = ApplicationStatus::default();
        status.set_condition(condition("Ready", "True", "t1"));
        status.set_condition(condition("Ready", "True", "t2"));
        assert_eq!(status.condition("Ready").unwrap().last_transition_time, "t1");
        status.set_condition(condition("Ready", "False", "t3"));
        assert_eq!(status.condition("Ready").unwrap().last_transition_time, "t3");
        assert!(!status.is_true("Ready", Some(1)));
    }

    #[test]
    fn history_keeps_the_newest_with_increasing_ids() {
        let mut status = ApplicationStatus::default();
        for n in 0..HISTORY_LIMIT + 3 {
            status.record(HistoryEntry { revision: format!("r{n}"), ..HistoryEntry::default() });
        }
        assert_eq!(status.history.len(), HISTORY_LIMIT);
        assert_eq!(status.history[0].revision, format!("r{}", HISTORY_LIMIT + 2));
        assert_eq!(status.history[0].id, i64::try_from(HISTORY_LIMIT).unwrap() + 3);
    }
}
