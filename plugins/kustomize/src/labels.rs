//! Labels and annotations: `commonLabels`, `labels`, `commonAnnotations`
//! and the `LabelTransformer`/`AnnotationsTransformer` plugins.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::fieldspec::{self, Create, FieldSpec};
use crate::resource::Resource;

/// Sets every pair at every applicable field spec (maps created as needed).
pub fn add(res: &mut [Resource], pairs: &Map<String, Value>, specs: &[FieldSpec]) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    for r in res.iter_mut() {
        let gvk = r.gvk();
        for fs in specs {
            if !fs.applies_to(&gvk) {
                continue;
            }
            fieldspec::apply(&mut r.obj, fs, Create::Map, &mut |node| {
                if !node.is_object() {
                    *node = Value::Object(Map::new());
                }
                let m = node.as_object_mut().expect("object");
                for (k, v) in pairs {
                    m.insert(k.clone(), v.clone());
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Converts a string map to JSON values.
pub fn to_map<'a>(it: impl IntoIterator<Item = (&'a String, &'a String)>) -> Map<String, Value> {
    it.into_iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
}
