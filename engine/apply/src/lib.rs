//! The apply stage: server-side apply of a [`capstan_plan::Plan`] through
//! `kube::Client`, with field manager `capstan`.
//!
//! Start with [`Syncer::sync`]: hooks and waves in order, each object
//! applied by [`Applier::apply`] only when it differs from the live object
//! (a no-op sync writes nothing), then the prune of what left Git against
//! the in-cluster [`inventory`], then PostSync hooks. Every API call is
//! retried on transient failures ([`retry`]). [`Applier::diff`] is the
//! dry-run comparison behind `capstan diff`.
//!
//! Every request for an object is checked against the Application's
//! [`capstan_plan::Bounds`] first (in the discovery module), and a sync checks
//! its whole plan before the first write ([`Applier::check`]).
//!
//! Apply knows nothing of Git or plugins: it takes [`capstan_types::Object`]s.

// Errors carry the object and the kube error with its Status: large, but
// rare and never on a hot path; boxing them would only hide the fields.
#![allow(clippy::result_large_err)]

mod applier;
pub mod errors;
mod hooks;
pub mod inventory;
pub mod read_ahead;
mod record;
mod resources;
pub mod retry;
mod sync;

pub use applier::{Action, Applied, Applier, ApplyOptions, DIGEST_ANNOTATION, ObjectDiff, namespace_missing};
pub use errors::ApiFailure;
pub use hooks::HookRun;
pub use inventory::{Inventory, InventoryStore};
pub use kube::api::PropagationPolicy;
pub use read_ahead::LiveObjects;
pub use retry::RetryPolicy;
pub use sync::{ReadyCheck, SyncOptions, SyncResult, Syncer, WaveGate};
pub use tokio_util::sync::CancellationToken;

/// The field manager Capstan applies with.
pub const FIELD_MANAGER: &str = "capstan";

/// Errors of the apply stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server does not serve the object's kind.
    #[error("failed to find the API resource for {api_version} {kind}")]
    Discover {
        /// `apiVersion` of the object.
        api_version: String,
        /// `kind` of the object.
        kind: String,
        /// Why.
        #[source]
        source: ApiFailure,
    },
    /// Reading the live object failed.
    #[error("failed to read {object}")]
    Get {
        /// The object.
        object: capstan_types::ObjectRef,
        /// Why.
        #[source]
        source: ApiFailure,
    },
    /// Server-side apply (or its dry run) of an object failed.
    #[error("failed to apply {object}")]
    Apply {
        /// The object.
        object: capstan_types::ObjectRef,
        /// Why.
        #[source]
        source: ApiFailure,
    },
    /// Deleting an object (prune or hook) failed.
    #[error("failed to delete {object}")]
    Delete {
        /// The object.
        object: capstan_types::ObjectRef,
        /// Why.
        #[source]
        source: ApiFailure,
    },
    /// The server returned an object that is not valid JSON for it.
    #[error("failed to decode {object} as returned by the server")]
    Decode {
        /// The object.
        object: capstan_types::ObjectRef,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A namespaced object has no namespace and the Application names none.
    #[error("{object} is namespaced but has no namespace, and the Application sets no destination namespace")]
    NoNamespace {
        /// The object.
        object: capstan_types::ObjectRef,
    },
    /// Reading or writing an inventory ConfigMap failed.
    #[error("failed to access the inventory ConfigMap {name}")]
    Inventory {
        /// The ConfigMap.
        name: String,
        /// Why.
        #[source]
        source: ApiFailure,
    },
    /// The stored inventory cannot be read; nothing is pruned.
    #[error("failed to read the inventory of application {app}: {reason}")]
    InventoryCorrupt {
        /// The Application.
        app: String,
        /// What is wrong.
        reason: String,
    },
    /// A hook failed; the sync stopped.
    #[error("{phase} hook {object} failed: {reason}")]
    HookFailed {
        /// The hook object.
        object: capstan_types::ObjectRef,
        /// Its phase.
        phase: String,
        /// Why.
        reason: String,
    },
    /// An object of a wave failed; later waves were not applied.
    #[error("{object} failed before the next wave could start: {reason}")]
    WaveFailed {
        /// The object.
        object: capstan_types::ObjectRef,
        /// Why.
        reason: String,
    },
    /// Waiting for an object timed out.
    #[error("timed out waiting for {waiting_for} ({object})")]
    Timeout {
        /// The object.
        object: capstan_types::ObjectRef,
        /// What was awaited.
        waiting_for: &'static str,
    },
    /// The prune was refused by a guard.
    #[error("failed to plan the prune")]
    Prune(#[source] capstan_plan::Error),
    /// The object is out of the Application's bounds, or not its own to
    /// take over or delete; nothing was sent for it.
    #[error(transparent)]
    Refused(#[from] capstan_plan::Refusal),
    /// The sync was cancelled at a safe point (before a wave or hook, or
    /// while waiting for one) because a newer commit superseded it; what
    /// it applied so far is recorded in the inventory.
    #[error("the sync was superseded (stopped {at})")]
    Superseded {
        /// Where it stopped.
        at: String,
    },
    /// The sync failed (`first`), and so did steps that run after a
    /// failure (storing the partial inventory, SyncFail hooks).
    #[error("the sync failed; afterwards also failed: {}", later.join("; "))]
    AlsoFailed {
        /// The failure that stopped the sync.
        #[source]
        first: Box<Error>,
        /// What failed after it, one line each.
        later: Vec<String>,
    },
}

impl From<capstan_plan::Error> for Error {
    fn from(error: capstan_plan::Error) -> Self {
        Self::Prune(error)
    }
}

/// Waits `delay`, or fails with [`Error::Superseded`] as soon as `cancel`
/// fires: the one way a sync waits, so it can always be stopped.
pub(crate) async fn pause(
    cancel: &CancellationToken,
    delay: std::time::Duration,
    at: impl FnOnce() -> String,
) -> Result<()> {
    tokio::select! {
        () = cancel.cancelled() => Err(Error::Superseded { at: at() }),
        () = tokio::time::sleep(delay) => Ok(()),
    }
}

/// Fails with [`Error::Superseded`] if `cancel` fired.
pub(crate) fn checkpoint(cancel: &CancellationToken, at: impl FnOnce() -> String) -> Result<()> {
    if cancel.is_cancelled() { Err(Error::Superseded { at: at() }) } else { Ok(()) }
}

/// Result of this stage.
pub type Result<T, E = Error> = std::result::Result<T, E>;
