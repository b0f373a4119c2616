//! The plan stage: what a sync will do, decided without touching a cluster.
//!
//! Start with [`Plan::new`], which splits rendered objects into hook phases
//! and ordered sync waves ([`order`], [`hooks`]). [`diff::compare`] decides
//! whether a desired object (the server-side apply dry-run result) differs
//! from the live one, after [`normalize`]-ing both, honouring
//! `ignoreDifferences` ([`ignore`]) and masking Secret values ([`mask`]).
//! [`prune::plan_prune`] computes what left Git, with its guards.
//! [`Bounds`] decides what one Application may write, adopt and delete;
//! apply, hooks and prune all go through it.
//!
//! Everything here is pure: values in, values out.

pub mod bounds;
pub mod diff;
pub mod hooks;
pub mod ignore;
pub mod mask;
pub mod normalize;
pub mod order;
mod plan;
pub mod prune;

pub use bounds::{Bounds, Owner, Refusal, Scope};
pub use diff::{Comparison, compare};
pub use hooks::{DeletePolicy, Hook, HookPhase};
pub use ignore::IgnoreRules;
pub use mask::Masker;
pub use plan::{Plan, Wave};
pub use prune::{Protection, PruneOptions, PrunePlan, plan_prune};

/// Errors of the plan stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An `ignoreDifferences` entry has a path Capstan cannot read.
    #[error("failed to parse ignoreDifferences path {path:?} of kind {kind}: {reason}")]
    IgnorePath {
        /// The kind the entry is for.
        kind: String,
        /// The path as written.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An object has a hook annotation with a value Capstan does not know.
    #[error("failed to read the hook annotation {annotation}={value:?} of {object}")]
    HookAnnotation {
        /// The object.
        object: Box<capstan_types::ObjectRef>,
        /// The annotation key.
        annotation: &'static str,
        /// Its value.
        value: String,
    },
    /// A sync-wave annotation is not an integer.
    #[error("failed to read the sync wave {value:?} of {object}: not an integer")]
    SyncWave {
        /// The object.
        object: Box<capstan_types::ObjectRef>,
        /// The annotation value.
        value: String,
    },
    /// The prune would delete more of the inventory than allowed.
    #[error(
        "refusing to prune {count} of {inventory} inventory objects (more than {max_percent}%); confirm the prune to proceed"
    )]
    MassPrune {
        /// Objects the prune would delete.
        count: usize,
        /// Size of the inventory.
        inventory: usize,
        /// The configured limit.
        max_percent: u32,
    },
}

/// Result of this stage.
pub type Result<T, E = Error> = std::result::Result<T, E>;
