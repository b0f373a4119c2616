//! Reading YAML the way Kubernetes tools do. kubectl and the API machinery
//! read with sigs.k8s.io/yaml over go-yaml v2, i.e. YAML 1.1 resolution of
//! *plain* scalars (`0755` is 493, `yes`/`on`/`y` are `true`, `1_000` is
//! 1000) while quoted scalars stay strings; dates and sexagesimal numbers
//! stay strings there too ([`Rules::Kubectl`], [`from_str`]). kustomize reads
//! resources and strategic-merge patches with go-yaml v3 instead and writes
//! them out through JSON ([`Rules::Kustomize`]).
//!
//! [`read`] takes a fast path (`fast`) for the plain block YAML most
//! manifests are written in and falls back to the event reader for the
//! rest; both give the same values (the fast path is tested against the
//! event reader, the event reader against kubectl and kustomize).

mod fast;
mod plain;
mod timestamp;

pub use plain::PlainValue;

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

/// Nodes that aliases may expand to in one stream: an alias bomb is refused
/// long before it fills memory.
const MAX_ALIAS_NODES: usize = 1_000_000;

/// A document kubectl would not read, with the line (1-based) it is on.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    /// The line of the offending node.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Whose reading of plain scalars and keys to follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Rules {
    /// kubectl and the API machinery (`kubectl apply -f`, kustomization
    /// files, JSON 6902 patches): YAML 1.1, as [`resolve_plain`].
    #[default]
    Kubectl,
    /// kustomize's resources and strategic-merge patches (go-yaml v3, then
    /// JSON): only `true`/`false` in three spellings are booleans (`yes`
    /// stays a string), numbers read as kubectl reads them (`0755` is still
    /// 493), timestamps become RFC 3339 text (`2001-12-14` is
    /// `2001-12-14T00:00:00Z`), and a key that is not a string is an error.
    Kustomize,
}

impl Rules {
    /// What a plain (unquoted, untagged) scalar means under these rules.
    pub fn resolve(self, s: &str) -> Value {
        self.resolve_other(s).unwrap_or_else(|| s.into())
    }

    /// [`Rules::resolve`], `None` when the scalar means the string it is
    /// (most do: a writer of JSON then copies the text as it is).
    fn resolve_other(self, s: &str) -> Option<Value> {
        match self {
            Rules::Kubectl => resolve_plain_other(s),
            Rules::Kustomize => match s {
                "" | "~" | "null" | "Null" | "NULL" => Some(Value::Null),
                "true" | "True" | "TRUE" => Some(Value::Bool(true)),
                "false" | "False" | "FALSE" => Some(Value::Bool(false)),
                _ => timestamp::to_rfc3339(s).map(Value::String).or_else(|| number(s)),
            },
        }
    }

    /// The JSON key a plain scalar key becomes (under [`Rules::Kubectl`],
    /// a float key is written as sigs.k8s.io/yaml writes it, as a float32:
    /// `1e6` is `"1e+06"`).
    pub fn plain_key(self, text: &str) -> Result<String, String> {
        match self {
            Rules::Kubectl => plain_key(text),
            Rules::Kustomize if timestamp::to_rfc3339(text).is_some() => Err(not_a_string(text, "a timestamp")),
            Rules::Kustomize => self.key(self.resolve(text)),
        }
    }

    /// The JSON key a scalar key (of any style) becomes.
    fn key(self, key: Value) -> Result<String, String> {
        match (self, key) {
            (_, Value::String(s)) => Ok(s),
            (Rules::Kustomize, key) => Err(not_a_string(&key.to_string(), kind_of(&key))),
            (Rules::Kubectl, key) => json_key(key),
        }
    }
}

fn not_a_string(key: &str, kind: &str) -> String {
    format!("the mapping key {key} reads as {kind}, and kustomize takes only string keys: quote it")
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        _ => "a collection",
    }
}

/// A key waiting for its value: a JSON key, or go-yaml's merge key `<<`.
enum Key {
    Name(String),
    Merge,
}

enum Frame {
    Seq { items: Vec<Value>, anchor: usize },
    Map { map: Map<String, Value>, key: Option<Key>, merges: Vec<Value>, anchor: usize, flow: bool },
}

