//! A renderer that returns items that are not Kubernetes objects (`with:
//! {shape: text | no-kind | array}`). It implements the raw WIT interface:
//! the SDK cannot produce non-JSON items.

use capstan_plugin::renderer::exports::capstan::plugin::render::Guest;
use capstan_plugin::{Context, Error, Output};

struct Garbage;

impl Guest for Garbage {
    fn render(_: Context, params: String) -> Result<Output, Error> {
        let params: serde_json::Value = capstan_plugin::parse_params(&params)?;
        let item = match params["shape"].as_str().unwrap_or("text") {
            "text" => "this is not JSON".to_owned(),
            "no-kind" => r#"{"apiVersion": "v1", "metadata": {"name": "nameless"}}"#.to_owned(),
            "array" => "[1, 2, 3]".to_owned(),
            other => return Err(Error::InvalidConfig(format!("unknown shape {other:?}"))),
        };
        Ok(Output { items: vec![item], results: Vec::new() })
    }
}

#[allow(unsafe_code)]
const _: () = {
    capstan_plugin::renderer::export!(Garbage with_types_in capstan_plugin::renderer);
};
