//! A renderer that returns what it can learn of its environment: variables,
//! arguments and working directory.

use capstan_plugin::{Context, Error, Rendered, Renderer};
use serde_json::json;

struct Env;

impl Renderer for Env {
    type Params = serde_json::Value;

    fn render(_: &Context, _: Self::Params) -> Result<Rendered, Error> {
        let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
        let args: Vec<String> = std::env::args().collect();
        let home = std::env::var("HOME").unwrap_or_default();
        let data = json!({"vars": vars.join(","), "args": args.join(","), "home": home});
        let item = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env"}, "data": data});
        Ok(Rendered { items: vec![item], results: Vec::new() })
    }
}

capstan_plugin::export_renderer!(Env);
