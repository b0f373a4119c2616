//! Serialisers and codecs: Helm's `toYaml`/`fromYaml`/`toJson`/`fromJson`
//! family (numbers as Go's encoding/json writes them), `toToml`, base64/32,
//! hashes.

use std::fmt::Write as _;

use base64::Engine as _;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use sha2::Digest as _;

use super::{arity, from_json, string, strval};
use crate::template::{Funcs, Value};

/// A value as Go's encoding/json sees it (integral floats print as integers).
struct Json<'a>(&'a Value);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) | Value::Int64(i) => s.serialize_i64(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => {
                if f.abs() < 9.2e18 {
                    s.serialize_i64(*f as i64)
                } else {
                    s.serialize_f64(*f)
                }
            }
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(t) => s.serialize_str(t),
            Value::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l.iter() {
                    seq.serialize_element(&Json(v))?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let m = m.borrow();
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m.iter() {
                    map.serialize_entry(k, &Json(v))?;
                }
                map.end()
            }
            Value::Obj(o) => s.serialize_str(&o.show()),
        }
    }
}

/// Helm's `toYaml`: YAML as go-yaml v2 writes it, without the trailing
/// newline. Fails where encoding/json does (NaN, infinities).
pub fn to_yaml(v: &Value) -> Result<String, String> {
    check_encodable(v)?;
    let mut s = super::goyaml::emit(v);
    s.pop();
    Ok(s)
}

/// What stops `sigs.k8s.io/yaml.Marshal`: encoding/json refuses NaN and
/// infinities; go-yaml's reader, reading that JSON back, refuses the
/// characters JSON leaves raw but YAML does not allow (DEL, C1 controls).
fn check_encodable(v: &Value) -> Result<(), String> {
    let bad_char = |s: &str| {
        if s.chars().any(|c| matches!(c as u32, 0x7f..=0x84 | 0x86..=0x9f | 0xfffe | 0xffff)) {
            Err("yaml: control characters are not allowed".to_string())
        } else {
            Ok(())
        }
    };
    match v {
        Value::Float(f) if !f.is_finite() => {
            Err(format!("json: unsupported value: {}", crate::template::value::go_float(*f)))
        }
        Value::Str(s) => bad_char(s),
        Value::List(l) => l.iter().try_for_each(check_encodable),
        Value::Map(m) => m.borrow().iter().try_for_each(|(k, v)| bad_char(k).and_then(|()| check_encodable(v))),
        _ => Ok(()),
    }
}

/// Helm's `toJson`: Go's encoding/json, which escapes `<`, `>`, `&` (and
/// U+2028/2029) for HTML safety.
pub fn to_json(v: &Value) -> Result<String, String> {
    Ok(html_escape_json(&to_raw_json(v)?))
}

/// Sprig's `toRawJson`: no HTML escaping.
pub fn to_raw_json(v: &Value) -> Result<String, String> {
    serde_json::to_string(&Json(v)).map_err(|e| e.to_string())
}

