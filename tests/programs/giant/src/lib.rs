//! A renderer that returns `with: {objects}` ConfigMaps, each holding
//! `with: {bytes}` bytes of data: probes of the output caps.

use capstan_plugin::{Context, Error, Rendered, Renderer};
use serde_json::{Value, json};

struct Giant;

impl Renderer for Giant {
    type Params = Value;

    fn render(_: &Context, params: Value) -> Result<Rendered, Error> {
        let objects = params["objects"].as_u64().unwrap_or(1);
        let filler = "x".repeat(params["bytes"].as_u64().unwrap_or(0) as usize);
        let items = (0..objects)
            .map(|i| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("giant-{i}")}, "data": {"x": filler}}))
            .collect();
        Ok(Rendered { items, results: Vec::new() })
    }
}

capstan_plugin::export_renderer!(Giant);
