//! {{name}}: a Capstan transformer. It sets the labels of `with: {labels: …}`
//! on every object. Replace [`transform_objects`] with your own change.

use std::collections::BTreeMap;

use capstan_plugin::Error;
use serde::Deserialize;
use serde_json::Value;

/// The stage's `with:` block, read by the SDK (unknown fields are errors).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Labels to set on every object.
    pub labels: BTreeMap<String, String>,
}

/// The changed objects: plain Rust, so `cargo test` runs it natively.
pub fn transform_objects(mut items: Vec<Value>, params: &Params) -> Result<Vec<Value>, Error> {
    for item in &mut items {
        let labels = capstan_plugin::object::labels_mut(item)?;
        for (key, value) in &params.labels {
            labels.insert(key.clone(), Value::String(value.clone()));
        }
    }
    Ok(items)
}

#[cfg(target_arch = "wasm32")]
mod plugin {
    use capstan_plugin::{Context, Error, Level, Rendered, Transformer};
    use serde_json::Value;

    struct Plugin;

    impl Transformer for Plugin {
        type Params = super::Params;

        fn transform(ctx: &Context, items: Vec<Value>, params: Self::Params) -> Result<Rendered, Error> {
            capstan_plugin::log(Level::Info, &format!("labelling {} objects of {}", items.len(), ctx.app));
            Ok(Rendered { items: super::transform_objects(items, &params)?, results: Vec::new() })
        }
    }

    capstan_plugin::export_transformer!(Plugin);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn labels_are_set_on_every_object() {
        let params = Params { labels: [("team".to_owned(), "shop".to_owned())].into() };
        let items = transform_objects(vec![json!({"kind": "ConfigMap", "metadata": {"name": "a"}})], &params).unwrap();
        assert_eq!(items[0]["metadata"]["labels"]["team"], "shop");
    }
}
