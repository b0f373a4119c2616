//! How Applications in the cluster are shown: the `get apps` table, the
//! `status` page and the `history` table, as text for people, and `-o
//! json` for machines. Everything here is pure (no client), so the
//! escaping of cluster and Git text is tested on its own: commit subjects,
//! authors, messages and names are written by others and go through
//! [`escape_untrusted`] before they reach the terminal.

use std::fmt::Write as _;

use capstan_types::text::escape_untrusted;
use capstan_types::{ApplicationResource, ApplicationStatus};
use k8s_openapi::jiff::Timestamp;

use crate::output::table;

/// Longest message shown in a table cell (the status page shows it whole).
const MESSAGE_WIDTH: usize = 80;

/// `text` made safe for the terminal.
fn safe(text: &str) -> String {
    escape_untrusted(text).into_owned()
}

/// `text` made safe and cut to `width` characters.
fn cell(text: &str, width: usize) -> String {
    let text = safe(text);
    match text.char_indices().nth(width) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// The `capstan get apps` table, kubectl's columns for the CRD (NAMESPACE
/// first with `-A`).
pub fn apps_table(apps: &[ApplicationResource], all_namespaces: bool, now: Timestamp) -> String {
    let rows: Vec<[String; 7]> = apps
        .iter()
        .map(|app| {
            let status = app.status.clone().unwrap_or_default();
            let sync = status.sync.as_ref();
            let age = app.metadata.creation_timestamp.as_ref().map(|t| age(t.0, now)).unwrap_or_default();
            [
                safe(app.metadata.namespace.as_deref().unwrap_or_default()),
                safe(app.metadata.name.as_deref().unwrap_or_default()),
                safe(sync.map(|s| s.status.as_str()).unwrap_or_default()),
                safe(status.health.as_ref().map(|h| h.status.as_str()).unwrap_or_default()),
                safe(sync.and_then(|s| s.revision.as_ref()).map(|r| r.short.as_str()).unwrap_or_default()),
                cell(status.message.as_deref().unwrap_or_default(), MESSAGE_WIDTH),
                age,
            ]
        })
        .collect();
    if all_namespaces {
        return table(["NAMESPACE", "NAME", "SYNC", "HEALTH", "REVISION", "MESSAGE", "AGE"], &rows);
    }
    let rows: Vec<[String; 6]> = rows.into_iter().map(|[_, a, b, c, d, e, f]| [a, b, c, d, e, f]).collect();
    table(["NAME", "SYNC", "HEALTH", "REVISION", "MESSAGE", "AGE"], &rows)
}

/// kubectl's short ages: `45s`, `3m12s`, `25m`, `5h3m`, `20h`, `3d4h`, `30d`.
pub fn age(since: Timestamp, now: Timestamp) -> String {
    let seconds = now.as_second().saturating_sub(since.as_second()).max(0);
    let (m, h, d) = (seconds / 60, seconds / 3600, seconds / 86400);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{m}m{}s", s % 60),
        s if s < 3 * 3600 => format!("{m}m"),
        s if s < 8 * 3600 => format!("{h}h{}m", m % 60),
        s if s < 48 * 3600 => format!("{h}h"),
        s if s < 8 * 86400 => format!("{d}d{}h", h % 24),
        _ => format!("{d}d"),
    }
}

