//! A program's output → Kubernetes objects, as Argo CD and Tanka read it:
//! an object with `apiVersion` and `kind` is one object (a `kind: List`, or
//! any `*List` with `items`, gives its items; a Tanka inline `Environment`
//! gives its `data`); any other object or array is walked, objects in
//! field order (Jsonnet sorts fields, so the order is stable), arrays in
//! order; `null` is skipped. Anything else is an error naming where it is.
//!
//! The walk runs on the evaluator's values and manifests each object on its
//! own as JSON text: the whole output is never turned into one text and
//! parsed back, and in the sandbox the text is what the host receives
//! (6,000 objects: that round trip was a tenth of the guest's time).

use jrsonnet_evaluator::manifest::JsonFormat;
use jrsonnet_evaluator::stack::check_depth;
use jrsonnet_evaluator::{ObjValue, ResultExt, State, Val};
use serde_json::Value as Json;

use crate::error::{Error, Result};

/// Why a walk stopped.
pub enum Stop {
    /// Evaluating or manifesting a value failed.
    Eval(jrsonnet_evaluator::Error),
    /// The value at `at` (`.a.b[2]`) is not an object or a walkable container.
    Shape {
        /// Where in the output.
        at: String,
        /// What is wrong.
        msg: String,
    },
}

impl From<jrsonnet_evaluator::Error> for Stop {
    fn from(e: jrsonnet_evaluator::Error) -> Self {
        Stop::Eval(e)
    }
}

type Walk = std::result::Result<(), Stop>;

/// Appends the objects of `value` to `out`, each as minified JSON text.
/// Must run inside the value's [`State`] (`state.enter()`).
pub fn flatten(value: Val, out: &mut Vec<String>) -> Walk {
    walk(value, &mut String::new(), out)
}

/// The objects of a Jsonnet or JSON text (say, the `jsonnet` binary's
/// output), by the same rules: what the tests compare the component with.
pub fn objects_of_snippet(text: &str, entry: &str) -> Result<Vec<Json>> {
    let state = State::default();
    let _entered = state.enter();
    let mut texts = Vec::new();
    let failed = |trace: String| Error::Eval { entry: entry.to_string(), trace };
    let value = state.evaluate_snippet(entry, text).map_err(|e| failed(e.to_string()))?;
    flatten(value, &mut texts).map_err(|stop| match stop {
        Stop::Eval(e) => failed(e.to_string()),
        Stop::Shape { at, msg } => Error::Output { entry: entry.to_string(), at: shown(at), msg },
    })?;
    texts.iter().map(|t| crate::error::json(t, entry)).collect()
}

/// `at` as errors show it: `.` for the top.
pub fn shown(at: String) -> String {
    if at.is_empty() { ".".into() } else { at }
}

fn walk(value: Val, at: &mut String, out: &mut Vec<String>) -> Walk {
    match value {
        Val::Null => Ok(()),
        Val::Arr(items) => {
            for (i, item) in items.iter().enumerate() {
                let item = item.with_description(|| format!("elem <{i}> evaluation"))?;
                nested(at, &format!("[{i}]"), |at| walk(item, at, out))?;
            }
            Ok(())
        }
        Val::Obj(obj) => object(obj, at, out),
        other => Err(not_an_object(at, &other)),
    }
}

fn object(obj: ObjValue, at: &mut String, out: &mut Vec<String>) -> Walk {
    let fields = obj.fields();
    let visible = |name: &str| fields.binary_search_by(|f| f.as_str().cmp(name)).is_ok();
    let field = |name: &str| -> std::result::Result<Option<Val>, Stop> {
        if !visible(name) {
            return Ok(None);
        }
        Ok(obj.get(name.into()).with_description(|| format!("field <{name}> evaluation"))?)
    };
    let api = field("apiVersion")?;
    let kind = field("kind")?;
    let (api_str, kind_str) = (api.as_ref().and_then(Val::as_str), kind.as_ref().and_then(Val::as_str));
    let list_items = match &kind_str {
        Some(k) if api_str.is_some() && k.ends_with("List") => match field("items")? {
            Some(Val::Arr(items)) => Some(items),
            _ => None,
        },
        _ => None,
    };
    if let Some(items) = list_items {
        for (i, item) in items.iter().enumerate() {
            let item = item.with_description(|| format!("elem <{i}> evaluation"))?;
            nested(at, &format!(".items[{i}]"), |at| match item {
                Val::Obj(_) => walk(item, at, out),
                other => Err(not_an_object(at, &other)),
            })?;
        }
        return Ok(());
    }
    match (api_str, kind_str) {
        (Some(api), Some(kind)) if &*api == "tanka.dev/v1alpha1" && &*kind == "Environment" => {
            let data = field("data")?.unwrap_or(Val::Null);
            nested(at, ".data", |at| walk(data, at, out))
        }
        (Some(_), Some(_)) => {
            out.push(Val::Obj(obj).manifest(JsonFormat::minify())?);
            Ok(())
        }
        _ if api.is_some() || kind.is_some() => Err(Stop::Shape {
            at: at.clone(),
            msg: "an object with only one of apiVersion and kind (both must be strings) is not a Kubernetes object"
                .into(),
        }),
        _ => {
            obj.run_assertions()?;
            for name in fields {
                let value = obj.get(name.clone()).with_description(|| format!("field <{name}> evaluation"))?;
                let value = value.expect("a visible field exists");
                nested(at, &format!(".{name}"), |at| walk(value, at, out))?;
            }
            Ok(())
        }
    }
}

