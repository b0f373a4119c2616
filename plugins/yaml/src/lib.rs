//! `builtin:yaml`: a directory of plain YAML/JSON manifests → objects.
//!
//! Parameters (`with:`), named as in Argo CD's directory source:
//! - `recurse` (bool, default `false`): descend into subdirectories;
//! - `include` / `exclude` (glob, `{a,b}` alternatives allowed): filter files
//!   by their path relative to the rendered directory;
//! - `maxFileBytes` (default 8 MiB): larger files are refused, not read.
//!
//! Multi-document files, `kind: List` and JSON files are flattened into one
//! list, in file-name order then document order. Hidden files and
//! directories are skipped. Every error names the file and, for syntax
//! errors, the line and column.

mod load;

pub use load::{Params, load_dir};

#[cfg(target_arch = "wasm32")]
mod plugin {
    use capstan_plugin::{Context, Error, Rendered, Renderer};

    struct Yaml;

    impl Renderer for Yaml {
        type Params = crate::Params;

        fn render(ctx: &Context, params: Self::Params) -> Result<Rendered, Error> {
            let root = std::path::Path::new("/");
            let items = crate::load_dir(root, &ctx.path, &params)?;
            Ok(Rendered { items, results: Vec::new() })
        }
    }

    capstan_plugin::export_renderer!(Yaml);
}