/// The `capstan status APP` page.
pub fn status_page(app: &ApplicationResource) -> String {
    let status = app.status.clone().unwrap_or_default();
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "{:<13}{}", format!("{name}:"), value);
    };
    let key = format!(
        "{}/{}",
        app.metadata.namespace.as_deref().unwrap_or_default(),
        app.metadata.name.as_deref().unwrap_or_default()
    );
    field("Application", safe(&key));
    field(
        "Source",
        safe(&format!("{} @ {} ({})", app.spec.source.repo_url, app.spec.source.revision, app.spec.source.path)),
    );
    field("Sync", sync_line(&status));
    if let Some(revision) = status.sync.as_ref().and_then(|s| s.revision.as_ref()) {
        field("Revision", safe(&format!("{} {}", revision.short, revision.subject)));
        field("Author", safe(&revision.author));
    }
    let health = status.health.clone().unwrap_or_default();
    let health_message = if health.message.is_empty() { String::new() } else { format!(" ({})", health.message) };
    field("Health", safe(&format!("{}{health_message}", health.status)));
    field("Automation", automation(app, &status));
    if let Some(operation) = &status.operation {
        let end = operation.finished_at.as_deref().map(|t| format!(" → {t}")).unwrap_or_default();
        let line = format!(
            "{} at {} ({}, {}{end}): {}",
            operation.phase,
            capstan_reconcile::short(&operation.revision),
            operation.initiated_by,
            operation.started_at,
            operation.message
        );
        field("Operation", safe(&line));
    }
    field("Message", safe(status.message.as_deref().unwrap_or_default()));
    if let Some(error) = last_error(&status) {
        field("Last error", safe(&error));
    }
    out.push('\n');
    out.push_str(&conditions(&status));
    if !status.resources.is_empty() {
        out.push('\n');
        let rows: Vec<[String; 6]> = status
            .resources
            .iter()
            .map(|r| {
                [&r.kind, &r.namespace, &r.name, &r.action, &r.health, &r.message].map(|text| cell(text, MESSAGE_WIDTH))
            })
            .collect();
        out.push_str(&table(["KIND", "NAMESPACE", "NAME", "ACTION", "HEALTH", "MESSAGE"], &rows));
    }
    if !status.policy.is_empty() {
        out.push('\n');
        let rows: Vec<[String; 5]> = status
            .policy
            .iter()
            .map(|f| [&f.enforcement, &f.origin, &f.object, &f.field, &f.message].map(|text| cell(text, MESSAGE_WIDTH)))
            .collect();
        out.push_str(&table(["POLICY", "ORIGIN", "OBJECT", "FIELD", "MESSAGE"], &rows));
    }
    let differences = status.sync.as_ref().map(|s| s.differences.as_slice()).unwrap_or_default();
    if !differences.is_empty() {
        out.push_str("\nDifferences from Git:\n");
        for difference in differences {
            let _ = writeln!(out, "  {}: {}", safe(&difference.object), safe(&difference.fields.join(", ")));
        }
    }
    out
}

fn sync_line(status: &ApplicationStatus) -> String {
    let Some(sync) = &status.sync else { return "Unknown (not reconciled yet)".to_owned() };
    safe(&sync.status)
}

fn automation(app: &ApplicationResource, status: &ApplicationStatus) -> String {
    if app.spec.suspend {
        return "suspended (spec.suspend; `capstan resume` lifts it)".to_owned();
    }
    if let Some(hold) = &status.automation_suspended {
        return safe(&format!("held since {}: {}", hold.since, hold.message));
    }
    match app.spec.sync.automated {
        Some(automated) => {
            let flags: Vec<&str> = [("prune", automated.prune), ("selfHeal", automated.self_heal)]
                .iter()
                .filter(|(_, on)| *on)
                .map(|(name, _)| *name)
                .collect();
            if flags.is_empty() { "automated".to_owned() } else { format!("automated ({})", flags.join(", ")) }
        }
        None => "manual (`capstan sync` applies)".to_owned(),
    }
}

/// The error of the last operation, or of a stalled condition.
fn last_error(status: &ApplicationStatus) -> Option<String> {
    if let Some(operation) = status.operation.as_ref().filter(|o| o.phase == "Failed") {
        return Some(operation.message.clone());
    }
    status.condition("Stalled").filter(|c| c.status == "True").map(|c| format!("{}: {}", c.reason, c.message))
}

fn conditions(status: &ApplicationStatus) -> String {
    let rows: Vec<[String; 4]> = status
        .conditions
        .iter()
        .map(|c| [safe(&c.type_), safe(&c.status), safe(&c.reason), cell(&c.message, MESSAGE_WIDTH)])
        .collect();
    table(["CONDITION", "STATUS", "REASON", "MESSAGE"], &rows)
}

/// The `capstan history APP` table, newest first.
pub fn history_table(status: &ApplicationStatus) -> String {
    let rows: Vec<[String; 5]> = status
        .history
        .iter()
        .map(|entry| {
            [
                entry.id.to_string(),
                safe(capstan_reconcile::short(&entry.revision)),
                safe(&entry.deployed_at),
                safe(&entry.initiated_by),
                cell(&entry.result, MESSAGE_WIDTH),
            ]
        })
        .collect();
    table(["ID", "REVISION", "DEPLOYED", "INITIATED-BY", "RESULT"], &rows)
}

