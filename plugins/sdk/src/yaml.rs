//! Reading YAML the way kubectl and the API machinery do: sigs.k8s.io/yaml
//! over go-yaml v2, i.e. YAML 1.1 resolution of *plain* scalars
//! (`0755` is 493, `yes`/`on`/`y` are `true`, `1_000` is 1000) while quoted
//! scalars stay strings. Dates and sexagesimal numbers stay strings there
//! too, as kubectl leaves them.

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

/// A key waiting for its value: a JSON key, or go-yaml's merge key `<<`.
enum Key {
    Name(String),
    Merge,
}

enum Frame {
    Seq { items: Vec<Value>, anchor: usize },
    Map { map: Map<String, Value>, key: Option<Key>, merges: Vec<Value>, anchor: usize },
}

/// The non-null documents of a YAML stream, read as kubectl reads them:
/// plain scalars by [`resolve_plain`], quoted and block scalars and
/// `!!str` as strings, keys as JSON keys (`true: x` has the key `"true"`),
/// `<<` merges applied. Duplicate keys, null or non-scalar keys and alias
/// bombs are errors.
pub fn from_str(text: &str) -> Result<Vec<Value>, YamlError> {
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Value, usize)> = HashMap::new();
    let mut expanded = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError { line: e.marker().line(), message: e.info().to_owned() })?;
        let line = span.start.line();
        let err = |message: String| YamlError { line, message };
        let (value, anchor) = match event {
            Event::DocumentStart(_) => {
                anchors.clear();
                continue;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain && tag.as_ref().is_none_or(|t| t.suffix != "str");
                if plain
                    && text == "<<"
                    && let Some(Frame::Map { key: key @ None, .. }) = stack.last_mut()
                {
                    *key = Some(Key::Merge);
                    continue;
                }
                let value = if plain { resolve_plain(&text) } else { Value::String(text.into_owned()) };
                (value, anchor)
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
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, merges, .. }) => match key.take() {
                None => *key = Some(Key::Name(json_key(value).map_err(err)?)),
                Some(Key::Merge) => match value {
                    Value::Array(items) => merges.extend(items),
                    other => merges.push(other),
                },
                Some(Key::Name(k)) => {
                    if map.contains_key(&k) {
                        return Err(err(format!("duplicate key {k:?}")));
                    }
                    map.insert(k, value);
                }
            },
        }
    }
    Ok(docs)
}

/// A scalar key as sigs.k8s.io/yaml turns it into a JSON key.
fn json_key(key: Value) -> Result<String, String> {
    match key {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
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
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => return Value::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Value::Bool(false);
        }
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first == b'.' {
        // `.inf` and `.nan` have no JSON form; kubectl refuses them too.
        return s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(s.to_owned()), Value::Number);
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return Value::String(s.to_owned());
    }
    let plain = s.replace('_', "");
    if let Some(n) = go_parse_int(&plain) {
        return n;
    }
    if is_yaml_float(&plain)
        && let Some(n) = plain.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(s.to_owned())
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: an optional sign,
/// then `0x`, `0o`, `0b` or a leading `0` (octal) prefix, or decimal.
fn go_parse_int(s: &str) -> Option<Value> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
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

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {quoted: \"no\", single: 'on', tagged: !!str yes}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    tty: yes\n    stdin: on\n    args: [\"0755\", 0755, ~, 1_000, 1:20, 2001-12-14, Off]\n    env: &env\n    - {name: A, value: \"1\"}\n  volumes:\n  - name: v\n    configMap:\n      name: cm\n      defaultMode: 0644\n      items:\n      - &item {key: k, path: p}\n      - <<: *item\n        path: q\n---\n---\napiVersion: v1\nkind: Probe\nmetadata: {name: k}\nkeys: {on: 1, n: 2, 0x1F: 3, \"no\": 5, 1.5: 6}\nblock: |\n  yes\n";

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

    #[test]
    fn bad_documents_are_errors_with_a_line() {
        let dup = super::from_str("a: 1\nb: 2\na: 3\n").unwrap_err();
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