/// The non-null documents of a YAML stream, read as kubectl reads them:
/// plain scalars by [`resolve_plain`], quoted and block scalars and
/// `!!str` as strings, keys as JSON keys (`true: x` has the key `"true"`),
/// `<<` merges applied, the last of duplicate keys kept. Null or non-scalar
/// keys and alias bombs are errors.
pub fn from_str(text: &str) -> Result<Vec<Value>, YamlError> {
    read(text, Rules::Kubectl)
}

/// [`from_str`] under the given rules.
pub fn read(text: &str, rules: Rules) -> Result<Vec<Value>, YamlError> {
    match fast::parse(text, rules) {
        Some(docs) => Ok(docs),
        None => from_events(text, rules, None),
    }
}

/// The fast path of [`read`] alone: the non-null documents of `text`, or
/// `None` when it uses anything outside the plain block YAML the line
/// reader knows. For a reader with its own event reader (builtin:helm
/// takes the first document only and words errors as go-yaml) that wants
/// the same fast path: whatever this returns, [`read`] returns too.
pub fn read_plain_block(text: &str, rules: Rules) -> Option<Vec<Value>> {
    fast::parse(text, rules)
}

/// A document as JSON text, and where the values of its top-level mapping's
/// keys are in that text (none when it is not a mapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonDoc {
    /// The document as `serde_json` encodes its value (keys in document order).
    pub text: String,
    /// Top-level keys, in order, with their values' byte ranges in `text`.
    pub fields: Vec<(String, std::ops::Range<usize>)>,
}

impl JsonDoc {
    /// The JSON text of the value of the top-level key `key`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, at)| &self.text[at.clone()])
    }
}

/// [`read_plain_block`] straight to JSON text: the same documents, encoded
/// as `serde_json` encodes the values, without building them (a renderer
/// that hands its objects to the host as JSON reads and writes each once).
pub fn read_plain_block_json(text: &str, rules: Rules) -> Option<Vec<JsonDoc>> {
    fast::parse_json(text, rules)
}

/// [`read`], and for each document its plain values that did not read as
/// strings, with their text (see [`PlainValue`]), at least when it holds a
/// null or `recheck` asks for them (the fast path gives none). Values under `<<` merges are not
/// marked.
pub fn read_with_plain_values(
    text: &str,
    rules: Rules,
    recheck: impl Fn(&Value) -> bool,
) -> Result<Vec<(Value, Vec<PlainValue>)>, YamlError> {
    if let Some(docs) = fast::parse(text, rules)
        && !docs.iter().any(|doc| plain::holds_null(doc) || recheck(doc))
    {
        return Ok(docs.into_iter().map(|doc| (doc, Vec::new())).collect());
    }
    let mut marks = Vec::new();
    let docs = from_events(text, rules, Some(&mut marks))?;
    Ok(docs.into_iter().zip(marks).collect())
}

/// The pointer of the value being read in `stack`, or `None` under a merge.
fn pointer(stack: &[Frame]) -> Option<String> {
    let mut pointer = String::new();
    for frame in stack {
        match frame {
            Frame::Seq { items, .. } => plain::push_token(&mut pointer, &items.len().to_string()),
            Frame::Map { key: Some(Key::Name(k)), .. } => plain::push_token(&mut pointer, k),
            Frame::Map { .. } => return None,
        }
    }
    Some(pointer)
}

