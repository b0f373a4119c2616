//! The apply stage: server-side apply of rendered objects through
//! `kube::Client`, with field manager `capstan`.
//!
//! Start with [`Applier::apply_all`]. Objects are applied in a safe order
//! (Namespaces, then CRDs, then the rest, see [`capstan_plan::order`]), each resolved to
//! its API resource by discovery; a CR whose CRD was applied in the same run
//! waits until the API server serves it.
//!
//! Apply knows nothing of Git or plugins: it takes [`capstan_types::Object`]s.

mod applier;

pub use applier::{Action, Applied, Applier, ApplyOptions};

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
        source: kube::Error,
    },
    /// Reading the live object failed.
    #[error("failed to read {object}")]
    Get {
        /// The object.
        object: capstan_types::ObjectRef,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// Server-side apply of an object failed.
    #[error("failed to apply {object}")]
    Apply {
        /// The object.
        object: capstan_types::ObjectRef,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// A namespaced object has no namespace and the Application names none.
    #[error("{object} is namespaced but has no namespace, and the Application sets no destination namespace")]
    NoNamespace {
        /// The object.
        object: capstan_types::ObjectRef,
    },
}

/// Result of this stage.
pub type Result<T, E = Error> = std::result::Result<T, E>;