/// Runs `f` one level down, at `at` + `step`, as a jsonnet stack frame
/// (so `maxStack` bounds the output's nesting as it bounds calls; what
/// `in_description_frame` does, without copying the path for every step).
fn nested(at: &mut String, step: &str, f: impl FnOnce(&mut String) -> Walk) -> Walk {
    let len = at.len();
    at.push_str(step);
    let result = match check_depth() {
        Ok(_depth) => f(at).map_err(|stop| match stop {
            Stop::Eval(e) => {
                Stop::Eval(Err::<(), _>(e).with_description(|| format!("output {at}")).expect_err("still an error"))
            }
            shape => shape,
        }),
        Err(overflow) => Err(Stop::Eval(overflow.into())),
    };
    at.truncate(len);
    result
}

fn not_an_object(at: &str, value: &Val) -> Stop {
    Stop::Shape { at: at.to_string(), msg: format!("a {} is not a Kubernetes object", value.value_type()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(program: &str) -> Result<Vec<String>> {
        let found = objects_of_snippet(program, "main.jsonnet")?;
        Ok(found.iter().map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string()).collect())
    }

    fn cm(name: &str) -> String {
        format!(r#"{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "{name}"}}}}"#)
    }

    #[test]
    fn single_array_list_nested_and_tanka_shapes() {
        assert_eq!(objects(&cm("a")).unwrap(), ["a"]);
        assert_eq!(objects(&format!("[{}, null, [{}]]", cm("a"), cm("b"))).unwrap(), ["a", "b"]);
        let list = format!(r#"{{"apiVersion": "v1", "kind": "List", "items": [{}, {}]}}"#, cm("a"), cm("b"));
        assert_eq!(objects(&list).unwrap(), ["a", "b"]);
        assert_eq!(
            objects(&format!(r#"{{"b": {{"x": {}}}, "a": [{}]}}"#, cm("b"), cm("a"))).unwrap(),
            ["a", "b"],
            "field order, as jsonnet emits it (sorted)"
        );
        let env =
            format!(r#"{{"apiVersion": "tanka.dev/v1alpha1", "kind": "Environment", "data": {{"c": {}}}}}"#, cm("c"));
        assert_eq!(objects(&env).unwrap(), ["c"]);
    }

    #[test]
    fn hidden_fields_are_not_output() {
        let hidden = format!("{{kind:: 'ConfigMap', x: {}}}", cm("x"));
        assert_eq!(objects(&hidden).unwrap(), ["x"], "a hidden kind does not make an object");
        let hidden_object = format!("{{a:: {}, b: {}}}", cm("a"), cm("b"));
        assert_eq!(objects(&hidden_object).unwrap(), ["b"]);
    }

    #[test]
    fn primitives_and_half_objects_are_errors_naming_their_place() {
        let e = objects(&format!(r#"{{"a": [{}, 3]}}"#, cm("x"))).unwrap_err().to_string();
        assert_eq!(e, "main.jsonnet: output .a[1]: a number is not a Kubernetes object");
        let e = objects(r#"{"a": {"kind": "ConfigMap"}}"#).unwrap_err().to_string();
        assert!(e.starts_with("main.jsonnet: output .a: an object with only one of"), "{e}");
        let e = objects(r#""text""#).unwrap_err().to_string();
        assert_eq!(e, "main.jsonnet: output .: a string is not a Kubernetes object");
        let e = objects("{a: function(x) x}").unwrap_err().to_string();
        assert_eq!(e, "main.jsonnet: output .a: a function is not a Kubernetes object");
    }

    #[test]
    fn errors_while_walking_carry_the_place_and_assertions_run() {
        let e = objects("{a: {b: error 'boom'}}").unwrap_err().to_string();
        assert!(e.contains("boom") && e.contains("output .a"), "{e}");
        let e = objects("{assert false : 'wrapper refused', a: null}").unwrap_err().to_string();
        assert!(e.contains("wrapper refused"), "{e}");
    }
}