/// [`read`] without the fast path: every construct, and the errors. With
/// `marks`, the plain values of each document read are pushed to it.
fn from_events(
    stream: &str,
    rules: Rules,
    mut marks: Option<&mut Vec<Vec<PlainValue>>>,
) -> Result<Vec<Value>, YamlError> {
    let mut plain_values: Vec<PlainValue> = Vec::new();
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Value, usize)> = HashMap::new();
    let mut expanded = 0usize;
    let unterminated = Unterminated::of(stream);
    let terminated;
    let stream = match unterminated {
        Some(_) => {
            terminated = format!("{stream}\n");
            terminated.as_str()
        }
        None => stream,
    };
    for event in Parser::new_from_str(stream) {
        let (event, span) = event.map_err(|e| YamlError { line: e.marker().line(), message: e.info().to_owned() })?;
        let line = span.start.line();
        let err = |message: String| YamlError { line, message };
        let (value, anchor) = match event {
            Event::DocumentStart(_) => {
                anchors.clear();
                plain_values.clear();
                continue;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain && tag.as_ref().is_none_or(|t| t.suffix != "str");
                if plain
                    && anchor == 0
                    && let Some(Frame::Map { key: key @ None, .. }) = stack.last_mut()
                {
                    let name = if text == "<<" { Key::Merge } else { Key::Name(rules.plain_key(&text).map_err(err)?) };
                    *key = Some(name);
                    continue;
                }
                if marks.is_some()
                    && plain
                    && tag.is_none()
                    && let Some(Frame::Map { flow, .. }) = stack.last()
                    && !matches!(rules.resolve(&text), Value::String(ref s) if *s == *text)
                    && let Some(pointer) = pointer(&stack)
                {
                    plain_values.push(PlainValue { pointer, text: text.to_string(), in_flow: *flow });
                }
                let mut text = text.into_owned();
                if let Some(u) = &unterminated
                    && matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                {
                    u.trim(span.end.index(), &mut text);
                }
                let value = if plain { rules.resolve(&text) } else { Value::String(text) };
                (value, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq { items: Vec::new(), anchor });
                continue;
            }
            Event::MappingStart(anchor, _) => {
                // A flow mapping's start event spans its `{`.
                let flow = span.end.index() > span.start.index();
                stack.push(Frame::Map { map: Map::new(), key: None, merges: Vec::new(), anchor, flow });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq { items, anchor }) => (Value::Array(items), anchor),
                Some(Frame::Map { mut map, merges, anchor, .. }) => {
                    // Explicit keys win over merged ones; earlier merges over later.
                    for merged in merges {
                        let Value::Object(merged) = merged else {
                            return Err(err("`<<` merges only mappings".into()));
                        };
                        for (k, v) in merged {
                            map.entry(k).or_insert(v);
                        }
                    }
                    (Value::Object(map), anchor)
                }
                None => return Err(err("unbalanced collection".into())),
            },
            Event::Alias(id) => {
                let (value, nodes) = anchors.get(&id).ok_or_else(|| err("alias to an unknown anchor".into()))?;
                expanded += nodes;
                if expanded > MAX_ALIAS_NODES {
                    return Err(err(format!("aliases expand to more than {MAX_ALIAS_NODES} nodes")));
                }
                (value.clone(), 0)
            }
            _ => continue,
        };
        if anchor != 0 {
            anchors.insert(anchor, (value.clone(), count_nodes(&value)));
        }
        match stack.last_mut() {
            None => {
                if !value.is_null() {
                    docs.push(value);
                    if let Some(marks) = marks.as_deref_mut() {
                        marks.push(std::mem::take(&mut plain_values));
                    }
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, merges, .. }) => match key.take() {
                None => *key = Some(Key::Name(rules.key(value).map_err(err)?)),
                Some(Key::Merge) => match value {
                    Value::Array(items) => merges.extend(items),
                    other => merges.push(other),
                },
                Some(Key::Name(k)) => {
                    // kubectl keeps the last value of a duplicate key;
                    // go-yaml v3 (kustomize) refuses it.
                    if rules == Rules::Kustomize && map.contains_key(&k) {
                        return Err(err(format!("duplicate key {k:?}")));
                    }
                    map.insert(k, value);
                }
            },
        }
    }
    Ok(docs)
}

/// A stream whose last line has no line break. saphyr's reader takes the
/// end of such a stream for a line break, go-yaml counts only the breaks
/// that are there: a block scalar running to the end has one fewer in
/// go-yaml (`a: |\n  x` is `"x"`, `a: |+\n  x\n\n  ` is `"x\n\n"`). So
/// the stream is read with a break added, and the scalar loses it again.
struct Unterminated {
    /// Characters up to the end of the last non-space content.
    content_end: usize,
    /// Whether the last line holds only spaces.
    last_line_blank: bool,
}

