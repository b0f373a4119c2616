//! Capstan's edge: the one place that wires the stages together.
//!
//! [`Engine`] runs one reconcile step by step — source ([`capstan_source`]),
//! render pipeline ([`capstan_host`]), apply ([`capstan_apply`]) — for an
//! [`AppFile`]. The `capstan` binary (`main.rs`) is a thin clap layer over
//! it, and [`target`] picks the cluster: the current kube context, or the
//! embedded local API server when there is none. Later the in-cluster
//! controller drives the same [`Engine`], so local and in-cluster results
//! cannot differ.

pub mod apply;
pub mod diff;
mod engine;
mod git_secret;
pub mod hydrate;
pub mod output;
pub mod plugin_cmd;
pub mod policy_cmd;
mod policy_export;
pub mod policy_test;
pub mod sync_cmd;
pub mod target;

pub use engine::{AppFile, Engine, EngineConfig, RenderOutput, SyncOptions, SyncReport};
