//! Reading YAML as Helm does (`sigs.k8s.io/yaml.Unmarshal` over go-yaml
//! v2): plain scalars resolve with YAML 1.1 rules (`yes`, `on`, `y` are
//! true, `0755` is 493, as [`capstan_plugin::yaml::resolve_plain`] says),
//! quoted ones stay strings, a repeated key silently wins (go-yaml's
//! non-strict mode, which Helm uses for values files, `fromYaml` and its
//! manifests), `<<` merges apply. Values files then hold every number as a
//! `float64` ([`values`]), as after Go's `json.Unmarshal`.
//!
//! Most text (rendered manifests above all) is plain block YAML: it is read
//! by the SDK's line reader ([`capstan_plugin::yaml::read_plain_block`]),
//! which gives the same values as the event reader here or declines; the
//! event reader reads the rest and words the errors.

use std::collections::HashMap;

use capstan_plugin::yaml::{JsonDoc, Rules, read_plain_block, read_plain_block_json, resolve_plain};
use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

/// Nodes that aliases may expand to in one document: an alias bomb is
/// refused long before it fills memory.
const MAX_ALIAS_NODES: usize = 1_000_000;

enum Frame {
    Seq { items: Vec<Value>, anchor: usize },
    Map { map: Map<String, Value>, key: Option<Key>, merges: Vec<Value>, anchor: usize },
}

enum Key {
    Name(String),
    Merge,
}

/// go-yaml's error text: `yaml: line N: MSG` (no line on the first one).
fn error(line: usize, msg: &str) -> String {
    if line > 1 { format!("yaml: line {line}: {msg}") } else { format!("yaml: {msg}") }
}

/// The first document of `text` (null when there is none).
pub fn parse(text: &str) -> Result<Value, String> {
    match plain_block(text) {
        Some(value) => Ok(value),
        None => events(text),
    }
}

/// Whether the SDK's line reader would see one document at most in `text`
/// (it reads every document of a stream, where Helm takes the first).
fn one_document(text: &str) -> bool {
    // One searcher for every text (`str::contains` sets one up per call,
    // which showed in profiles of umbrella renders).
    static SEPARATOR: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("\n---"));
    !text.starts_with("---") && SEPARATOR.find(text.as_bytes()).is_none()
}

/// The SDK's line reader on text of one document at most: `None` when
/// there may be more, or outside its subset.
fn plain_block(text: &str) -> Option<Value> {
    if !one_document(text) {
        return None;
    }
    // Without a `---` line the reader sees one document: none or one value.
    read_plain_block(text, Rules::Kubectl)?.pop().or(Some(Value::Null))
}

/// [`parse`] of text the line reader takes, as JSON text: `Some(None)` for
/// a null document, `None` when [`parse`] has to read it.
pub fn parse_json(text: &str) -> Option<Option<JsonDoc>> {
    if !one_document(text) {
        return None;
    }
    read_plain_block_json(text, Rules::Kubectl).map(|mut docs| docs.pop())
}

/// The first document of `text`, read event by event: every construct,
/// and go-yaml's errors.
fn events(text: &str) -> Result<Value, String> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Value, usize)> = HashMap::new();
    let mut expanded = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| error(e.marker().line(), e.info()))?;
        let err = |msg: &str| error(span.start.line(), msg);
        let (value, anchor) = match event {
            Event::DocumentEnd => break,
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain && tag.as_ref().is_none_or(|t| t.suffix != "str");
                if plain && let Some(Frame::Map { key: key @ None, .. }) = stack.last_mut() {
                    if text == "<<" {
                        *key = Some(Key::Merge);
                        continue;
                    }
                    // An anchored key is kept as a value first (below).
                    if anchor == 0 {
                        *key = Some(Key::Name(plain_key(&text).map_err(|m| err(&m))?));
                        continue;
                    }
                }
                (if plain { resolve_plain(&text) } else { Value::String(text.into_owned()) }, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq { items: Vec::new(), anchor });
                continue;
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map { map: Map::new(), key: None, merges: Vec::new(), anchor });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq { items, anchor }) => (Value::Array(items), anchor),
                Some(Frame::Map { mut map, merges, anchor, .. }) => {
                    // Explicit keys win over merged ones; earlier merges over later.
                    for merged in merges {
                        let Value::Object(merged) = merged else { return Err(err("map merge requires map")) };
                        for (k, v) in merged {
                            map.entry(k).or_insert(v);
                        }
                    }
                    (Value::Object(map), anchor)
                }
                None => return Err(err("unbalanced collection")),
            },
            Event::Alias(id) => {
                let (value, nodes) = anchors.get(&id).ok_or_else(|| err("unknown anchor referenced"))?;
                expanded += nodes;
                if expanded > MAX_ALIAS_NODES {
                    return Err(err("document contains excessive aliasing"));
                }
                (value.clone(), 0)
            }
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, (value.clone(), count_nodes(&value)));
        }
        match stack.last_mut() {
            None => return Ok(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, merges, .. }) => match key.take() {
                None => *key = Some(Key::Name(json_key(value).map_err(|m| err(&m))?)),
                Some(Key::Merge) => match value {
                    Value::Array(items) => merges.extend(items),
                    other => merges.push(other),
                },
                Some(Key::Name(k)) => {
                    map.insert(k, value);
                }
            },
        }
    }
    Ok(Value::Null)
}

