//! Errors: each names the kustomization file and the field that failed.

use std::fmt::Write as _;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while building a kustomization.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("failed to read '{path}'")]
    Read {
        /// The file, relative to the snapshot root.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML.
    #[error("failed to parse YAML in '{path}'")]
    Yaml {
        /// The file, relative to the snapshot root.
        path: String,
        /// The parser's error.
        #[source]
        source: capstan_plugin::yaml::YamlError,
    },
    /// A path leaves the snapshot root or the kustomization root.
    #[error("{file}: field `{field}`: failed to load '{path}': security; the path escapes the root")]
    Escape {
        /// The kustomization file.
        file: String,
        /// Its field.
        field: String,
        /// The offending path.
        path: String,
    },
    /// A directory holds no kustomization file.
    #[error("failed to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{dir}'")]
    NoKustomization {
        /// The directory.
        dir: String,
    },
    /// Kustomizations refer to each other in a cycle.
    #[error("failed to accumulate '{dir}': cycle detected: {chain}")]
    Cycle {
        /// The directory visited twice.
        dir: String,
        /// The chain of directories.
        chain: String,
    },
    /// A field of a kustomization file (or a plugin config) is invalid.
    #[error("{file}: field `{field}`: {message}")]
    Field {
        /// The kustomization (or plugin config) file.
        file: String,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// An error inside a step of a kustomization file.
    #[error("{file}: field `{field}`")]
    In {
        /// The kustomization file.
        file: String,
        /// The field being processed.
        field: String,
        /// The underlying error.
        #[source]
        source: Box<Error>,
    },
    /// Loading one entry of `resources` failed.
    #[error("accumulating resources from '{entry}'")]
    Accumulate {
        /// The entry.
        entry: String,
        /// What failed.
        #[source]
        source: Box<Error>,
    },
    /// A problem with objects, not tied to one field.
    #[error("{0}")]
    Msg(String),
}

impl Error {
    /// Builds an [`Error::Field`].
    pub fn field(file: &str, field: &str, message: impl Into<String>) -> Self {
        Error::Field { file: file.into(), field: field.into(), message: message.into() }
    }

    /// Wraps this error with the kustomization file and field it happened in.
    pub fn within(self, file: &str, field: &str) -> Self {
        match self {
            e @ (Error::Field { .. } | Error::In { .. } | Error::Escape { .. } | Error::Cycle { .. }) => e,
            e => Error::In { file: file.into(), field: field.into(), source: Box::new(e) },
        }
    }
}

/// A plain message error.
pub fn msg(m: impl Into<String>) -> Error {
    Error::Msg(m.into())
}

/// Formats an error and its sources on one line, separated by ": ".
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let _ = write!(s, ": {c}");
        cur = c.source();
    }
    s
}
