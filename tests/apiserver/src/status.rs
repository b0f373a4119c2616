//! Failures served to clients as Kubernetes `Status` objects, with the
//! codes, reasons and message shapes of a real API server, so that
//! `kube::Error::Api` parses them and callers can match on `reason`/`code`.

use serde_json::{Value, json};

/// A failed request, rendered as a `Status` body.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError {
    /// HTTP status code.
    pub(crate) code: u16,
    /// The `reason` (NotFound, AlreadyExists, Conflict, Invalid, ...).
    pub(crate) reason: &'static str,
    /// Human-readable message.
    pub(crate) message: String,
    /// `details`, when the server gives them.
    pub(crate) details: Option<Box<Value>>,
    /// Seconds for a `Retry-After` header.
    pub(crate) retry_after: Option<u32>,
}

/// Result of a request handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// The qualified resource name used in messages: `configmaps`,
/// `deployments.apps`.
pub(crate) fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() { plural.to_string() } else { format!("{plural}.{group}") }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, reason, message: message.into(), details: None, retry_after: None }
    }

    fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(Box::new(details));
        self
    }

    /// 404: `configmaps "x" not found`.
    pub(crate) fn not_found(group: &str, plural: &str, name: &str) -> ApiError {
        ApiError::new(404, "NotFound", format!("{} \"{name}\" not found", qualified(group, plural)))
            .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// 404 for a path the server does not serve.
    pub(crate) fn no_route() -> ApiError {
        ApiError::new(404, "NotFound", "the server could not find the requested resource").with_details(json!({}))
    }

    /// 409 AlreadyExists.
    pub(crate) fn already_exists(group: &str, plural: &str, name: &str) -> ApiError {
        ApiError::new(409, "AlreadyExists", format!("{} \"{name}\" already exists", qualified(group, plural)))
            .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// 409 Conflict on a stale resourceVersion.
    pub(crate) fn stale(group: &str, plural: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                qualified(group, plural)
            ),
        )
        .with_details(json!({"name": name, "group": group, "kind": plural}))
    }

    /// 409 Conflict with a free-form message and details.
    pub(crate) fn conflict(message: impl Into<String>, details: Value) -> ApiError {
        ApiError::new(409, "Conflict", message).with_details(details)
    }

    /// 422 Invalid: `Kind.group "name" is invalid: field: message`.
    pub(crate) fn invalid(group: &str, kind: &str, name: &str, causes: Vec<(String, String, &str)>) -> ApiError {
        let text: Vec<String> = causes.iter().map(|(field, msg, _)| format!("{field}: {msg}")).collect();
        let shown = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
        let message = if text.len() == 1 {
            format!("{shown} \"{name}\" is invalid: {}", text[0])
        } else {
            format!("{shown} \"{name}\" is invalid: [{}]", text.join(", "))
        };
        let causes: Vec<Value> = causes
            .into_iter()
            .map(|(field, message, reason)| json!({"reason": reason, "message": message, "field": field}))
            .collect();
        ApiError::new(422, "Invalid", message)
            .with_details(json!({"name": name, "group": group, "kind": kind, "causes": causes}))
    }

    /// 422 for a patch that cannot be applied (failed `test`, bad path).
    pub(crate) fn invalid_patch(message: impl Into<String>) -> ApiError {
        ApiError::new(422, "Invalid", message)
    }

    /// 400 BadRequest.
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// 403 Forbidden.
    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "Forbidden", message)
    }

    /// 500 without a reason, as the real server answers an apply its
    /// typed conversion refuses.
    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "", message)
    }

    /// 405 MethodNotAllowed.
    pub(crate) fn method_not_allowed() -> ApiError {
        ApiError::new(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    }

    /// 405 MethodNotAllowed with a reason.
    pub(crate) fn method_not_allowed_because(message: impl Into<String>) -> ApiError {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    /// 410 Expired: a watch from a compacted resourceVersion.
    pub(crate) fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    /// 415 UnsupportedMediaType for an unknown patch type.
    pub(crate) fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got {content_type:?}"
            ),
        )
    }

    /// An injected failure with any status code.
    pub(crate) fn injected(code: u16, retry_after: Option<u32>) -> ApiError {
        let reason = match code {
            409 => "Conflict",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            404 => "NotFound",
            _ => "Unknown",
        };
        let mut e = ApiError::new(code, reason, format!("injected fault: {reason}"));
        e.retry_after = retry_after;
        if let Some(secs) = retry_after {
            e.details = Some(Box::new(json!({"retryAfterSeconds": secs})));
        }
        e
    }

    /// The `Status` object.
    pub(crate) fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        });
        if !self.reason.is_empty() {
            status["reason"] = json!(self.reason);
        }
        if let Some(d) = &self.details {
            status["details"] = (**d).clone();
        }
        status["code"] = json!(self.code);
        status
    }
}
