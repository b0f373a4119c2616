//! One reconcile of an Application, stage by stage: source
//! ([`capstan_source`]), render pipeline ([`capstan_host`]), plan
//! ([`capstan_plan`]), apply ([`capstan_apply`]) and health
//! ([`capstan_health`]).
//!
//! [`Engine`] is the entry point; its [`Error`] says which [`Stage`] failed
//! and whether a retry can help ([`Retry`]). The `capstan` CLI and the in-cluster
//! controller both drive it, so local and in-cluster results cannot differ;
//! neither this crate nor the controller links the test API server (the
//! embedded local cluster is a CLI concern).

pub mod apply;
mod engine;
mod error;
mod git_secret;
pub mod render_cache;

pub use engine::{AppFile, Engine, EngineConfig, RenderOutput, SyncOptions, SyncReport, short};
pub use error::{Cause, Error, Result, Retry, Stage};
pub use render_cache::CacheStats;
