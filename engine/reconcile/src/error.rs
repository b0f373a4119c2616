//! The reconcile's one error: which stage failed, and whether trying again
//! without a change can help ([`Retry`]). The controller's backoff reads
//! [`Error::retry`]; people read the message and its causes.

use std::fmt;

/// A boxed cause (the stages' own typed errors, with their context).
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The stage of a reconcile that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The Application itself is invalid (fields the types cannot check).
    Spec,
    /// Reading credentials, fetching, resolving or verifying the commit.
    Source,
    /// Loading or running render plugins (policies run in the same pipeline).
    Render,
    /// A policy with `enforcement: deny` refused the objects.
    Policy,
    /// Ordering the objects into waves, hooks and prunes.
    Plan,
    /// Server-side apply, prune and hooks against the cluster.
    Apply,
    /// Loading health plugins or waiting for health.
    Health,
}

impl Stage {
    /// The stage's name as status conditions and metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Spec => "spec",
            Stage::Source => "source",
            Stage::Render => "render",
            Stage::Policy => "policy",
            Stage::Plan => "plan",
            Stage::Apply => "apply",
            Stage::Health => "health",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a retry of the same inputs can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Network trouble, API 409/429/5xx, a Git server down: back off and retry.
    Transient,
    /// Render error, policy denial, invalid spec, bad credentials or
    /// signature: the same commit and spec fail the same way, so wait for
    /// Git or the Application to change.
    Permanent,
}

/// A failed reconcile step. `{}` prints one line; `{:#}` adds the causes,
/// `: `-separated, as `anyhow` does.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    /// The Application's name.
    pub app: String,
    /// The stage that failed.
    pub stage: Stage,
    /// The commit being reconciled, once known.
    pub at: Option<String>,
    /// Whether retrying can help.
    pub retry: Retry,
    /// Why.
    #[source]
    pub source: Cause,
}

/// `Result` of the reconcile crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `stage`, classified from its causes: a retryable API
    /// error or a failed Git transfer anywhere in the chain makes it
    /// transient; anything else in a stage that only reads inputs
    /// (spec, render, policy, plan) is permanent.
    pub fn new(app: &str, stage: Stage, source: impl Into<Cause>) -> Self {
        let source = source.into();
        let retry = classify(stage, source.as_ref());
        Self { app: app.to_owned(), stage, at: None, retry, source }
    }

    /// The same error, at `commit`.
    pub fn at(mut self, commit: &str) -> Self {
        self.at = Some(commit.to_owned());
        self
    }

    /// The same error, marked permanent whatever its causes (a bug or a
    /// plugin that cannot load does not get better by retrying).
    pub fn permanent(mut self) -> Self {
        self.retry = Retry::Permanent;
        self
    }

    /// Whether a retry of the same inputs can succeed.
    pub fn is_transient(&self) -> bool {
        self.retry == Retry::Transient
    }

    /// Whether the sync stopped because a newer commit superseded it
    /// (not a failure: the newer commit is synced next).
    pub fn is_superseded(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self.source.as_ref());
        while let Some(error) = cause {
            match error.downcast_ref::<capstan_apply::Error>() {
                Some(capstan_apply::Error::Superseded { .. }) => return true,
                Some(capstan_apply::Error::AlsoFailed { first, .. }) => {
                    return matches!(**first, capstan_apply::Error::Superseded { .. });
                }
                _ => cause = error.source(),
            }
        }
        false
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "application {}: {} failed", self.app, self.stage)?;
        if let Some(commit) = &self.at {
            write!(f, " at {}", crate::short(commit))?;
        }
        if f.alternate() {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self.source.as_ref());
            while let Some(error) = cause {
                write!(f, ": {error}")?;
                cause = error.source();
            }
        }
        Ok(())
    }
}

fn classify(stage: Stage, source: &(dyn std::error::Error + 'static)) -> Retry {
    if matches!(stage, Stage::Spec | Stage::Render | Stage::Policy | Stage::Plan) {
        return Retry::Permanent;
    }
    let mut cause = Some(source);
    while let Some(error) = cause {
        // A superseded sync is retried at once, with the newer commit.
        if let Some(capstan_apply::Error::Superseded { .. }) = error.downcast_ref::<capstan_apply::Error>() {
            return Retry::Transient;
        }
        if let Some(kube) = error.downcast_ref::<kube::Error>() {
            return if capstan_apply::retry::retryable(kube) { Retry::Transient } else { Retry::Permanent };
        }
        if let Some(source_error) = error.downcast_ref::<capstan_source::Error>() {
            return match source_error {
                capstan_source::Error::Remote { .. } => Retry::Transient,
                _ => Retry::Permanent,
            };
        }
        if error.downcast_ref::<std::io::Error>().is_some() {
            return Retry::Transient;
        }
        cause = error.source();
    }
    // A wave that did not become healthy in time may become healthy later.
    if stage == Stage::Health { Retry::Transient } else { Retry::Permanent }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("injected", "Injected").with_code(code).into())
    }

    #[test]
    fn api_errors_are_transient_only_when_retrying_can_help() {
        for code in [429, 500, 503] {
            assert!(Error::new("a", Stage::Apply, api(code)).is_transient(), "{code}");
        }
        for code in [400, 403, 422] {
            assert!(!Error::new("a", Stage::Apply, api(code)).is_transient(), "{code}");
        }
        // Found under context, too.
        let wrapped = anyhow::Error::new(api(503)).context("reading the Secret");
        assert!(Error::new("a", Stage::Source, wrapped).is_transient());
    }

    #[test]
    fn stages_that_only_read_inputs_are_permanent() {
        for stage in [Stage::Spec, Stage::Render, Stage::Policy, Stage::Plan] {
            assert!(!Error::new("a", stage, api(503)).is_transient(), "{stage}");
        }
        let remote = capstan_source::Error::Remote { url: "u".into(), what: "failed to fetch".into(), source: None };
        assert!(Error::new("a", Stage::Source, remote).is_transient());
    }

    #[test]
    fn the_message_names_the_application_stage_and_commit() {
        let error = Error::new("web", Stage::Render, anyhow::anyhow!("boom")).at("0123456789abcdef");
        assert_eq!(error.to_string(), "application web: render failed at 0123456789ab");
        assert_eq!(std::error::Error::source(&error).unwrap().to_string(), "boom");
        assert_eq!(format!("{error:#}"), "application web: render failed at 0123456789ab: boom");
    }
}