/// JSON for the terminal: what serde_json leaves raw among the characters
/// [`escape_untrusted`] guards against (C1 controls, DEL, bidirectional
/// controls, line separators) written as `\uXXXX` escapes, which a JSON
/// reader reads back as the same string.
pub fn json(value: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(value).expect("a JSON value always serialises");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if escape_untrusted(c.encode_utf8(&mut [0; 4])).len() > c.len_utf8() && u32::from(c) >= 0x7f {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "fix\u{1b}]0;pwned\u{7}\u{1b}[2J\nSynced at deadbeef: forged line\u{202e}";

    fn app(status: &str) -> ApplicationResource {
        let text = format!(
            "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {{name: web, namespace: apps, creationTimestamp: '2026-01-01T00:00:00Z'}}\nspec: {{source: {{repoURL: 'https://git.example/r.git', path: deploy}}, sync: {{automated: {{prune: true}}}}}}\n{status}"
        );
        serde_yaml::from_str(&text).unwrap()
    }

    fn hostile_app() -> ApplicationResource {
        let mut app = app("");
        let mut status: ApplicationStatus = serde_json::from_value(serde_json::json!({
            "sync": {"status": "Synced", "revision": {"sha": "a".repeat(40), "short": "aaaaaaaaaaaa", "subject": HOSTILE, "author": HOSTILE}},
            "health": {"status": "Healthy"},
            "message": HOSTILE,
            "resources": [{"kind": "ConfigMap", "namespace": "apps", "name": "settings", "action": "Created", "health": "Healthy", "message": HOSTILE}],
            "operation": {"phase": "Failed", "revision": "a".repeat(40), "startedAt": "t", "message": HOSTILE, "initiatedBy": "capstan sync"},
            "history": [{"id": 1, "revision": "a".repeat(40), "deployedAt": "t", "result": HOSTILE, "initiatedBy": HOSTILE}],
            "conditions": [{"type": "Ready", "status": "False", "reason": "OutOfSync", "message": HOSTILE, "lastTransitionTime": "t"}],
        }))
        .unwrap();
        status.sync.as_mut().unwrap().differences =
            vec![capstan_types::Difference { object: HOSTILE.into(), fields: vec![HOSTILE.into()] }];
        app.status = Some(status);
        app
    }

    fn assert_inert(text: &str) {
        assert!(!text.chars().any(|c| c == '\u{1b}' || c == '\u{7}' || c == '\u{202e}'), "{text:?}");
        assert!(!text.lines().any(|l| l.starts_with("Synced at")), "a forged line: {text}");
    }

    #[test]
    fn hostile_commit_subjects_and_messages_reach_the_terminal_escaped() {
        let app = hostile_app();
        let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        let page = status_page(&app);
        assert_inert(&page);
        assert!(page.contains("fix\\u{1b}]0;pwned"), "{page}");
        assert_inert(&apps_table(std::slice::from_ref(&app), true, now));
        assert_inert(&history_table(app.status.as_ref().unwrap()));
        let json = json(&serde_json::to_value(&app).unwrap());
        assert_inert(&json);
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["status"]["message"], HOSTILE, "the JSON reads back as the same text");
    }

    #[test]
    fn the_table_has_kubectls_columns_and_ages() {
        let app = app(
            "status: {sync: {status: Synced, revision: {sha: x, short: 3f1c2a9e0b7d}}, health: {status: Healthy}, message: synced}\n",
        );
        let now: Timestamp = "2026-01-01T05:10:00Z".parse().unwrap();
        assert_eq!(
            apps_table(&[app], false, now),
            "NAME   SYNC     HEALTH    REVISION       MESSAGE   AGE\nweb    Synced   Healthy   3f1c2a9e0b7d   synced    5h10m\n"
        );
        let at = |s: &str| -> Timestamp { s.parse().unwrap() };
        let start = at("2026-01-01T00:00:00Z");
        let ages: Vec<String> = ["00:00:45", "00:03:12", "00:25:00", "20:00:00"]
            .iter()
            .map(|t| age(start, at(&format!("2026-01-01T{t}Z"))))
            .collect();
        assert_eq!(ages, ["45s", "3m12s", "25m", "20h"]);
        assert_eq!(age(start, at("2026-01-04T04:00:00Z")), "3d4h");
    }
}
