//! The plugin host: runs Capstan's WebAssembly components on a leash.
//!
//! Start with [`PluginHost`]: one wasmtime `Engine` and `Linker` per process,
//! one pre-instantiated component per plugin digest ([`Plugin`]), and a fresh
//! `Store` and instance for every call, so nothing leaks between calls or
//! Applications. [`Limits`] is the leash of a call: CPU deadline (epoch
//! interruption), memory cap, output caps; the only filesystem a plugin sees
//! is the snapshot, preopened read-only. [`pipeline`] runs an Application's
//! ordered stages.
//!
//! The host knows nothing of Kubernetes clients or Git: it takes a snapshot
//! directory and returns [`capstan_types::Object`]s.

mod bindings;
mod builtin;
mod error;
mod host;
mod leash;
pub mod pipeline;
mod state;

pub use builtin::{BUILTINS, Builtins};
pub use error::{Error, PluginErrorKind, Result};
pub use host::{HostConfig, Plugin, PluginHost, RenderCall, Rendered};
pub use leash::Limits;

/// The WIT package version this host implements.
pub const WIT_VERSION: &str = "0.1.0";
