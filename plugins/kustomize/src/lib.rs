//! `builtin:kustomize`: renders a kustomization (kustomize v5.5 semantics)
//! from the snapshot into Kubernetes objects, inside the WASM sandbox.
//!
//! Start reading at [`build`]: it loads the kustomization at `dir` through a
//! [`Fs`] (the snapshot), accumulates resources, generators and components
//! recursively (module `target`), runs the built-in transformers in kustomize's
//! order, then fixes name references, resolves vars, appends content-hash
//! suffixes and sorts the output (module `sort`).
//!
//! The snapshot root is a hard boundary: every path is normalised lexically
//! and a path that would leave the root is refused ([`fs::join`]), whatever
//! the load restrictor says. Remote resources (URLs, git repositories) are
//! refused: the sandbox has no network.
//!
//! Parameters (`with:`) of the component: see [`Options`]
//! (`{"loadRestrictor": "rootOnly" | "none"}`, default `rootOnly`).
//!
//! ```no_run
//! use std::path::Path;
//! use capstan_kustomize::{DirFs, Options, build};
//!
//! let snapshot = DirFs::new("/srv/checkout");
//! let objects = build(&snapshot, Path::new("apps/web/overlays/prod"), &Options::default())?;
//! println!("{} objects", objects.len());
//! # Ok::<(), capstan_kustomize::Error>(())
//! ```
//!
//! Fidelity is measured by `tests/conformance.rs` against the corpus in
//! `tests/corpus/kustomize` (kubectl kustomize v5.5 outputs; set
//! `KUSTOMIZE_LIVE=1` to also compare with a local `kubectl kustomize`), and
//! speed by `benches/render.rs`. Not supported: remote resources, helm
//! charts, exec/Go plugins (only `apiVersion: builtin` plugin configs run),
//! and `openapi.version` (the built-in schema is always used).

pub mod error;
pub mod fs;

mod config;
mod fieldspec;
mod generators;
mod hash;
mod images;
mod json6902;
mod kustfile;
mod labels;
mod namereference;
mod names;
mod namespace;
mod origin;
mod patches;
mod plugins;
mod replacements;
mod resource;
mod schema;
mod selector;
mod smp;
mod sort;
mod target;
mod vars;
mod yamlpath;

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

pub use error::{Error, Result};
pub use fs::{DirFs, Fs};

/// How far files referenced by a kustomization may lie from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LoadRestrictor {
    /// Files must lie in or below the kustomization's directory (kustomize's default).
    #[default]
    RootOnly,
    /// Files may lie anywhere in the snapshot (never outside it).
    None,
}

/// The `with:` parameters of `builtin:kustomize`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// `rootOnly` (default) or `none`, as `--load-restrictor`.
    #[serde(default)]
    pub load_restrictor: LoadRestrictor,
}

/// Renders the kustomization in `dir` (relative to the snapshot root of
/// `fs`) into objects, in kustomize's output order.
pub fn build(fs: &dyn Fs, dir: &Path, opts: &Options) -> Result<Vec<Value>> {
    let dir = fs::join(Path::new(""), &dir.to_string_lossy()).map_err(|_| Error::Escape {
        file: "(render path)".into(),
        field: "path".into(),
        path: dir.display().to_string(),
    })?;
    target::run(fs, &dir, opts)
}

#[cfg(target_arch = "wasm32")]
mod plugin {
    use capstan_plugin::{Context, Error, Rendered, Renderer};

    struct Kustomize;

    impl Renderer for Kustomize {
        type Params = crate::Options;

        fn render(ctx: &Context, params: Self::Params) -> Result<Rendered, Error> {
            let fs = crate::DirFs::new("/");
            let items = crate::build(&fs, std::path::Path::new(&ctx.path), &params)
                .map_err(|e| Error::Failed(crate::error::chain(&e)))?;
            Ok(Rendered { items, results: Vec::new() })
        }
    }

    capstan_plugin::export_renderer!(Kustomize);
}