impl Unterminated {
    fn of(text: &str) -> Option<Self> {
        let last = text.rsplit('\n').next().filter(|l| !l.is_empty())?;
        Some(Self { content_end: text.trim_end().chars().count(), last_line_blank: last.trim().is_empty() })
    }

    /// Drops the break that the added one gave a block scalar ending at
    /// `end`. After a line of content, clip and keep chomping both kept
    /// it; after a blank line, only keep did (clip ends in exactly one
    /// break, or none when the scalar is empty).
    fn trim(&self, end: usize, value: &mut String) {
        let added = if self.last_line_blank { value.ends_with("\n\n") || value == "\n" } else { value.ends_with('\n') };
        if end >= self.content_end && added {
            value.pop();
        }
    }
}

/// A plain scalar key as sigs.k8s.io/yaml turns it into a JSON key: as
/// [`json_key`], except that a float is written as Go writes a float32
/// (`1e3` is `"1000"`, `1e6` is `"1e+06"`).
fn plain_key(text: &str) -> Result<String, String> {
    let digits = if text.contains('_') { Cow::Owned(text.replace('_', "")) } else { Cow::Borrowed(text) };
    match resolve_plain(text) {
        Value::Number(_) if go_parse_int(&digits).is_none() => {
            Ok(go_float32_key(digits.parse::<f64>().map_err(|e| e.to_string())?))
        }
        value => json_key(value),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`, with go-yaml's names for
/// the infinities.
fn go_float32_key(f: f64) -> String {
    #[allow(clippy::cast_possible_truncation)] // Go rounds to float32 here too.
    let single = f as f32;
    if single.is_infinite() {
        return if single > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    let sci = format!("{single:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        single.to_string()
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    }
}

/// A scalar key as sigs.k8s.io/yaml turns it into a JSON key.
fn json_key(key: Value) -> Result<String, String> {
    match key {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) if n.is_u64() && !n.is_i64() => Err(format!("the mapping key {n} overflows an int64")),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Err("a null mapping key has no JSON form".into()),
        _ => Err("a mapping key must be a scalar".into()),
    }
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// What a plain (unquoted, untagged) scalar means to kubectl.
pub fn resolve_plain(s: &str) -> Value {
    resolve_plain_other(s).unwrap_or_else(|| s.into())
}

/// [`resolve_plain`], `None` for a string.
fn resolve_plain_other(s: &str) -> Option<Value> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => Some(Value::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => Some(Value::Bool(true)),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            Some(Value::Bool(false))
        }
        _ => number(s),
    }
}

/// The number a plain scalar (not empty) is to go-yaml v2 and v3 alike:
/// Go's integer syntax after `_` are dropped, else YAML's float syntax.
/// `.inf` and `.nan` have no JSON form (kubectl refuses them): not numbers.
fn number(s: &str) -> Option<Value> {
    let first = *s.as_bytes().first()?;
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return None;
    }
    let plain = if s.contains('_') { Cow::Owned(s.replace('_', "")) } else { Cow::Borrowed(s) };
    if let Some(n) = go_parse_int(&plain) {
        return Some(n);
    }
    if !is_yaml_float(&plain) {
        return None;
    }
    json_number(plain.parse::<f64>().ok()?)
}

/// A float as kubectl sends it: Go's JSON writes an integral float64 as an
/// integer (`1e3` is sent as `1000`), so it is kept as one.
fn json_number(f: f64) -> Option<Value> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if f.fract() == 0.0 && f.abs() < EXACT {
        #[allow(clippy::cast_possible_truncation)] // integral and below 2^53: exact
        return Some(Value::from(f as i64));
    }
    Number::from_f64(f).map(Value::Number)
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: an optional sign,
/// then `0x`, `0o`, `0b` or a leading `0` (octal) prefix, or decimal.
fn go_parse_int(s: &str) -> Option<Value> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = match body.as_bytes() {
        [b'0', b'x' | b'X', ..] => (16, &body[2..]),
        [b'0', b'o' | b'O', ..] => (8, &body[2..]),
        [b'0', b'b' | b'B', ..] => (2, &body[2..]),
        [b'0', _, ..] => (8, &body[1..]),
        _ => (10, body),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = 0i64.checked_sub_unsigned(magnitude)?;
        Some(Value::from(value))
    } else {
        Some(Value::from(magnitude))
    }
}

/// go-yaml v2's float pattern: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)))
}

#[cfg(test)]
mod tests {
    use super::resolve_plain;
    use serde_json::Value;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    const PLAIN: [&str; 60] = [
        "y",
        "Y",
        "yes",
        "Yes",
        "YES",
        "yEs",
        "on",
        "On",
        "ON",
        "oN",
        "n",
        "N",
        "no",
        "No",
        "NO",
        "off",
        "Off",
        "OFF",
        "true",
        "TRUE",
        "tRue",
        "false",
        "null",
        "Null",
        "NULL",
        "~",
        "nUll",
        "0755",
        "0644",
        "0o17",
        "0x1F",
        "0X1f",
        "0b101",
        "-0b101",
        "1_000",
        "0x_1F",
        "1:20",
        "190:20:30",
        ".5",
        "1e3",
        "1.5e-3",
        "6.8523015e+5",
        "1_0.5",
        "08",
        "-0",
        "+1",
        "-1",
        "18446744073709551615",
        "1.",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "1.2.3",
        "0x",
        "1e",
        "0b",
        "100m",
        "v1",
        "-x",
        "+x",
        "9223372036854775807",
    ];

    fn expected() -> Value {
        serde_json::from_str(
            r#"{
            "y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "yEs": "yEs", "on": true, "On": true,
            "ON": true, "oN": "oN", "n": false, "N": false, "no": false, "No": false, "NO": false, "off": false,
            "Off": false, "OFF": false, "true": true, "TRUE": true, "tRue": "tRue", "false": false, "null": null,
            "Null": null, "NULL": null, "~": null, "nUll": "nUll", "0755": 493, "0644": 420, "0o17": 15, "0x1F": 31,
            "0X1f": 31, "0b101": 5, "-0b101": -5, "1_000": 1000, "0x_1F": 31, "1:20": "1:20",
            "190:20:30": "190:20:30", ".5": 0.5, "1e3": 1000.0, "1.5e-3": 0.0015, "6.8523015e+5": 685230.15,
            "1_0.5": 10.5, "08": 8.0, "-0": 0, "+1": 1, "-1": -1, "18446744073709551615": 18446744073709551615,
            "1.": 1.0, "2001-12-14": "2001-12-14", "2001-12-14t21:59:43.10-05:00": "2001-12-14t21:59:43.10-05:00",
            "1.2.3": "1.2.3", "0x": "0x", "1e": "1e", "0b": "0b", "100m": "100m", "v1": "v1", "-x": "-x", "+x": "+x",
            "9223372036854775807": 9223372036854775807
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn plain_scalars_resolve_as_kubectl_reads_them() {
        let want = expected();
        for s in PLAIN {
            let got = resolve_plain(s);
            let want = &want[s];
            let same = match (got.as_f64(), want.as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => &got == want,
            };
            assert!(same, "{s:?}: resolved to {got}, kubectl reads {want}");
        }
    }

    /// The table above is kubectl's own reading of the same scalars.
    #[test]
    fn the_table_is_what_kubectl_reads() {
        let mut yaml = String::from("apiVersion: example.com/v1\nkind: Probe\nmetadata:\n  name: p\nvalues:\n");
        for s in PLAIN {
            yaml.push_str(&format!("  {:?}: {s}\n", s));
        }
        let Some(docs) = kubectl_read(&yaml) else { return };
        let read = &docs[0];
        let want = expected();
        for s in PLAIN {
            let (got, want) = (&read["values"][s], &want[s]);
            let same = match (got.as_f64(), want.as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => got == want,
            };
            assert!(same, "{s:?}: kubectl reads {got}, the table says {want}");
        }
    }

    /// kustomize's reading of the same scalars (go-yaml v3, then JSON):
    /// where it differs from kubectl's.
    fn kustomize_expected() -> Value {
        let mut want = expected();
        for word in ["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF"] {
            want[word] = Value::String(word.into());
        }
        want["2001-12-14"] = "2001-12-14T00:00:00Z".into();
        want["2001-12-14t21:59:43.10-05:00"] = "2001-12-14T21:59:43.1-05:00".into();
        want
    }

    #[test]
    fn plain_scalars_resolve_as_kustomize_reads_them() {
        let want = kustomize_expected();
        for s in PLAIN {
            let got = super::Rules::Kustomize.resolve(s);
            assert!(same_number_or_value(&got, &want[s]), "{s:?}: resolved to {got}, kustomize reads {}", want[s]);
        }
    }

    /// The kustomize table is what `kubectl kustomize` writes for the same
    /// scalars, as kubectl then reads its output (`kubectl apply -k`).
    #[test]
    fn the_kustomize_table_is_what_kubectl_kustomize_writes() {
        let dir = std::env::temp_dir().join(format!("capstan-sdk-yaml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut yaml = String::from("apiVersion: example.com/v1\nkind: Probe\nmetadata:\n  name: p\nvalues:\n");
        for s in PLAIN {
            yaml.push_str(&format!("  {:?}: {s}\n", s));
        }
        std::fs::write(dir.join("probe.yaml"), &yaml).unwrap();
        std::fs::write(dir.join("kustomization.yaml"), "resources:\n- probe.yaml\n").unwrap();
        let output = Command::new("kubectl").arg("kustomize").arg(&dir).output();
        let _ = std::fs::remove_dir_all(&dir);
        let Ok(output) = output else {
            eprintln!("skipping the comparison with kubectl kustomize: kubectl is not installed");
            return;
        };
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let docs = kubectl_read(&String::from_utf8_lossy(&output.stdout)).unwrap();
        let want = kustomize_expected();
        for s in PLAIN {
            let got = &docs[0]["values"][s];
            assert!(
                same_number_or_value(got, &want[s]),
                "{s:?}: kubectl kustomize writes {got}, the table says {}",
                want[s]
            );
        }
    }

    /// Equal values, numbers compared by value (`1000` and `1000.0`).
    fn same_number_or_value(a: &Value, b: &Value) -> bool {
        match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        }
    }

    #[test]
    fn kustomize_refuses_keys_that_are_not_strings() {
        for key in ["0755", "1.5", "true", "2001-12-14", "~"] {
            let err = super::read(&format!("{key}: 1\n"), super::Rules::Kustomize).unwrap_err();
            assert!(err.message.contains("quote it") || err.message.contains("null"), "{key}: {err}");
        }
        let read = super::read("on: 1\nyes: 2\n\"0755\": 3\n", super::Rules::Kustomize).unwrap();
        assert_eq!(read[0], serde_json::json!({"on": 1, "yes": 2, "0755": 3}));
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {quoted: \"no\", single: 'on', tagged: !!str yes}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    tty: yes\n    stdin: on\n    args: [\"0755\", 0755, ~, 1_000, 1:20, 2001-12-14, Off]\n    env: &env\n    - {name: A, value: \"1\"}\n  volumes:\n  - name: v\n    configMap:\n      name: cm\n      defaultMode: 0644\n      items:\n      - &item {key: k, path: p}\n      - <<: *item\n        path: q\n---\n---\napiVersion: v1\nkind: Probe\nmetadata: {name: k}\nkeys: {on: 1, n: 2, 0x1F: 3, \"no\": 5, 1.5: 6, 1e3: 7, 1e6: 8, 0755: 9, 1_0: 10}\ndup: 1\ndup: 2\nblock: |\n  yes\n";

    /// A whole stream read by [`super::from_str`] equals kubectl's reading.
    #[test]
    fn documents_read_as_kubectl_reads_them() {
        let ours = super::from_str(POD).unwrap();
        assert_eq!(ours[0]["spec"]["volumes"][0]["configMap"]["defaultMode"], 420);
        assert_eq!(ours[0]["spec"]["containers"][0]["tty"], true);
        assert_eq!(ours[0]["metadata"]["labels"]["tagged"], "yes");
        assert_eq!(
            ours[0]["spec"]["volumes"][0]["configMap"]["items"][1],
            serde_json::json!({"path": "q", "key": "k"})
        );
        let Some(theirs) = kubectl_read(POD) else { return };
        assert_eq!(ours, theirs);
    }

    /// A block scalar on the last line of a file without a final line
    /// break: what `kubectl kustomize` v5.5 gives for each.
    #[test]
    fn block_scalars_at_the_end_of_an_unterminated_stream() {
        for (yaml, want) in [
            ("a: |\n  x\n  y", "x\ny"),
            ("a: |+\n  x\n  y", "x\ny"),
            ("a: >\n  x\n  y", "x y"),
            ("a: |-\n  x\n  y", "x\ny"),
            ("a: |\n  x\n  y\n", "x\ny\n"),
            ("a: |+\n  x\n\n", "x\n\n"),
            ("a: |\n  x\n  ", "x\n"),
            ("a: |+\n  x\n  ", "x\n"),
            ("a: |\n  x\n\n  ", "x\n"),
            ("a: |+\n  x\n\n  ", "x\n\n"),
            ("a: |-\n  x\n  ", "x"),
            ("a: |+\n  ", ""),
            ("a: |\n  ", ""),
            ("a: |+\n\n  ", "\n"),
            ("a: |\n  x\n  y\n# comment", "x\ny\n"),
            ("- |\n  x\n---\nb: |\n  y", "y"),
        ] {
            let docs = super::read(yaml, super::Rules::Kustomize).unwrap();
            let got = docs.last().unwrap().as_object().unwrap().values().next().unwrap().clone();
            assert_eq!(got, want, "{yaml:?}");
        }
        let list = super::read("- |\n  x\n- |\n  y", super::Rules::Kubectl).unwrap();
        assert_eq!(list[0], serde_json::json!(["x\n", "y"]));
        // The last line less indented than the scalar's content.
        let nested = super::read("a:\n  b: |+\n    x\n\n  ", super::Rules::Kustomize).unwrap();
        assert_eq!(nested[0], serde_json::json!({"a": {"b": "x\n\n"}}));
    }

    #[test]
    fn plain_values_are_marked_with_their_text() {
        let text = "a:\nb: null\nc: ~\nd: {e: , f: null}\ng:\n- h:\n  i/j~k:\n- \n<<: {m: }\n---\nx: 1\n";
        let docs = super::read_with_plain_values(text, super::Rules::Kustomize, |_| false).unwrap();
        let marked = |doc: usize| {
            docs[doc].1.iter().filter(|e| e.is_empty()).map(|e| (e.pointer.as_str(), e.in_flow)).collect::<Vec<_>>()
        };
        assert_eq!(marked(0), [("/a", false), ("/d/e", true), ("/g/0/h", false), ("/g/0/i~1j~0k", false)]);
        assert_eq!(docs[0].0["d"], serde_json::json!({"e": null, "f": null}));
        assert_eq!(marked(1), []);
        let texts: Vec<_> =
            docs[0].1.iter().filter(|e| !e.is_empty()).map(|e| (e.pointer.as_str(), e.text.as_str())).collect();
        assert_eq!(texts, [("/b", "null"), ("/c", "~"), ("/d/f", "null")]);
        let plain = super::read_with_plain_values("a: 1\nb: x\n", super::Rules::Kustomize, |_| false).unwrap();
        assert_eq!(plain, [(serde_json::json!({"a": 1, "b": "x"}), vec![])]);
        let asked = super::read_with_plain_values("a: 0755\nb: x\n", super::Rules::Kustomize, |_| true).unwrap();
        assert_eq!(asked[0].1, [super::PlainValue { pointer: "/a".into(), text: "0755".into(), in_flow: false }]);
    }

    #[test]
    fn bad_documents_are_errors_with_a_line() {
        let dup = super::read("a: 1\nb: 2\na: 3\n", super::Rules::Kustomize).unwrap_err();
        assert_eq!((dup.line, dup.message.as_str()), (3, "duplicate key \"a\""));
        assert!(super::from_str("~: 1\n").unwrap_err().message.contains("null"));
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = format!("*a{}", i - 1);
            bomb.push_str(&format!("a{i}: &a{i} [{}]\n", [prev.as_str(); 10].join(", ")));
        }
        assert!(super::from_str(&bomb).unwrap_err().message.contains("aliases expand"));
        assert!(super::from_str("a: [1\n").is_err());
    }

    /// Continuation lines of a quoted scalar at or left of the block's
    /// indentation: YAML 1.2 refuses them, go-yaml (kubectl, kustomize)
    /// reads them, and older controller-gen wrote CRDs so (the patched
    /// saphyr-parser, plugins/sdk/patched).
    #[test]
    fn quoted_scalars_continue_at_any_column_as_go_yaml_reads_them() {
        const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n";
        for (body, want) in [
            // At the key's column, double- and single-quoted.
            ("data:\n  a: \"x\n  y\"\n", serde_json::json!({"a": "x y"})),
            ("data:\n  a: 'x\n  y'\n  b: z\n", serde_json::json!({"a": "x y", "b": "z"})),
            // At column 0 inside a nested mapping, then back in it.
            ("data:\n  a: \"x\ny\n\n   z\"\n  b: z\n", serde_json::json!({"a": "x y\nz", "b": "z"})),
            // A tab before the continuation (go-yaml skips it as a space).
            ("data:\n  a: \"x\n\ty\"\n", serde_json::json!({"a": "x y"})),
            // A `---` not at column 0 is text.
            ("data:\n  a: \"x\n  ---\ny\"\n", serde_json::json!({"a": "x --- y"})),
        ] {
            let yaml = format!("{CM}{body}");
            for rules in [super::Rules::Kubectl, super::Rules::Kustomize] {
                let docs = super::read(&yaml, rules).unwrap_or_else(|e| panic!("{yaml:?}: {e}"));
                assert_eq!(docs[0]["data"], want, "{yaml:?}");
            }
            if let Some(theirs) = kubectl_read(&yaml) {
                assert_eq!(theirs[0]["data"], want, "kubectl: {yaml:?}");
            }
        }
        // The CRD shape the conformance case has: the value continues at
        // its key's column in a mapping nested four deep.
        let crd = "spec:\n  properties:\n    kind:\n      description: \"Kind is a string value\n      this object represents.\"\n      type: string\n";
        let docs = super::read(crd, super::Rules::Kustomize).unwrap();
        assert_eq!(
            docs[0]["spec"]["properties"]["kind"],
            serde_json::json!({"description": "Kind is a string value this object represents.", "type": "string"})
        );
    }

    /// What go-yaml still refuses inside a quoted scalar: a document marker
    /// at column 0 (kubectl: "found unexpected document indicator", or the
    /// end of the stream where it splits documents first), the end of the
    /// stream, and a multi-line quoted key.
    #[test]
    fn quoted_scalars_still_refuse_what_go_yaml_refuses() {
        for yaml in ["data:\n  a: \"x\n---\ny\"\n", "data:\n  a: 'x\n...\ny'\n"] {
            for rules in [super::Rules::Kubectl, super::Rules::Kustomize] {
                let err = super::read(yaml, rules).unwrap_err();
                assert_eq!(err.line, 2, "{yaml:?}");
                assert_eq!(err.message, "while scanning a quoted scalar, found unexpected document indicator");
            }
        }
        let eof = super::read("data:\n  a: \"x\ny\n", super::Rules::Kubectl).unwrap_err();
        assert!(eof.message.contains("found unexpected end of stream"), "{eof}");
        assert!(super::read("data:\n  \"a\nb\": x\n", super::Rules::Kubectl).is_err());
    }

    /// kubectl's reading of a stream (annotations it adds removed), or
    /// `None` with a message when kubectl is missing.
    fn kubectl_read(yaml: &str) -> Option<Vec<Value>> {
        let child = Command::new("kubectl")
            .args(["annotate", "--local", "-f", "-", "capstan.test/read=back", "-o", "json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("skipping the comparison with kubectl: it is not installed");
            return None;
        };
        child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let docs = serde_json::Deserializer::from_slice(&output.stdout)
            .into_iter::<Value>()
            .map(|doc| {
                let mut doc = doc.unwrap();
                doc["metadata"].as_object_mut().unwrap().remove("annotations");
                doc
            })
            .collect();
        Some(docs)
    }
}
