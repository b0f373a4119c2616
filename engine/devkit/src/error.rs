//! Errors of the plugin tools. Each says what the author should change.

use std::path::PathBuf;

/// Errors of `capstan plugin new|build|test|trace`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory holds no project file.
    #[error(
        "no {} in {}: run `capstan plugin new` to create a project, or pass the directory that holds one",
        crate::PROJECT_FILE,
        .dir.display()
    )]
    NoProject {
        /// The directory given.
        dir: PathBuf,
    },
    /// The project file is not valid YAML of the expected shape.
    #[error("{}: {error}", .file.display())]
    ProjectFile {
        /// The project file.
        file: PathBuf,
        /// Why.
        error: serde_yaml::Error,
    },
    /// A field of the project file has a value the tools do not accept.
    #[error("{}: field `{field}`: {error}", .file.display())]
    ProjectField {
        /// The project file.
        file: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong with its value.
        error: Box<Error>,
    },
    /// Not a world name.
    #[error("unknown world {value:?}: use renderer, transformer, validator or health")]
    UnknownWorld {
        /// The value given.
        value: String,
    },
    /// Not a supported language.
    #[error("unknown language {value:?}: use rust, python or js")]
    UnknownLang {
        /// The value given.
        value: String,
    },
    /// The language cannot target the world.
    #[error("a {lang} plugin cannot be a {world}: {reason}")]
    Unsupported {
        /// The language asked for.
        lang: crate::Lang,
        /// The world asked for.
        world: capstan_host::World,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// Not a name a plugin can have.
    #[error("invalid plugin name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `plugin new` would overwrite something.
    #[error("{} already exists: choose another name or directory", .dir.display())]
    Exists {
        /// The directory.
        dir: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{}: {error}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A tool the build needs is missing.
    #[error("{what} is missing: {fix}")]
    ToolMissing {
        /// What is missing.
        what: String,
        /// How to install it.
        fix: String,
    },
    /// The language's build failed.
    #[error("`{command}` failed ({status}); the compiler's messages are above")]
    BuildFailed {
        /// The command run.
        command: String,
        /// How it ended.
        status: std::process::ExitStatus,
    },
    /// The build succeeded but produced no component.
    #[error("`{command}` built no {file}: {hint}")]
    NoArtifact {
        /// The command run.
        command: String,
        /// The file expected.
        file: String,
        /// What to look at.
        hint: &'static str,
    },
    /// The component targets another world than the project says.
    #[error(
        "{} says `world: {declared}`, but the component is a {built} (it exports {export}): set `world: {built}`, or export a {declared} ({fix})",
        crate::PROJECT_FILE
    )]
    WorldMismatch {
        /// The world of the project file.
        declared: capstan_host::World,
        /// The world the component targets.
        built: capstan_host::World,
        /// Its Capstan export.
        export: String,
        /// How to export the declared world in the project's language.
        fix: String,
    },
    /// A fixture is not what its world takes.
    #[error("fixture {}: {reason}", .path.display())]
    Fixture {
        /// The fixture.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Test cases failed (each is reported above).
    #[error("{failed} of {total} test cases failed")]
    TestsFailed {
        /// How many failed.
        failed: usize,
        /// How many ran.
        total: usize,
    },
    /// `--input` or `--expect` was given for a project without test cases, or the like.
    #[error("{0}")]
    Usage(String),
    /// The host refused to load or run the plugin; `help` says what to change.
    #[error("{error}{}", .help.as_ref().map(|h| format!("; to fix: {h}")).unwrap_or_default())]
    Plugin {
        /// The host's error.
        error: capstan_host::Error,
        /// What to change.
        help: Option<String>,
    },
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
