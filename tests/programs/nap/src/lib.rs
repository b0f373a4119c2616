//! A renderer that sleeps `with: {ms: N}` (a WASI monotonic-clock wait)
//! and then returns one ConfigMap: it holds its instance without using CPU,
//! so concurrent calls overlap.

use std::time::Duration;

use capstan_plugin::{Context, Error, Rendered, Renderer};
use serde_json::{Value, json};

struct Nap;

impl Renderer for Nap {
    type Params = Value;

    fn render(ctx: &Context, params: Value) -> Result<Rendered, Error> {
        let ms = params["ms"].as_u64().ok_or_else(|| Error::InvalidConfig("`ms` must be a number".into()))?;
        std::thread::sleep(Duration::from_millis(ms));
        let item = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ctx.app}, "data": {"slept": ms.to_string()}});
        Ok(Rendered { items: vec![item], results: Vec::new() })
    }
}

capstan_plugin::export_renderer!(Nap);
