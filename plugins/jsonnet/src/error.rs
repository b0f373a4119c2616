//! Errors of `builtin:jsonnet`: each names the file, parameter or output
//! path at fault; evaluation errors carry the Jsonnet stack trace
//! (`file:line:column`) as jsonnet prints it.

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while rendering a Jsonnet program.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the snapshot could not be read.
    #[error("failed to read '{path}'")]
    Read {
        /// The file, relative to the snapshot root.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A path names nothing.
    #[error("'{path}' does not exist")]
    Missing {
        /// The path, relative to the snapshot root.
        path: String,
    },
    /// A path names a directory where a file is needed.
    #[error("'{path}' is a directory, not a file")]
    NotAFile {
        /// The path, relative to the snapshot root.
        path: String,
    },
    /// A path leaves the snapshot (`..` above its root, an absolute path, a
    /// link pointing out, or a loop of links).
    #[error("'{path}': security; the path escapes the snapshot")]
    Escape {
        /// The offending path.
        path: String,
    },
    /// A parameter of the stage is invalid.
    #[error("invalid parameter {field}: {msg}")]
    Param {
        /// The parameter.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// No entry file matched.
    #[error("no entry file: {msg}")]
    NoEntry {
        /// What was looked for, and where.
        msg: String,
    },
    /// The Tanka `spec.json` beside the entry is invalid or disagrees with the Application.
    #[error("{path}: {msg}")]
    Spec {
        /// The spec.json file.
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// Jsonnet evaluation failed: the message and the stack trace, as jsonnet prints them.
    #[error("{entry}: {trace}")]
    Eval {
        /// The entry file evaluated.
        entry: String,
        /// Message and stack trace (`file:line:column`).
        trace: String,
    },
    /// The program's output is not Kubernetes objects.
    #[error("{entry}: output {at}: {msg}")]
    Output {
        /// The entry file evaluated.
        entry: String,
        /// Where in the output (`.a.b[2]`; `.` for the top).
        at: String,
        /// What is wrong.
        msg: String,
    },
}

/// `text`, JSON the evaluator manifested for `entry`, as a value.
pub fn json(text: &str, entry: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| Error::Output {
        entry: entry.to_string(),
        at: ".".into(),
        msg: format!("not JSON: {e}"),
    })
}

/// The error and its causes on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
