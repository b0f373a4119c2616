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
    /// A local plugin file is not one the host reads: not a regular file,
    /// too large, or outside the directories local plugins may come from.
    #[error("plugin {plugin}: refusing {}: {reason}", .path.display())]
    LocalFile {
        /// The reference as written.
        plugin: String,
        /// The file, symbolic links resolved (boxed: the error stays as
        /// small as its largest other variant).
        path: Box<std::path::Path>,
        /// Why.
        reason: String,
    },
    /// The `digest:` is not `sha256:` followed by 64 hex digits.
    #[error("plugin {plugin}: invalid digest {digest:?}: expected `sha256:` and 64 hex digits")]
    InvalidDigest {
        /// The reference as written.
        plugin: String,
        /// The digest as written.
        digest: String,
    },
    /// The reference has a `scheme://` that the host cannot fetch.
    #[error("plugin {plugin}: unsupported scheme `{scheme}://` (use builtin:, a path, file://, http(s):// or oci://)")]
    UnsupportedScheme {
        /// The reference as written.
        plugin: String,
        /// The scheme.
        scheme: String,
    },
    /// A URL or `oci://` reference is malformed.
    #[error("plugin {plugin}: invalid reference: {reason}")]
    InvalidReference {
        /// The reference as written.
        plugin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached, or the transfer failed (connection,
    /// TLS, timeout, too many redirects, a dropped body).
    #[error("plugin {plugin}: failed to fetch {url}")]
    Unreachable {
        /// The reference as written.
        plugin: String,
        /// The URL requested.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The HTTP client could not be set up (TLS roots, configuration).
    #[error("plugin {plugin}: failed to set up the HTTP client")]
    HttpClient {
        /// The reference as written.
        plugin: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The download thread or its runtime could not be started.
    #[error("plugin {plugin}: failed to start the download")]
    Download {
        /// The reference as written.
        plugin: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server answered with an error status.
    #[error("plugin {plugin}: failed to fetch {url}: HTTP {status}")]
    HttpStatus {
        /// The reference as written.
        plugin: String,
        /// The URL requested.
        url: String,
        /// The status.
        status: reqwest::StatusCode,
    },
    /// The download is larger than the cap.
    #[error("plugin {plugin}: failed to fetch {url}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// The reference as written.
        plugin: String,
        /// The URL requested.
        url: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// A registry's manifest or token answer is not JSON of the expected shape.
    #[error("plugin {plugin}: {url} returned invalid JSON")]
    InvalidResponse {
        /// The reference as written.
        plugin: String,
        /// The URL requested (a manifest or the token service).
        url: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A registry broke the distribution protocol (no token in the token
    /// answer, a manifest that does not match the digest asked for…).
    #[error("plugin {plugin}: registry error at {url}: {reason}")]
    Registry {
        /// The reference as written.
        plugin: String,
        /// The URL requested.
        url: String,
        /// What is wrong. Static, to keep [`Error`] small: the URL says which
        /// manifest, token service or digest.
        reason: &'static str,
    },
    /// The OCI manifest has no wasm layer, or more than one.
    #[error(
        "plugin {plugin}: expected exactly one wasm layer ({}) in the OCI manifest, found {found} (layers: {layers})",
        crate::oci::WASM_LAYER_TYPES.join(" or ")
    )]
    NoWasmLayer {
        /// The reference as written.
        plugin: String,
        /// How many wasm layers there are.
        found: usize,
        /// The media types of all layers.
        layers: String,
    },
    /// The component was refused before compiling: not a component, too
    /// large, or functions past the caps a compilation can afford.
    #[error("plugin {plugin}: refused before compiling: {reason}")]
    Shape {
        /// The plugin.
        plugin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Compiling ran past its deadline, or could not start.
    #[error("plugin {plugin}: not compiled: {reason}")]
    Compile {
        /// The plugin.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// The compiled-code cache directory overlaps a directory where
    /// repository content is written.
    #[error(
        "the compiled-code cache {} and the repository directory {} overlap; compiled code must live where no repository content is written",
        .cache.display(), .repository.display()
    )]
    CacheOverlap {
        /// The compiled-code cache directory.
        cache: std::path::PathBuf,
        /// The repository directory (snapshots, clones).
        repository: std::path::PathBuf,
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
    /// The call held more handles (open files, streams…) than allowed.
    #[error("plugin {plugin}: handle cap exceeded: more than {cap} open files, directories and streams at once")]
    HandleCap {
        /// The plugin.
        plugin: String,
        /// The cap.
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
