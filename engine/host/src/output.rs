//! What a plugin returns, checked before the engine sees it: the caps on
//! objects, bytes and diagnostics, and a JSON decoder with a budget.
//!
//! Decoded JSON takes many times its text in memory (`[0,0,0,…]`: two
//! bytes of text, 80 of `serde_json::Value`), so one 60 MB output once made
//! the host hold 1.7 GB. Each object is therefore refused above
//! [`Limits::object_bytes`] before it is parsed, and parsed by [`Budget`]:
//! a `serde` seed that counts every value against [`Limits::max_nodes`] and
//! every level of nesting against [`MAX_DEPTH`] as it builds the value, so
//! a pathological output fails after at most its budget was allocated, not
//! after all of it. The same decoder refuses duplicate keys (as the YAML
//! loader does): JSON's "last one wins" let a second `metadata` move an
//! object to another namespace behind every reader's back.
//!
//! Diagnostics are text for people: every string in one is escaped
//! ([`escape_untrusted`]) on its way in.

use std::fmt;

use capstan_types::text::escape_untrusted;
use capstan_types::{Diagnostic, Object, ObjectRef, Severity};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Value};

use crate::bindings::types;
use crate::leash::MAX_DEPTH;
use crate::{Error, Limits, Rendered, Result};

/// Refuses more than `limits.max_objects` objects or diagnostics.
pub(crate) fn check_count(plugin: &str, what: &str, count: usize, limits: &Limits) -> Result<()> {
    if count > limits.max_objects {
        return Err(cap(plugin, format!("{count} {what}, over the cap of {}", limits.max_objects)));
    }
    Ok(())
}

fn cap(plugin: &str, reason: String) -> Error {
    Error::OutputCap { plugin: plugin.to_owned(), reason }
}

/// The objects and diagnostics of a renderer's or transformer's output.
pub(crate) fn decode(plugin: &str, output: types::Output, limits: &Limits) -> Result<Rendered> {
    check_count(plugin, "objects", output.items.len(), limits)?;
    check_count(plugin, "diagnostics", output.results.len(), limits)?;
    let bytes: usize = output.items.iter().map(String::len).sum();
    if bytes > limits.output_bytes {
        return Err(cap(plugin, format!("{bytes} bytes of objects, over the cap of {}", limits.output_bytes)));
    }
    if let Some((index, text)) = output.items.iter().enumerate().find(|(_, t)| t.len() > limits.object_bytes) {
        return Err(cap(
            plugin,
            format!("item {index} is {} bytes, over the cap of {} for one object", text.len(), limits.object_bytes),
        ));
    }
    let mut budget =
        Budget { nodes_left: limits.max_nodes(), depth: 0, path: String::new(), marks: Vec::new(), exceeded: None };
    let mut objects = Vec::with_capacity(output.items.len());
    // Each text is dropped once decoded, so text and values of the whole
    // output are never held twice over.
    for (index, text) in output.items.into_iter().enumerate() {
        let value = budget.decode(&text).map_err(|source| match budget.exceeded.take() {
            Some(reason) => cap(plugin, format!("item {index}: {reason}")),
            None => garbage(plugin, index, capstan_types::ObjectError::Json(source)),
        })?;
        objects.push(Object::new(value).map_err(|source| garbage(plugin, index, source))?);
    }
    Ok(Rendered {
        objects,
        diagnostics: output.results.into_iter().map(diagnostic).collect(),
        plugins: Vec::new(),
        verdicts: Vec::new(),
    })
}

fn garbage(plugin: &str, index: usize, source: capstan_types::ObjectError) -> Error {
    Error::Garbage { plugin: plugin.to_owned(), index, source }
}

/// Converts a WIT diagnostic into the engine's type, escaping its text.
pub(crate) fn diagnostic(d: types::Diagnostic) -> Diagnostic {
    let clean = |text: String| escape_untrusted(&text).into_owned();
    Diagnostic {
        severity: match d.severity {
            types::Severity::Error => Severity::Error,
            types::Severity::Warning => Severity::Warning,
            types::Severity::Info => Severity::Info,
        },
        message: clean(d.message),
        object: d.object.map(|o| ObjectRef {
            api_version: clean(o.api_version),
            kind: clean(o.kind),
            namespace: o.namespace.map(clean),
            name: clean(o.name),
        }),
        field: d.field.map(clean),
        file: d.file.map(clean),
    }
}

/// What is left of a call's decoding budget, and where the decoder is.
struct Budget {
    /// JSON values the rest of the output may hold.
    nodes_left: usize,
    /// Nesting level of the value being decoded.
    depth: usize,
    /// Keys from the object's root to the value being decoded, as a JSON
    /// pointer (`/metadata/labels`), raw: escaped only for an error message.
    path: String,
    /// Where each key of `path` starts, to drop it again.
    marks: Vec<usize>,
    /// Which budget ran out, when one did (the decoder's error is then
    /// about the cap, not about bad JSON).
    exceeded: Option<String>,
}

impl Budget {
    /// One object's text, as a value, within the budget.
    fn decode(&mut self, text: &str) -> serde_json::Result<Value> {
        self.depth = 0;
        self.path.clear();
        self.marks.clear();
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let value = Node(self).deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(value)
    }

    /// Counts one value; fails once the budget is spent.
    fn take<E: de::Error>(&mut self) -> Result<(), E> {
        if self.nodes_left == 0 {
            return Err(self.exceed("more JSON values than the output may hold (maxOutputBytes / 32); raise spec.limits.maxOutputBytes if this output is real".to_owned()));
        }
        self.nodes_left -= 1;
        Ok(())
    }

