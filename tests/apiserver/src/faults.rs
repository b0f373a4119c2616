//! Fault injection: make the next requests that match fail with a status,
//! be throttled with `Retry-After`, be delayed, or lose their connection.
//!
//! ```no_run
//! # async fn demo() -> Result<(), capstan_apiserver::Error> {
//! use capstan_apiserver::{Fault, TestApiServer};
//! let server = TestApiServer::start().await?;
//! // The 2nd PATCH to a configmaps URL answers 503, once.
//! server.faults().inject(Fault::unavailable().method("PATCH").path_contains("/configmaps").nth(2));
//! // The next server-side apply (any object) fails with 500.
//! server.faults().inject(Fault::internal_error().verb("apply"));
//! // Every request for the next 3 is throttled with Retry-After: 1.
//! server.faults().inject(Fault::too_many_requests(1).times(3));
//! # Ok(()) }
//! ```
//!
//! Note that `kube::Client` retries 429, 503 and 504 by default (up to 15
//! times with backoff); build a client with `default_retry = false` (see
//! [`crate::TestApiServer::kube_config`]) to see those errors directly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What an injected fault does to a request.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// Answer with this HTTP status and a matching `Status` body.
    Status(u16),
    /// Answer 429 TooManyRequests with a `Retry-After` header.
    TooManyRequests {
        /// Seconds in `Retry-After`.
        retry_after_secs: u32,
    },
    /// Delay the request, then serve it (or apply the next matching fault).
    Latency(Duration),
    /// Close the TCP connection without any response.
    DropConnection,
}

/// One fault rule: an action, which requests it matches, how many it hits.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    action: FaultAction,
    method: Option<String>,
    verb: Option<String>,
    path: Option<String>,
    skip: usize,
    times: usize,
}

impl Fault {
    /// A fault doing `action` to the next matching request.
    pub fn new(action: FaultAction) -> Fault {
        Fault { action, method: None, verb: None, path: None, skip: 0, times: 1 }
    }

    /// Answer with an HTTP status (409, 500, 503, ...).
    pub fn status(code: u16) -> Fault {
        Fault::new(FaultAction::Status(code))
    }

    /// Answer 409 Conflict.
    pub fn conflict() -> Fault {
        Fault::status(409)
    }

    /// Answer 500 InternalError.
    pub fn internal_error() -> Fault {
        Fault::status(500)
    }

    /// Answer 503 ServiceUnavailable.
    pub fn unavailable() -> Fault {
        Fault::status(503)
    }

    /// Answer 429 with `Retry-After: retry_after_secs`.
    pub fn too_many_requests(retry_after_secs: u32) -> Fault {
        Fault::new(FaultAction::TooManyRequests { retry_after_secs })
    }

    /// Delay matching requests.
    pub fn latency(delay: Duration) -> Fault {
        Fault::new(FaultAction::Latency(delay))
    }

    /// Close the connection without a response.
    pub fn drop_connection() -> Fault {
        Fault::new(FaultAction::DropConnection)
    }

    /// Only requests with this HTTP method (`GET`, `PATCH`, ...).
    pub fn method(mut self, method: &str) -> Fault {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests with this Kubernetes verb (`get`, `list`, `watch`,
    /// `create`, `update`, `patch`, `apply`, `delete`, `deletecollection`),
    /// as [`crate::RecordedRequest::verb`] names them.
    pub fn verb(mut self, verb: &str) -> Fault {
        self.verb = Some(verb.to_string());
        self
    }

    /// Only requests whose path contains `fragment`.
    pub fn path_contains(mut self, fragment: &str) -> Fault {
        self.path = Some(fragment.to_string());
        self
    }

    /// Hit this many matching requests (default 1).
    pub fn times(mut self, count: usize) -> Fault {
        self.times = count;
        self
    }

    /// Let `count` matching requests pass before hitting (requests failed by
    /// another rule count too).
    pub fn after(mut self, count: usize) -> Fault {
        self.skip = count;
        self
    }

    /// Hit only the `n`th matching request (1-based).
    pub fn nth(self, n: usize) -> Fault {
        self.after(n.saturating_sub(1)).times(1)
    }

    fn matches(&self, req: &Request<'_>) -> bool {
        self.method.as_deref().is_none_or(|m| m == req.method)
            && self.verb.as_deref().is_none_or(|v| v == req.verb)
            && self.path.as_deref().is_none_or(|p| req.path.contains(p))
    }
}

/// A cloneable handle on the server's fault rules.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<Fault>>>,
}

/// What fault rules match on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request<'a> {
    /// HTTP method.
    pub(crate) method: &'a str,
    /// Kubernetes verb.
    pub(crate) verb: &'a str,
    /// URL path.
    pub(crate) path: &'a str,
}

