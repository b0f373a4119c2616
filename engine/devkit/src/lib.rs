//! The plugin author's tools behind `capstan plugin new|build|test|trace`:
//! project templates per world and language ([`template`]), the build of a
//! project into a checked component ([`toolchain`]), runs of that component
//! in the real host under the real leash on fixtures, with time, memory and
//! log lines per call ([`run`]), and what to change when the host refuses
//! or stops a plugin ([`hints`]). The CLI only parses arguments and calls these.

mod error;
pub mod hints;
pub mod project;
pub mod run;
pub mod template;
pub mod toolchain;

pub use error::{Error, Result};
pub use project::{Lang, PROJECT_FILE, Project, parse_world};
pub use run::RunOptions;
pub use template::{NewOptions, WIT};
pub use toolchain::Built;
