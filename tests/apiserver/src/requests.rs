//! The requests a test sent, on either server: the test API server's own
//! log, or a real kube-apiserver's audit log (the file
//! `CAPSTAN_TEST_AUDIT_LOG` names), so request-count assertions hold on both.
//!
//! Both servers answer many tests at once, so a test counts only the
//! requests whose path contains its own scope (a namespace or object name
//! no other test uses). On a real cluster the controller manager's and
//! kubectl's requests are left out, and a log line is complete only once
//! the request has been answered: [`RequestLog::since`] sends a marker
//! request and reads the log up to the marker's line.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::Value;

use crate::RecordedRequest;
use crate::server::TestApiServer;

/// The environment variable naming a real cluster's audit log (JSON lines).
pub const AUDIT_LOG_ENV: &str = "CAPSTAN_TEST_AUDIT_LOG";

/// User agents of requests that are not the test's (the real cluster's
/// controllers and a human's kubectl).
const FOREIGN_AGENTS: [&str; 2] = ["kube-controller-manager", "kubectl"];

/// How long the audit log may lag behind the marker request.
const MARKER_WAIT: Duration = Duration::from_secs(15);

/// Where counting starts: an index into the server's log, or a byte offset
/// into the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Mark(u64);

/// The request log of the target a test runs against.
pub struct RequestLog<'a> {
    source: Source<'a>,
}

enum Source<'a> {
    Server(&'a TestApiServer),
    Audit { path: PathBuf, client: kube::Client },
}

impl<'a> RequestLog<'a> {
    pub(crate) fn server(server: &'a TestApiServer) -> Self {
        Self { source: Source::Server(server) }
    }

    pub(crate) fn audit(path: PathBuf, client: kube::Client) -> Self {
        Self { source: Source::Audit { path, client } }
    }

    /// Starts counting here: [`RequestLog::since`] returns what follows.
    pub fn mark(&self) -> Mark {
        match &self.source {
            Source::Server(server) => Mark(server.requests().len() as u64),
            Source::Audit { path, .. } => Mark(std::fs::metadata(path).map_or(0, |m| m.len())),
        }
    }

    /// The requests after `mark` whose path contains `scope`, in order.
    ///
    /// # Panics
    ///
    /// When the audit log cannot be read or never shows the marker request;
    /// this is a test helper.
    pub async fn since(&self, mark: Mark, scope: &str) -> Vec<RecordedRequest> {
        let all = match &self.source {
            Source::Server(server) => server.requests().into_iter().skip(mark.0 as usize).collect(),
            Source::Audit { path, client } => audit_since(path, client, mark.0).await,
        };
        all.into_iter().filter(|r| r.path.contains(scope)).collect()
    }

    /// `METHOD path` of each write (POST, PUT, PATCH, DELETE; not dry-run)
    /// after `mark` within `scope`.
    pub async fn writes_since(&self, mark: Mark, scope: &str) -> Vec<String> {
        self.since(mark, scope).await.iter().filter(|r| is_write(r) && !r.dry_run).map(describe).collect()
    }

    /// `METHOD path` of each dry-run write after `mark` within `scope`.
    pub async fn dry_runs_since(&self, mark: Mark, scope: &str) -> Vec<String> {
        self.since(mark, scope).await.iter().filter(|r| is_write(r) && r.dry_run).map(describe).collect()
    }
}

fn is_write(request: &RecordedRequest) -> bool {
    matches!(request.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
}

fn describe(request: &RecordedRequest) -> String {
    format!("{} {}", request.method, request.path)
}

/// The audit log's requests from byte `offset` up to a fresh marker request.
async fn audit_since(path: &std::path::Path, client: &kube::Client, offset: u64) -> Vec<RecordedRequest> {
    let marker = crate::unique_name("capstan-audit-marker");
    // A GET of a ConfigMap that does not exist: a 404 the log records.
    let _ = Api::<ConfigMap>::namespaced(client.clone(), "default").get_opt(&marker).await;
    let deadline = tokio::time::Instant::now() + MARKER_WAIT;
    loop {
        let text = std::fs::read(path).unwrap_or_else(|e| panic!("{AUDIT_LOG_ENV}={}: {e}", path.display()));
        // A rotated (shorter) log starts over.
        let start = if (text.len() as u64) < offset { 0 } else { offset as usize };
        let text = String::from_utf8_lossy(&text[start..]);
        let mut requests = Vec::new();
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
            let uri = event["requestURI"].as_str().unwrap_or_default();
            if uri.contains(&marker) {
                return requests;
            }
            let agent = event["userAgent"].as_str().unwrap_or_default();
            if FOREIGN_AGENTS.iter().any(|a| agent.starts_with(a)) {
                continue;
            }
            requests.push(recorded(&event, uri));
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the audit log {} never recorded the marker request {marker}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An audit event as a [`RecordedRequest`]: the method from the verb (an
/// apply is a `patch` there), no content type.
fn recorded(event: &Value, uri: &str) -> RecordedRequest {
    let verb = event["verb"].as_str().unwrap_or_default().to_owned();
    let method = match verb.as_str() {
        "create" => "POST",
        "update" => "PUT",
        "patch" => "PATCH",
        "delete" | "deletecollection" => "DELETE",
        _ => "GET",
    };
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let param = |name: &str| {
        query.split('&').find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('='))).map(str::to_owned)
    };
    RecordedRequest {
        method: method.to_owned(),
        verb,
        path: path.to_owned(),
        query: query.to_owned(),
        content_type: None,
        status: event.pointer("/responseStatus/code").and_then(Value::as_u64).unwrap_or(0) as u16,
        dry_run: param("dryRun").is_some_and(|v| v == "All"),
        field_manager: param("fieldManager"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn audit_events_map_to_recorded_requests() {
        let event = json!({"verb": "patch", "requestURI": "/api/v1/namespaces/a/configmaps/b?dryRun=All&fieldManager=capstan&force=true",
            "responseStatus": {"code": 200}, "userAgent": "capstan/0.1"});
        let request = recorded(&event, event["requestURI"].as_str().unwrap());
        assert_eq!((request.method.as_str(), request.path.as_str()), ("PATCH", "/api/v1/namespaces/a/configmaps/b"));
        assert!(request.dry_run);
        assert_eq!(request.field_manager.as_deref(), Some("capstan"));
        assert_eq!(request.status, 200);
    }
}