/// A plain scalar key as sigs.k8s.io/yaml turns it into a JSON key, as the
/// SDK's line reader makes it (a float as a float32: `1e6` is `"1e+06"`);
/// keys the SDK refuses (null, beyond int64) as [`json_key`] makes them.
fn plain_key(text: &str) -> Result<String, String> {
    Rules::Kubectl.plain_key(text).or_else(|_| json_key(resolve_plain(text)))
}

/// A scalar key as sigs.k8s.io/yaml turns it into a JSON key.
fn json_key(key: Value) -> Result<String, String> {
    match key {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok("null".into()),
        _ => Err("invalid map key".into()),
    }
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// A values document: [`parse`], then every number a float (Helm's values
/// are `float64` however they are written; only `--set` makes an `int64`).
pub fn values(text: &str) -> Result<Value, String> {
    let mut v = parse(text)?;
    floats(&mut v);
    Ok(v)
}

/// Turns every number into a float, as Go's `json.Unmarshal` into `interface{}`.
pub fn floats(v: &mut Value) {
    match v {
        Value::Number(n) if !n.is_f64() => {
            if let Some(f) = n.as_f64().and_then(Number::from_f64) {
                *n = f;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(floats),
        Value::Object(map) => map.values_mut().for_each(floats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{events, parse, plain_block, values};

    #[test]
    fn float_keys_read_as_sigs_k8s_yaml_writes_them() {
        // What `helm template` prints for `{{ range $k, $v := .Values.m }}`.
        let want = serde_json::json!({"1e+06": "a", "1.2345679": "b", "1000": "c", "0.1": "d"});
        let text = "1e6: a\n1.23456789: b\n1e3: c\n0.1: d\n";
        assert!(plain_block(text).is_some(), "the line reader declined");
        assert_eq!(parse(text).unwrap(), want);
        assert_eq!(events(text).unwrap(), want);
    }

    #[test]
    fn only_the_first_document_is_read() {
        assert_eq!(parse("a: 1\n---\nb: 2\n").unwrap(), serde_json::json!({"a": 1}));
        assert_eq!(parse("---\n---\nb: 2\n").unwrap(), serde_json::Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap(), serde_json::Value::Null);
        assert_eq!(parse("").unwrap(), serde_json::Value::Null);
    }

    /// Every document of every file of the Helm corpus (charts, values,
    /// golden outputs): where the line reader takes it, the event reader
    /// reads the same, key order included.
    #[test]
    fn the_line_reader_agrees_with_the_event_reader_on_the_corpus() {
        let (mut docs, mut taken) = (0, 0);
        let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/helm")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else { continue };
                for doc in crate::manifest::split(&text) {
                    docs += 1;
                    let Some(fast) = plain_block(doc) else { continue };
                    taken += 1;
                    let slow = events(doc).map(|v| v.to_string());
                    assert_eq!(Ok(fast.to_string()), slow, "{}:\n{doc}", path.display());
                }
            }
        }
        eprintln!("line reader: {taken} of {docs} corpus documents");
        assert!(taken * 2 > docs, "only {taken} of {docs} corpus documents were read by the line reader");
    }

    #[test]
    fn yaml_1_1_scalars_and_last_key_wins() {
        let v = parse("a: yes\nb: \"yes\"\nc: 0755\nd: 2001-12-14\ny: 1\na: no\n").unwrap();
        assert_eq!(v, serde_json::json!({"a": false, "b": "yes", "c": 493, "d": "2001-12-14", "true": 1}));
        let v = values("num: 3\nf: 1.5\nl: [1]\n").unwrap();
        assert!(v["num"].is_f64() && v["f"].is_f64() && v["l"][0].is_f64());
    }

    #[test]
    fn alias_bomb_is_refused() {
        // Nine levels of ten aliases each: 10^9 nodes if expanded.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.contains("excessive aliasing"), "{err}");
    }

    #[test]
    fn errors_read_as_go_yaml() {
        let err = parse("a: b: c\n").unwrap_err();
        assert!(err.starts_with("yaml: mapping values are not allowed"), "{err}");
        let err = parse("a: 1\nb: [\n").unwrap_err();
        assert!(err.starts_with("yaml: line "), "{err}");
    }
}
