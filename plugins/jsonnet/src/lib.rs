//! `builtin:jsonnet`: evaluates Jsonnet programs from the snapshot with
//! [jrsonnet](https://github.com/CertainLach/jrsonnet) (the Rust
//! implementation; the fastest one, and it builds for wasm32-wasip2) and
//! returns the Kubernetes objects they produce, inside the WASM sandbox.
//!
//! Start reading at [`render`]: [`layout`] finds the entry files and the
//! library path (`-J`: jsonnet-bundler's `vendor/`, `lib/`, Tanka
//! environments with `spec.json`), [`import`] confines `import`,
//! `importstr` and `importbin` to the snapshot ([`snapshot`]), [`eval`]
//! runs each entry with the external variables and top-level arguments of
//! the stage, and [`flatten`] turns the output into objects as Argo CD and
//! Tanka do.
//!
//! Parameters (`with:`): see [`Options`]. Evaluation errors carry the
//! Jsonnet stack trace (`main.jsonnet:3:5-12`).
//!
//! ```no_run
//! use std::path::Path;
//! use capstan_jsonnet::{Options, render};
//!
//! let objects = render(Path::new("/srv/checkout"), "environments/prod", None, &Options::default())?;
//! println!("{} objects", objects.len());
//! # Ok::<(), capstan_jsonnet::Error>(())
//! ```

pub mod error;
pub mod eval;
pub mod flatten;
pub mod import;
pub mod layout;
pub mod snapshot;

use std::path::Path;

use serde::Deserialize;
use serde_json::Value as Json;

pub use error::{Error, Result};

/// Default for `--max-stack`: jrsonnet's own (jsonnet's is 500). At 500 the
/// sandbox's wasm stack runs out first (a trap, not a Jsonnet error).
pub const DEFAULT_MAX_STACK: usize = 200;

/// The `with:` parameters of `builtin:jsonnet` (names as in Argo CD's
/// `directory.jsonnet` source where it has them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// Entry files, relative to the Application's path: one name or a list;
    /// each may be a glob (`*.jsonnet`, `envs/**/main.jsonnet`). Default `main.jsonnet`.
    #[serde(default)]
    pub entry: Option<Entries>,
    /// Library directories (`-J`), relative to the snapshot root as in Argo
    /// CD; the last one listed wins, as with `-J`. Searched before the
    /// layout's own (`vendor/`, `lib/`, see [`layout`]).
    #[serde(default)]
    pub libs: Vec<String>,
    /// External variables (`std.extVar`): `--ext-str`, or `--ext-code` with `code: true`.
    #[serde(default)]
    pub ext_vars: Vec<Var>,
    /// Top-level arguments of the entry function: `--tla-str`, or `--tla-code` with `code: true`.
    #[serde(default)]
    pub tlas: Vec<Var>,
    /// Deepest Jsonnet call stack (default [`DEFAULT_MAX_STACK`], as `--max-stack`).
    #[serde(default)]
    pub max_stack: Option<usize>,
}

/// One or several entry files (or globs).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Entries {
    /// One file or glob.
    One(String),
    /// Several, evaluated in order.
    Many(Vec<String>),
}

/// An external variable or top-level argument.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Var {
    /// Its name.
    pub name: String,
    /// A string, or Jsonnet code when `code` is true.
    pub value: String,
    /// Evaluate `value` as Jsonnet (`--ext-code`, `--tla-code`).
    #[serde(default)]
    pub code: bool,
}

/// Renders the Jsonnet program at `dir` (relative to the snapshot `root`)
/// for an Application whose destination namespace is `namespace`: the
/// objects of every entry file, in entry order.
pub fn render(root: &Path, dir: &str, namespace: Option<&str>, opts: &Options) -> Result<Vec<Json>> {
    render_text(root, dir, namespace, opts)?.iter().map(|text| error::json(text, dir)).collect()
}

/// [`render`], with each object as the JSON text the evaluator manifested:
/// what the component hands the host, which parses it anyway.
pub fn render_text(root: &Path, dir: &str, namespace: Option<&str>, opts: &Options) -> Result<Vec<String>> {
    let layout = layout::Layout::discover(root, dir, opts)?;
    if let Some(spec) = &layout.spec {
        spec.check(namespace)?;
    }
    let mut out = Vec::new();
    let program = eval::Program::new(root, &layout, opts)?;
    for entry in &layout.entries {
        program.objects(entry, &mut out)?;
    }
    Ok(out)
}

#[cfg(target_arch = "wasm32")]
mod plugin {
    use capstan_plugin::{Context, Error, Output, Rendered, Renderer};

    struct Jsonnet;

    impl Renderer for Jsonnet {
        type Params = crate::Options;

        fn render(ctx: &Context, params: Self::Params) -> Result<Rendered, Error> {
            let items = crate::render(std::path::Path::new("/"), &ctx.path, ctx.namespace.as_deref(), &params)
                .map_err(plugin_error)?;
            Ok(Rendered { items, results: Vec::new() })
        }

        // The evaluator writes each object's JSON: the host gets that text.
        fn render_encoded(ctx: &Context, params: Self::Params) -> Result<Output, Error> {
            let items = crate::render_text(std::path::Path::new("/"), &ctx.path, ctx.namespace.as_deref(), &params)
                .map_err(plugin_error)?;
            Ok(Output { items, results: Vec::new() })
        }
    }

    fn plugin_error(e: crate::Error) -> Error {
        match e {
            crate::Error::Param { .. } | crate::Error::NoEntry { .. } | crate::Error::Spec { .. } => {
                Error::InvalidConfig(crate::error::chain(&e))
            }
            e => Error::Failed(crate::error::chain(&e)),
        }
    }

    // Renders churn through millions of small blocks in a call-long
    // instance: see the SDK's allocator for the measured effect.
    #[global_allocator]
    static ALLOCATOR: capstan_plugin::alloc::SizeClasses = capstan_plugin::alloc::SizeClasses::new();

    capstan_plugin::export_renderer!(Jsonnet);
}
