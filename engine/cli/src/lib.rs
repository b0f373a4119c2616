//! Capstan's edge: the one place that wires the stages together.
//!
//! [`Engine`] (from [`capstan_reconcile`]) runs one reconcile step by step
//! for an [`AppFile`]. The `capstan` binary (`main.rs`) is a thin clap layer
//! over it, and [`target`] picks the cluster: the current kube context, or
//! the embedded local API server when there is none. The in-cluster
//! controller drives the same [`Engine`], so local and in-cluster results
//! cannot differ.

pub mod apps;
pub mod apps_view;
pub mod diff;
pub mod hydrate;
pub mod output;
pub mod plugin_cmd;
pub mod policy_cmd;
pub mod policy_export;
pub mod policy_test;
pub mod sync_cmd;
pub mod target;
pub mod yaml;
#[cfg(test)]
mod yaml_tests;

pub use capstan_reconcile::{AppFile, Engine, EngineConfig, RenderOutput, SyncOptions, SyncReport, apply};
