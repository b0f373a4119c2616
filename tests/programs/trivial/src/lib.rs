//! A renderer that returns one ConfigMap named after the Application: the
//! well-behaved baseline of the sandbox suite and the benchmark subject.

use capstan_plugin::{Context, Error, Rendered, Renderer};
use serde_json::json;

struct Trivial;

impl Renderer for Trivial {
    type Params = serde_json::Value;

    fn render(ctx: &Context, _: Self::Params) -> Result<Rendered, Error> {
        let item = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ctx.app}, "data": {"revision": ctx.revision}});
        Ok(Rendered { items: vec![item], results: Vec::new() })
    }
}

capstan_plugin::export_renderer!(Trivial);
