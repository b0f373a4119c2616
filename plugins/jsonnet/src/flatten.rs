//! A program's output → Kubernetes objects, as Argo CD and Tanka read it:
//! an object with `apiVersion` and `kind` is one object (a `kind: List`, or
//! any `*List` with `items`, gives its items; a Tanka inline `Environment`
//! gives its `data`); any other object or array is walked, objects in
//! field order (Jsonnet sorts fields, so the order is stable), arrays in
//! order; `null` is skipped. Anything else is an error naming where it is.

use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};

/// Appends the objects of `value` (the output of `entry`) to `out`.
pub fn flatten(value: Json, entry: &str, out: &mut Vec<Json>) -> Result<()> {
    walk(value, &mut String::new(), out).map_err(|(at, msg)| Error::Output {
        entry: entry.to_string(),
        at: if at.is_empty() { ".".into() } else { at },
        msg,
    })
}

type Walk = std::result::Result<(), (String, String)>;

fn walk(value: Json, at: &mut String, out: &mut Vec<Json>) -> Walk {
    match value {
        Json::Null => Ok(()),
        Json::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("[{i}]"));
                walk(item, at, out)?;
                at.truncate(len);
            }
            Ok(())
        }
        Json::Object(map) => object(map, at, out),
        other => Err((at.clone(), format!("a {} is not a Kubernetes object", kind_of(&other)))),
    }
}

fn object(mut map: Map<String, Json>, at: &mut String, out: &mut Vec<Json>) -> Walk {
    let api = map.get("apiVersion").and_then(Json::as_str);
    let kind = map.get("kind").and_then(Json::as_str);
    match (api, kind) {
        (Some("tanka.dev/v1alpha1"), Some("Environment")) => {
            let data = map.remove("data").unwrap_or(Json::Null);
            at.push_str(".data");
            walk(data, at, out)
        }
        (Some(_), Some(k)) if k.ends_with("List") && map.get("items").is_some_and(Json::is_array) => {
            let Some(Json::Array(items)) = map.remove("items") else { unreachable!("checked above") };
            for (i, item) in items.into_iter().enumerate() {
                let len = at.len();
                at.push_str(&format!(".items[{i}]"));
                match item {
                    Json::Object(_) => walk(item, at, out)?,
                    other => return Err((at.clone(), format!("a {} is not a Kubernetes object", kind_of(&other)))),
                }
                at.truncate(len);
            }
            Ok(())
        }
        (Some(_), Some(_)) => {
            out.push(Json::Object(map));
            Ok(())
        }
        _ if map.contains_key("apiVersion") || map.contains_key("kind") => Err((
            at.clone(),
            "an object with only one of apiVersion and kind (both must be strings) is not a Kubernetes object".into(),
        )),
        _ => {
            for (k, v) in map {
                let len = at.len();
                at.push('.');
                at.push_str(&k);
                walk(v, at, out)?;
                at.truncate(len);
            }
            Ok(())
        }
    }
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn objects(v: Json) -> Result<Vec<String>> {
        let mut out = Vec::new();
        flatten(v, "main.jsonnet", &mut out)?;
        Ok(out.iter().map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string()).collect())
    }

    fn cm(name: &str) -> Json {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
    }

    #[test]
    fn single_array_list_nested_and_tanka_shapes() {
        assert_eq!(objects(cm("a")).unwrap(), ["a"]);
        assert_eq!(objects(json!([cm("a"), null, [cm("b")]])).unwrap(), ["a", "b"]);
        assert_eq!(
            objects(json!({"apiVersion": "v1", "kind": "List", "items": [cm("a"), cm("b")]})).unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            objects(json!({"b": {"x": cm("b")}, "a": [cm("a")]})).unwrap(),
            ["b", "a"],
            "field order, as jsonnet emits it"
        );
        let env = json!({"apiVersion": "tanka.dev/v1alpha1", "kind": "Environment", "data": {"c": cm("c")}});
        assert_eq!(objects(env).unwrap(), ["c"]);
    }

    #[test]
    fn primitives_and_half_objects_are_errors_naming_their_place() {
        let e = objects(json!({"a": [cm("x"), 3]})).unwrap_err().to_string();
        assert_eq!(e, "main.jsonnet: output .a[1]: a number is not a Kubernetes object");
        let e = objects(json!({"a": {"kind": "ConfigMap"}})).unwrap_err().to_string();
        assert!(e.starts_with("main.jsonnet: output .a: an object with only one of"), "{e}");
        let e = objects(json!("text")).unwrap_err().to_string();
        assert_eq!(e, "main.jsonnet: output .: a string is not a Kubernetes object");
    }
}
