//! A renderer that reads the file `with: {path}` names and returns its text
//! in a ConfigMap, or the I/O error: probes of the read-only snapshot
//! preopen (`/etc/passwd`, `..`, symlinks out, writes).

use capstan_plugin::{Context, Error, Rendered, Renderer};
use serde_json::{Value, json};

struct Fs;

impl Renderer for Fs {
    type Params = Value;

    fn render(_: &Context, params: Value) -> Result<Rendered, Error> {
        let path = params["path"].as_str().ok_or_else(|| Error::InvalidConfig("`path` is required".into()))?;
        let result = match params["write"].as_str() {
            Some(text) => std::fs::write(path, text).map(|()| String::new()),
            None => std::fs::read_to_string(path),
        };
        let text = result.map_err(|e| Error::Failed(format!("{path}: {e}")))?;
        let item =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "file"}, "data": {"text": text}});
        Ok(Rendered { items: vec![item], results: Vec::new() })
    }
}

capstan_plugin::export_renderer!(Fs);
