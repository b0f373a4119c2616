//! {{name}}: a Capstan renderer. Every `*.txt` file of the rendered
//! directory becomes a ConfigMap named after the file, holding its text.
//! Replace [`render_files`] with your own format.

use serde::Deserialize;
use serde_json::{Value, json};

/// The stage's `with:` block, read by the SDK (unknown fields are errors).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Put before every ConfigMap's name.
    pub name_prefix: String,
}

/// The objects of `(file name, text)` pairs: plain Rust, so `cargo test`
/// runs it natively.
pub fn render_files(files: &[(String, String)], params: &Params) -> Vec<Value> {
    files
        .iter()
        .map(|(file, text)| {
            let stem = file.trim_end_matches(".txt");
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": format!("{}{stem}", params.name_prefix)},
                "data": {"text": text},
            })
        })
        .collect()
}

#[cfg(target_arch = "wasm32")]
mod plugin {
    use capstan_plugin::{Context, Error, Level, Rendered, Renderer};

    struct Plugin;

    impl Renderer for Plugin {
        type Params = super::Params;

        /// The snapshot is read-only at `/`; `ctx.path` is the directory to render.
        fn render(ctx: &Context, params: Self::Params) -> Result<Rendered, Error> {
            let dir = std::path::Path::new("/").join(&ctx.path);
            let entries = std::fs::read_dir(&dir).map_err(|e| Error::InvalidInput(format!("{}: {e}", ctx.path)))?;
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| Error::Failed(e.to_string()))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".txt") {
                    let text = std::fs::read_to_string(entry.path())
                        .map_err(|e| Error::InvalidInput(format!("{}/{name}: {e}", ctx.path)))?;
                    files.push((name, text));
                }
            }
            files.sort();
            capstan_plugin::log(Level::Info, &format!("rendering {} files of {}", files.len(), ctx.path));
            Ok(Rendered { items: super::render_files(&files, &params), results: Vec::new() })
        }
    }

    capstan_plugin::export_renderer!(Plugin);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_file_becomes_a_config_map() {
        let files = [("hello.txt".to_owned(), "hi\n".to_owned())];
        let objects = render_files(&files, &Params { name_prefix: "demo-".into() });
        assert_eq!(objects[0]["metadata"]["name"], "demo-hello");
        assert_eq!(objects[0]["data"]["text"], "hi\n");
    }
}
