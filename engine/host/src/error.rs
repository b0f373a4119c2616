//! Errors of loading and calling plugins. Each names the plugin.

use std::time::Duration;

/// What kind of error a plugin itself returned (the WIT `error` variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginErrorKind {
    /// The `with:` parameters were refused.
    InvalidConfig,
    /// The snapshot or input objects were refused.
    InvalidInput,
    /// Anything else.
    Failed,
}

impl std::fmt::Display for PluginErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::InvalidConfig => "invalid config",
            Self::InvalidInput => "invalid input",
            Self::Failed => "failed",
        })
    }
}

/// Errors of the plugin host.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `builtin:NAME` names no bundled plugin.
    #[error("plugin {plugin}: no such builtin plugin (known: {known})")]
    UnknownBuiltin {
        /// The reference as written.
        plugin: String,
        /// Names of the bundled plugins.
        known: String,
    },
    /// A non-builtin plugin came without `digest: sha256:…`.
    #[error("plugin {plugin}: a `digest: sha256:<hex>` is required for plugins that are not builtin")]
    DigestRequired {
        /// The reference as written.
        plugin: String,
    },
    /// The component's bytes do not match the pinned digest.
    #[error("plugin {plugin}: digest mismatch: expected {expected}, found {actual}; refusing to compile it")]
    DigestMismatch {
        /// The reference as written.
        plugin: String,
        /// The pinned digest.
        expected: String,
        /// The digest of the bytes read.
        actual: String,
    },
    /// Reading the component file failed.
    #[error("plugin {plugin}: failed to read the component")]
    Read {
        /// The reference as written.
        plugin: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Compiling or linking the component failed.
    #[error("plugin {plugin}: failed to load the component")]
    Load {
        /// The plugin.
        plugin: String,
        /// Why.
        #[source]
        source: wasmtime::Error,
    },
    /// The component targets another version of the WIT package or another world.
    #[error("plugin {plugin}: {reason}")]
    Incompatible {
        /// The plugin.
        plugin: String,
        /// What does not match.
        reason: String,
    },
    /// The call ran past its CPU deadline.
    #[error("plugin {plugin}: deadline exceeded: stopped after {deadline:?}")]
    Deadline {
        /// The plugin.
        plugin: String,
        /// The deadline that was set.
        deadline: Duration,
    },
    /// The instance tried to grow its memory past the cap.
    #[error("plugin {plugin}: memory cap exceeded: tried to grow past {cap} bytes")]
    MemoryCap {
        /// The plugin.
        plugin: String,
        /// The cap in bytes.
        cap: usize,
    },
    /// The instance trapped (panic, abort, unreachable…).
    #[error("plugin {plugin}: trapped: {message}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// The trap and the last lines the guest wrote to stderr.
        message: String,
    },
    /// The plugin returned its own error.
    #[error("plugin {plugin}: {kind}: {message}")]
    Plugin {
        /// The plugin.
        plugin: String,
        /// The WIT error case.
        kind: PluginErrorKind,
        /// The plugin's message.
        message: String,
    },
    /// The plugin returned more than the output caps allow.
    #[error("plugin {plugin}: output rejected: {reason}")]
    OutputCap {
        /// The plugin.
        plugin: String,
        /// Which cap.
        reason: String,
    },
    /// The plugin returned something that is not a Kubernetes object.
    #[error("plugin {plugin}: returned garbage: item {index} is not a Kubernetes object")]
    Garbage {
        /// The plugin.
        plugin: String,
        /// Index of the item.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: capstan_types::ObjectError,
    },
    /// Setting up the sandbox failed.
    #[error("plugin {plugin}: failed to prepare the sandbox")]
    Sandbox {
        /// The plugin.
        plugin: String,
        /// Why.
        #[source]
        source: wasmtime::Error,
    },
    /// The engine could not be created.
    #[error("failed to create the WebAssembly engine")]
    Engine(#[source] wasmtime::Error),
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
