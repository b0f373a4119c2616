//! The plugin host: runs Capstan's WebAssembly components on a leash.
//!
//! Start with [`PluginHost`]: one wasmtime `Engine` (pooling allocator
//! behind a queue, on-disk compiled cache) and `Linker` per process, one pre-instantiated
//! component per plugin digest ([`Plugin`], of one [`World`]), and a fresh
//! `Store` and instance for every call, so nothing leaks between calls or
//! Applications. [`Limits`] is the leash of a call: CPU deadline (epoch
//! interruption), memory cap, output caps; the only filesystem a plugin sees
//! is the snapshot, preopened read-only, and it has no network and no
//! environment. [`pipeline`] runs an Application's ordered stages:
//! renderer → transformers → validators. [`inspect`] describes a component
//! without running it. Plugins that are not builtin come from a path or a
//! URL (`http(s)://`, `oci://`) and are refused unless their bytes match the
//! pinned `sha256:` digest; downloads are cached by that digest.
//!
//! The host knows nothing of Kubernetes clients or Git: it takes a snapshot
//! directory and returns [`capstan_types::Object`]s.

mod bindings;
mod builtin;
mod cache;
mod call;
mod clock;
mod compile;
mod error;
mod fetch;
mod host;
pub mod inspect;
mod leash;
mod local;
mod oci;
mod output;
pub mod pipeline;
mod plugin;
mod preopen;
mod shape;
mod slots;
mod state;

pub use builtin::{BUILTINS, Builtins};
pub use call::{Assessment, CallObserver, CallRecord, CallStats, Health, RenderCall, Rendered, last_call_stats};
pub use compile::{DEFAULT_COMPILE_DEADLINE, MAX_ABANDONED};
pub use error::{Error, PluginErrorKind, Result};
pub use fetch::MAX_DOWNLOAD_BYTES;
pub use host::{HostConfig, PluginHost, sha256_digest};
pub use leash::{
    BYTES_PER_NODE, Limits, LimitsError, MAX_DEADLINE, MAX_DEPTH, MAX_MEMORY_BYTES, MAX_OBJECTS, MAX_OUTPUT_BYTES,
};
pub use local::LocalPlugins;
pub use plugin::{Plugin, World};
pub use shape::{MAX_BODY_BYTES, MAX_COMPONENT_BYTES, MAX_FUNCTIONS, MAX_LOCALS, MAX_NESTING};

/// The WIT package version this host implements.
pub const WIT_VERSION: &str = "0.1.0";
