//! API failures as a person reads them, kubectl-like: the server's message
//! once, then one line per cause with its field; a field the kind's schema
//! does not declare (a misspelt field) named as such.
//!
//! `kube::Error`'s own `Display` repeats the message and appends the whole
//! `Status` in debug form; [`ApiFailure`] wraps it so that error chains
//! print what the server said and callers can still match on the status.

use std::fmt;

/// How a real API server starts the 500 it answers to a server-side apply
/// whose object does not fit the kind's schema.
pub const TYPED_PATCH: &str = "failed to create typed patch object";

/// A failed API call.
#[derive(Debug)]
pub struct ApiFailure(pub kube::Error);

impl ApiFailure {
    /// The Kubernetes `Status` of the failure, if the server answered.
    pub fn status(&self) -> Option<&kube::core::Status> {
        match &self.0 {
            kube::Error::Api(status) => Some(status),
            _ => None,
        }
    }
}

impl From<kube::Error> for ApiFailure {
    fn from(error: kube::Error) -> Self {
        Self(error)
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(status) = self.status() else { return write!(f, "{}", self.0) };
        if let Some(fields) = undeclared_fields(&status.message) {
            let kind = status.message.split("Kind=").nth(1).and_then(|k| k.split(')').next()).unwrap_or("the kind");
            let lines: Vec<String> =
                fields.iter().map(|field| format!("unknown field \"{field}\": not in the schema of {kind}")).collect();
            return f.write_str(&lines.join("\n"));
        }
        let causes = status.details.as_ref().map(|d| d.causes.as_slice()).unwrap_or_default();
        let reason = if status.reason.is_empty() { String::new() } else { format!(" ({})", status.reason) };
        if causes.is_empty() {
            return write!(f, "{}{reason}", status.message);
        }
        // The message lists the causes again in brackets: print them once each.
        let message = status.message.as_str();
        let first_field = format!(": {}", causes[0].field);
        let cut = message.find(": [").or_else(|| message.find(&first_field).filter(|_| !causes[0].field.is_empty()));
        let head = cut.map_or(message, |i| &message[..i]);
        write!(f, "{head}{reason}")?;
        for cause in causes {
            match cause.field.as_str() {
                "" => write!(f, "\n  {}", cause.message)?,
                field => write!(f, "\n  {field}: {}", cause.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // A server answer is complete above; a transport error keeps its chain.
        match &self.0 {
            kube::Error::Api(_) => None,
            other => std::error::Error::source(other),
        }
    }
}

/// The fields (`spec.colour`) of a typed-patch 500: one or, after
/// `errors:`, one per line.
fn undeclared_fields(message: &str) -> Option<Vec<String>> {
    if !message.starts_with(TYPED_PATCH) {
        return None;
    }
    let fields: Vec<String> = message
        .split('\n')
        .flat_map(|line| line.rsplit("): ").next())
        .filter_map(|line| line.trim().strip_suffix(": field not declared in schema"))
        .map(|field| field.trim_start_matches('.').to_owned())
        .collect();
    (!fields.is_empty()).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::{StatusCause, StatusDetails};

    fn failure(code: u16, reason: &str, message: &str, causes: &[(&str, &str)]) -> ApiFailure {
        let mut status = kube::core::Status::failure(message, reason).with_code(code);
        if !causes.is_empty() {
            status.details = Some(StatusDetails {
                causes: causes
                    .iter()
                    .map(|(field, message)| StatusCause {
                        field: field.to_string(),
                        message: message.to_string(),
                        reason: "FieldValueInvalid".into(),
                    })
                    .collect(),
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                retry_after_seconds: 0,
            });
        }
        ApiFailure(kube::Error::Api(status.boxed()))
    }

    #[test]
    fn one_line_per_cause_and_misspelt_fields_named() {
        let typo = failure(
            500,
            "",
            "failed to create typed patch object (shop/web; apps/v1, Kind=Deployment): .spec.replica: field not declared in schema",
            &[],
        );
        assert_eq!(typo.to_string(), "unknown field \"spec.replica\": not in the schema of Deployment");
        let many = failure(
            500,
            "",
            "failed to create typed patch object (a/b; /v1, Kind=ConfigMap): errors:\n  .dtaa: field not declared in schema\n  .kindd: field not declared in schema",
            &[],
        );
        assert_eq!(
            many.to_string(),
            "unknown field \"dtaa\": not in the schema of ConfigMap\nunknown field \"kindd\": not in the schema of ConfigMap"
        );
        let invalid = failure(
            422,
            "Invalid",
            "Deployment.apps \"web\" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.template.spec.containers[0].image: Required value]",
            &[
                ("spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
                ("spec.template.spec.containers[0].image", "Required value"),
            ],
        );
        assert_eq!(
            invalid.to_string(),
            "Deployment.apps \"web\" is invalid (Invalid)\n  spec.replicas: Invalid value: -1: must be greater than or equal to 0\n  spec.template.spec.containers[0].image: Required value"
        );
        let missing = failure(404, "NotFound", "namespaces \"shop\" not found", &[]);
        assert_eq!(missing.to_string(), "namespaces \"shop\" not found (NotFound)");
    }
}