    /// Enters an array or object.
    fn enter<E: de::Error>(&mut self) -> Result<(), E> {
        self.take::<E>()?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.exceed(format!("nested deeper than {MAX_DEPTH} levels at {}", self.pointer())));
        }
        Ok(())
    }

    fn exceed<E: de::Error>(&mut self, reason: String) -> E {
        let error = E::custom(&reason);
        self.exceeded = Some(reason);
        error
    }

    /// `/metadata/labels`: where the decoder is, as a JSON pointer, escaped.
    fn pointer(&self) -> String {
        if self.path.is_empty() { "/".to_owned() } else { escape_untrusted(&self.path).into_owned() }
    }

    /// Enters the value under `key`. Keys are kept raw, in one string, and
    /// escaped only when an error quotes them (escaping is per character,
    /// so the pointer reads the same): a copy of every key of every object
    /// cost a fifth of decoding a 4,000-object output.
    fn push(&mut self, key: &str) {
        self.marks.push(self.path.len());
        self.path.push('/');
        self.path.push_str(key);
    }

    fn pop(&mut self) {
        if let Some(mark) = self.marks.pop() {
            self.path.truncate(mark);
        }
    }
}

/// Decodes one value under a [`Budget`].
struct Node<'a>(&'a mut Budget);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.take().map(|()| Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.take().map(|()| Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.take().map(|()| Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.take::<E>()?;
        // JSON text has no NaN or infinity, so this never falls back.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.take().map(|()| Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.0.take().map(|()| Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.take().map(|()| Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.enter::<A::Error>()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Node(&mut *self.0))? {
            items.push(item);
        }
        self.0.depth -= 1;
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.enter::<A::Error>()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // One lookup finds a duplicate and the place to insert.
            let slot = match object.entry(key) {
                Entry::Vacant(slot) => slot,
                Entry::Occupied(taken) => {
                    let at = self.0.pointer();
                    return Err(de::Error::custom(format!(
                        "duplicate key {:?} in {at}",
                        escape_untrusted(taken.key())
                    )));
                }
            };
            self.0.push(slot.key());
            let value = map.next_value_seed(Node(&mut *self.0))?;
            self.0.pop();
            slot.insert(value);
        }
        self.0.depth -= 1;
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_one(text: &str, limits: &Limits) -> Result<Rendered> {
        decode("test:p", types::Output { items: vec![text.to_owned()], results: Vec::new() }, limits)
    }

    /// The error and its causes, on one line.
    fn error(text: &str, limits: &Limits) -> String {
        let error = decode_one(text, limits).unwrap_err();
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }

    const CM: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}"#;

    #[test]
    fn a_plain_object_decodes_in_order() {
        let text = format!(r#"{CM},"data":{{"b":"1","a":[1,-2,3.5,true,null]}}}}"#);
        let rendered = decode_one(&text, &Limits::default()).unwrap();
        assert_eq!(rendered.objects[0].as_value().to_string(), text);
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_place() {
        let text = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"metadata":{"name":"a","namespace":"kube-system"}}"#;
        assert_eq!(
            error(text, &Limits::default()),
            "plugin test:p: returned garbage: item 0 is not a Kubernetes object: invalid JSON: duplicate key \"metadata\" in / at line 1 column 72"
        );
        let nested = format!(r#"{CM},"data":{{"x":{{"k":1,"k":2}}}}}}"#);
        assert!(error(&nested, &Limits::default()).contains("duplicate key \"k\" in /data/x"));
    }

    #[test]
    fn deep_nesting_is_refused_at_the_cap() {
        let deep = format!(r#"{CM},"data":{}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert_eq!(
            error(&deep, &Limits::default()),
            format!("plugin test:p: output rejected: item 0: nested deeper than {MAX_DEPTH} levels at /data")
        );
        let fine = format!(r#"{CM},"data":{{"x":{}{}}}}}"#, "[".repeat(90), "]".repeat(90));
        decode_one(&fine, &Limits::default()).unwrap();
    }

    #[test]
    fn many_tiny_values_run_out_of_budget() {
        let limits = Limits { output_bytes: 64_000, ..Limits::default() };
        assert_eq!(limits.max_nodes(), 2_000);
        let tiny = format!(r#"{CM},"data":[{}0]}}"#, "0,".repeat(3_000));
        assert!(
            error(&tiny, &limits)
                .starts_with("plugin test:p: output rejected: item 0: more JSON values than the output may hold"),
        );
    }

    #[test]
    fn one_object_over_its_cap_is_refused_before_parsing() {
        let limits = Limits { object_bytes: 100, ..Limits::default() };
        let big = format!(r#"{CM},"data":{{"x":"{}"}}}}"#, "y".repeat(100));
        assert_eq!(
            error(&big, &limits),
            "plugin test:p: output rejected: item 0 is 178 bytes, over the cap of 100 for one object"
        );
    }

    #[test]
    fn diagnostic_text_is_escaped() {
        let d = diagnostic(types::Diagnostic {
            severity: types::Severity::Warning,
            message: "ok\n\x1b[2Jerror: application x".into(),
            object: None,
            field: Some("spec\r".into()),
            file: None,
        });
        assert_eq!(d.message, r"ok\n\u{1b}[2Jerror: application x");
        assert_eq!(d.field.as_deref(), Some(r"spec\r"));
    }
}
