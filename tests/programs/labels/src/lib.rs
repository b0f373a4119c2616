//! A transformer that sets the label `with: {key: value}` on every object.

use capstan_plugin::{Context, Error, Rendered, Transformer};
use serde_json::{Map, Value};

struct Labels;

impl Transformer for Labels {
    type Params = Map<String, Value>;

    fn transform(_: &Context, mut items: Vec<Value>, params: Self::Params) -> Result<Rendered, Error> {
        for item in &mut items {
            let labels = item
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
                .ok_or_else(|| Error::InvalidInput("an object has no metadata".into()))?
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(labels) = labels.as_object_mut() {
                labels.extend(params.clone());
            }
        }
        Ok(Rendered { items, results: Vec::new() })
    }
}

capstan_plugin::export_transformer!(Labels);