fn html_escape_json(s: &str) -> String {
    if !s.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Parses YAML text into a template value (Helm's `fromYaml`).
pub fn from_yaml_value(text: &str) -> Result<Value, String> {
    let v = crate::yaml::parse(text).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    Ok(from_json(&v))
}

pub fn register(f: &mut Funcs) {
    f.insert("toYaml", |_, a| {
        arity(&a, 1, "toYaml")?;
        Ok(Value::str(to_yaml(&a[0]).unwrap_or_default()))
    });
    f.insert("mustToYaml", |_, a| {
        arity(&a, 1, "mustToYaml")?;
        Ok(Value::str(to_yaml(&a[0])?))
    });
    f.insert("toYamlPretty", |_, a| {
        arity(&a, 1, "toYamlPretty")?;
        Ok(Value::str(to_yaml(&a[0]).unwrap_or_default()))
    });
    f.insert("fromYaml", |_, a| {
        arity(&a, 1, "fromYaml")?;
        Ok(match from_yaml_value(string(&a, 0)?) {
            Ok(v @ Value::Map(_)) => v,
            Ok(Value::Nil) => Value::map(Default::default()),
            Ok(v) => error_map(&format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&v)
            )),
            Err(e) => error_map(&e),
        })
    });
    f.insert("fromYamlArray", |_, a| {
        arity(&a, 1, "fromYamlArray")?;
        Ok(match from_yaml_value(string(&a, 0)?) {
            Ok(v @ Value::List(_)) => v,
            Ok(Value::Nil) => Value::list(Vec::new()),
            Ok(_) => Value::list(vec![Value::str(
                "error unmarshaling JSON: json: cannot unmarshal object into Go value of type []interface {}",
            )]),
            Err(e) => Value::list(vec![Value::str(e)]),
        })
    });
    for name in ["toJson", "mustToJson"] {
        f.insert(name, |_, a| {
            arity(&a, 1, "toJson")?;
            Ok(Value::str(to_json(&a[0])?))
        });
    }
    for name in ["toRawJson", "mustToRawJson"] {
        f.insert(name, |_, a| {
            arity(&a, 1, "toRawJson")?;
            Ok(Value::str(to_raw_json(&a[0])?))
        });
    }
    for name in ["toPrettyJson", "mustToPrettyJson"] {
        f.insert(name, |_, a| {
            arity(&a, 1, "toPrettyJson")?;
            Ok(Value::str(serde_json::to_string_pretty(&Json(&a[0])).map_err(|e| e.to_string())?))
        });
    }
    f.insert("fromJson", |_, a| {
        arity(&a, 1, "fromJson")?;
        Ok(match serde_json::from_str::<serde_json::Value>(string(&a, 0)?) {
            Ok(v @ serde_json::Value::Object(_)) => from_json(&v),
            Ok(v) => error_map(&format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(&from_json(&v))
            )),
            Err(e) => error_map(&e.to_string()),
        })
    });
    f.insert("mustFromJson", |_, a| {
        arity(&a, 1, "mustFromJson")?;
        let v: serde_json::Value = serde_json::from_str(string(&a, 0)?).map_err(|e| e.to_string())?;
        Ok(from_json(&v))
    });
    f.insert("fromJsonArray", |_, a| {
        arity(&a, 1, "fromJsonArray")?;
        Ok(match serde_json::from_str::<serde_json::Value>(string(&a, 0)?) {
            Ok(v @ serde_json::Value::Array(_)) => from_json(&v),
            Ok(_) => {
                Value::list(vec![Value::str("json: cannot unmarshal object into Go value of type []interface {}")])
            }
            Err(e) => Value::list(vec![Value::str(e.to_string())]),
        })
    });
    f.insert("toToml", |_, a| {
        arity(&a, 1, "toToml")?;
        Ok(Value::str(to_toml(&a[0])))
    });
    f.insert("b64enc", |_, a| {
        arity(&a, 1, "b64enc")?;
        Ok(Value::str(base64::engine::general_purpose::STANDARD.encode(string(&a, 0)?)))
    });
    f.insert("b64dec", |_, a| {
        arity(&a, 1, "b64dec")?;
        Ok(Value::str(match base64::engine::general_purpose::STANDARD.decode(string(&a, 0)?) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => e.to_string(),
        }))
    });
    f.insert("b32enc", |_, a| {
        arity(&a, 1, "b32enc")?;
        Ok(Value::str(base32(string(&a, 0)?.as_bytes())))
    });
    f.insert("sha1sum", |_, a| {
        arity(&a, 1, "sha1sum")?;
        Ok(Value::str(hex(&sha1::Sha1::digest(string(&a, 0)?.as_bytes()))))
    });
    f.insert("sha256sum", |_, a| {
        arity(&a, 1, "sha256sum")?;
        Ok(Value::str(hex(&sha2::Sha256::digest(string(&a, 0)?.as_bytes()))))
    });
    f.insert("sha512sum", |_, a| {
        arity(&a, 1, "sha512sum")?;
        Ok(Value::str(hex(&sha2::Sha512::digest(string(&a, 0)?.as_bytes()))))
    });
    f.insert("adler32sum", |_, a| {
        arity(&a, 1, "adler32sum")?;
        let (mut x, mut y) = (1u32, 0u32);
        for b in string(&a, 0)?.bytes() {
            x = (x + b as u32) % 65521;
            y = (y + x) % 65521;
        }
        Ok(Value::str(((y << 16) | x).to_string()))
    });
}

/// How encoding/json names a value's kind in its errors.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "array",
        Value::Str(_) => "string",
        Value::Int(_) | Value::Int64(_) | Value::Float(_) => "number",
        Value::Bool(_) => "bool",
        _ => "object",
    }
}

fn error_map(e: &str) -> Value {
    Value::map([("Error".to_string(), Value::str(e))].into_iter().collect())
}

/// Lower-case hex of bytes.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn base32(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in b.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(A[((n >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn toml_scalar(v: &Value) -> String {
    match v {
        Value::Str(s) => crate::template::format::go_quote(s),
        Value::List(l) => format!("[{}]", l.iter().map(toml_scalar).collect::<Vec<_>>().join(", ")),
        v => strval(v),
    }
}

fn to_toml(v: &Value) -> String {
    // BurntSushi/toml indents a table's keys by two spaces per level.
    fn table(out: &mut String, path: &str, depth: usize, m: &crate::template::Map) {
        let m = m.borrow();
        let pad = "  ".repeat(depth);
        for (k, v) in m.iter() {
            if !matches!(v, Value::Map(_)) {
                let _ = writeln!(out, "{pad}{k} = {}", toml_scalar(v));
            }
        }
        for (k, v) in m.iter() {
            if let Value::Map(sub) = v {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                let _ = writeln!(out, "\n{pad}[{p}]");
                table(out, &p, depth + 1, sub);
            }
        }
    }
    let mut out = String::new();
    match v {
        Value::Map(m) => table(&mut out, "", 0, m),
        _ => return "toToml: value is not a map".into(),
    }
    out
}
