//! The crate's error type: what can go wrong starting, persisting or
//! connecting to the test API server. Errors *served to clients* are
//! Kubernetes `Status` objects instead (see `status`).

use std::path::PathBuf;

/// Errors of the test API server's own operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The loopback listener could not be bound.
    #[error("failed to bind the test API server to 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// The state file exists but could not be read.
    #[error("failed to read the state file {}", path.display())]
    ReadState {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not valid state JSON.
    #[error("failed to parse the state file {}", path.display())]
    ParseState {
        /// The state file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The state file could not be written.
    #[error("failed to write the state file {}", path.display())]
    WriteState {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The server URL did not parse as a URI (never expected).
    #[error("failed to build the server URL")]
    Url(#[source] http::uri::InvalidUri),
    /// A kube client could not be built.
    #[error("failed to build a kube client")]
    Client(#[source] kube::Error),
    /// The kubeconfig named by `CAPSTAN_TEST_KUBECONFIG` could not be used.
    #[error("failed to load the kubeconfig named by CAPSTAN_TEST_KUBECONFIG")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
