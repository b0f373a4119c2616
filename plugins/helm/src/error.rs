//! Errors of `builtin:helm`: each names the chart and, for templates, the
//! template file and line (in Go's words for template errors).

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while rendering a chart.
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
    /// A chart file (Chart.yaml, values, requirements) is invalid.
    #[error("chart '{chart}': failed to load {file}: {msg}")]
    Load {
        /// The chart.
        chart: String,
        /// The file.
        file: String,
        /// What is wrong.
        msg: String,
    },
    /// The chart is invalid as a whole (name missing, library chart, missing dependency...).
    #[error("chart '{chart}': {msg}")]
    Chart {
        /// The chart.
        chart: String,
        /// What is wrong.
        msg: String,
    },
    /// A path leaves the snapshot (cf. Argo CD CVE-2022-24348).
    #[error("{field}: failed to load '{path}': security; the path escapes the snapshot")]
    Escape {
        /// The parameter.
        field: String,
        /// The offending path.
        path: String,
    },
    /// The values do not satisfy `values.schema.json`.
    #[error("values don't meet the specifications of the schema(s) in the following chart(s):\n{0}")]
    Schema(String),
    /// A template failed to parse or execute (Go's message: chart/templates/file:line:col).
    #[error("chart '{chart}': {msg}")]
    Template {
        /// The chart.
        chart: String,
        /// Go's error text, naming template file and line.
        msg: String,
    },
    /// A rendered manifest is not valid YAML.
    #[error("YAML parse error on {source_path}: {msg}")]
    Yaml {
        /// The template that produced it (`# Source:`).
        source_path: String,
        /// The parser's message.
        msg: String,
    },
    /// A parameter of the stage is invalid.
    #[error("invalid parameter {field}: {msg}")]
    Param {
        /// The parameter.
        field: String,
        /// What is wrong.
        msg: String,
    },
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