/// What the server should do with one request.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Verdict {
    /// Total injected delay.
    pub(crate) delay: Duration,
    /// The failure to serve instead of the request, if any.
    pub(crate) failure: Option<FaultAction>,
}

impl Faults {
    /// Adds a rule (rules are tried in the order they were added).
    pub fn inject(&self, fault: Fault) {
        self.lock().push(fault);
    }

    /// Removes all rules.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// How many rules still have hits left.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.rules.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Consumes the rules matching a request: all matching latencies add
    /// up, the first matching failure wins.
    pub(crate) fn check(&self, req: &Request<'_>) -> Verdict {
        let mut verdict = Verdict::default();
        let mut rules = self.lock();
        for rule in rules.iter_mut().filter(|r| r.matches(req)) {
            // Skips count every matching request, even one another rule fails.
            if rule.skip > 0 {
                rule.skip -= 1;
                continue;
            }
            let failing = !matches!(rule.action, FaultAction::Latency(_));
            if failing && verdict.failure.is_some() {
                continue;
            }
            rule.times -= 1;
            match &rule.action {
                FaultAction::Latency(d) => verdict.delay += *d,
                other => verdict.failure = Some(other.clone()),
            }
        }
        rules.retain(|r| r.times > 0);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, path: &'a str) -> Request<'a> {
        Request { method, verb: if method == "GET" { "get" } else { "create" }, path }
    }

    #[test]
    fn verbs_match_kubernetes_verbs() {
        let faults = Faults::default();
        faults.inject(Fault::unavailable().verb("apply"));
        let patch = Request { method: "PATCH", verb: "patch", path: "/a" };
        assert_eq!(faults.check(&patch).failure, None);
        let apply = Request { method: "PATCH", verb: "apply", path: "/a" };
        assert_eq!(faults.check(&apply).failure, Some(FaultAction::Status(503)));
    }

    #[test]
    fn nth_skips_then_hits_once() {
        let faults = Faults::default();
        faults.inject(Fault::unavailable().method("get").path_contains("/configmaps").nth(2));
        assert_eq!(faults.check(&req("GET", "/api/v1/namespaces/a/configmaps")).failure, None);
        assert_eq!(faults.check(&req("POST", "/api/v1/namespaces/a/configmaps")).failure, None);
        assert_eq!(faults.check(&req("GET", "/api/v1/namespaces/a/secrets")).failure, None);
        assert_eq!(
            faults.check(&req("GET", "/api/v1/namespaces/a/configmaps")).failure,
            Some(FaultAction::Status(503))
        );
        assert_eq!(faults.check(&req("GET", "/api/v1/namespaces/a/configmaps")).failure, None);
        assert_eq!(faults.pending(), 0);
    }

    #[test]
    fn latency_adds_up_and_failure_is_first_match() {
        let faults = Faults::default();
        faults.inject(Fault::latency(Duration::from_millis(5)).times(2));
        faults.inject(Fault::internal_error().times(2));
        faults.inject(Fault::drop_connection());
        let v = faults.check(&req("GET", "/x"));
        assert_eq!(v.delay, Duration::from_millis(5));
        assert_eq!(v.failure, Some(FaultAction::Status(500)));
        faults.clear();
        assert_eq!(faults.check(&req("GET", "/x")), Verdict::default());
    }
}
