//! What `capstan sync`, `rollback` and `resume` ask of the controller: an
//! [`OperationRequest`] in the Application's `capstan.dev/operation`
//! annotation.
//!
//! An annotation rather than a spec field, as Flux's
//! `reconcile.fluxcd.io/requestedAt`: asking does not change the desired
//! state, so `metadata.generation` and `observedGeneration` stay put. The
//! controller handles a request once: it records the request's
//! `requestedAt` in `status.lastHandledRequest`, and a request whose
//! `requestedAt` equals it is done. Anyone who may edit the Application may
//! write the annotation, so it is parsed strictly and bounded.

use serde::{Deserialize, Serialize};

/// The annotation holding the request, as JSON.
pub const OPERATION_ANNOTATION: &str = "capstan.dev/operation";

/// Longest annotation value the controller reads.
pub const MAX_REQUEST_BYTES: usize = 4096;

/// What is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RequestKind {
    /// Sync now, at the current commit of the Application's revision, even
    /// without `spec.sync.automated`.
    Sync,
    /// Sync `revision` (a commit of `status.history`) and hold automated sync
    /// back until a new commit or a `resume`.
    Rollback,
    /// Lift the hold of a rollback.
    Resume,
}

/// The value of [`OPERATION_ANNOTATION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperationRequest {
    /// What is asked.
    pub op: RequestKind,
    /// Rollback only: the full SHA of a commit in `status.history`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Delete objects that left Git (sync and rollback).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
    /// When it was asked (RFC 3339 with nanoseconds): the request's identity.
    pub requested_at: String,
    /// Who asked (`capstan sync`, `capstan rollback`, …), shown in the operation.
    pub initiated_by: String,
}

/// Errors of reading a request.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Longer than [`MAX_REQUEST_BYTES`].
    #[error("annotation {OPERATION_ANNOTATION} is {0} bytes, more than {MAX_REQUEST_BYTES}")]
    TooLong(usize),
    /// Not the JSON of a request.
    #[error("annotation {OPERATION_ANNOTATION} is not a request: {0}")]
    Parse(#[from] serde_json::Error),
    /// A field has a value the controller does not accept.
    #[error("annotation {OPERATION_ANNOTATION}: {0}")]
    Invalid(String),
}

impl OperationRequest {
    /// Parses and checks an annotation value.
    pub fn parse(text: &str) -> Result<Self, RequestError> {
        if text.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLong(text.len()));
        }
        let request: Self = serde_json::from_str(text)?;
        let printable = |s: &str| s.chars().all(|c| c.is_ascii_graphic() || c == ' ');
        if request.requested_at.is_empty() || request.requested_at.len() > 64 || !printable(&request.requested_at) {
            return Err(RequestError::Invalid("requestedAt must be a timestamp".into()));
        }
        if request.initiated_by.len() > 64 || !printable(&request.initiated_by) {
            return Err(RequestError::Invalid("initiatedBy must be at most 64 printable characters".into()));
        }
        match (&request.op, &request.revision) {
            (RequestKind::Rollback, Some(sha)) if sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) => {}
            (RequestKind::Rollback, _) => {
                return Err(RequestError::Invalid("a rollback needs revision: the full SHA of a commit".into()));
            }
            (_, Some(_)) => return Err(RequestError::Invalid("only a rollback takes a revision".into())),
            (_, None) => {}
        }
        Ok(request)
    }

    /// The annotation value.
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).expect("a request always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_and_bad_ones_are_refused() {
        let request = OperationRequest {
            op: RequestKind::Rollback,
            revision: Some("a".repeat(40)),
            prune: true,
            requested_at: "2026-01-01T00:00:00.123456789Z".into(),
            initiated_by: "capstan rollback".into(),
        };
        assert_eq!(OperationRequest::parse(&request.to_annotation()).unwrap(), request);
        let bad = [
            r#"{"op":"rollback","requestedAt":"t","initiatedBy":"x"}"#.to_owned(),
            r#"{"op":"sync","revision":"main","requestedAt":"t","initiatedBy":"x"}"#.to_owned(),
            r#"{"op":"sync","requestedAt":"t","initiatedBy":"x","extra":1}"#.to_owned(),
            r#"{"op":"sync","requestedAt":"t\u001b[2J","initiatedBy":"x"}"#.to_owned(),
            r#"{"op":"delete","requestedAt":"t","initiatedBy":"x"}"#.to_owned(),
            format!(r#"{{"op":"sync","requestedAt":"t","initiatedBy":"{}"}}"#, "x".repeat(MAX_REQUEST_BYTES)),
        ];
        for text in &bad {
            assert!(OperationRequest::parse(text).is_err(), "{text}");
        }
    }
}
