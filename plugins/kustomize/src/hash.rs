//! The content-hash name suffix, byte-identical to kustomize's: a Go
//! `json.Marshal` of selected fields, SHA-256, the first 10 hex digits with
//! vowels and look-alikes replaced.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::resource::{Resource, str_at};

/// Encodes like Go's `json.Marshal` of `interface{}` values: sorted keys,
/// HTML-safe escapes.
pub fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => go_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(k, out);
                out.push(':');
                go_json(&m[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn field_or_empty(obj: &Value, key: &str) -> Value {
    match obj.get(key) {
        Some(v @ Value::Object(_)) => v.clone(),
        Some(Value::Null) | None => Value::String(String::new()),
        Some(v) => v.clone(),
    }
}

/// The kustomize hash of an object.
pub fn hash(obj: &Value) -> String {
    let kind = str_at(obj, &["kind"]);
    let mut m = Map::new();
    // kustomize looks the name up as one field literally called
    // "metadata/name", which never exists: the hashed name is always "".
    let name = Value::String(String::new());
    let encoded = match kind {
        "ConfigMap" => {
            m.insert("kind".into(), "ConfigMap".into());
            m.insert("name".into(), name);
            m.insert("data".into(), field_or_empty(obj, "data"));
            if let Some(b @ Value::Object(_)) = obj.get("binaryData") {
                m.insert("binaryData".into(), b.clone());
            }
            let mut s = String::new();
            go_json(&Value::Object(m), &mut s);
            s
        }
        "Secret" => {
            m.insert("kind".into(), "Secret".into());
            let ty = match obj.get("type") {
                Some(Value::String(s)) => Value::String(s.clone()),
                _ => Value::String(String::new()),
            };
            m.insert("type".into(), ty);
            m.insert("name".into(), name);
            m.insert("data".into(), field_or_empty(obj, "data"));
            if let Some(b @ Value::Object(_)) = obj.get("stringData") {
                m.insert("stringData".into(), b.clone());
            }
            let mut s = String::new();
            go_json(&Value::Object(m), &mut s);
            s
        }
        _ => {
            let mut s = String::new();
            go_json(obj, &mut s);
            s
        }
    };
    let digest = Sha256::digest(encoded.as_bytes());
    let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    hex.chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// Appends the hash suffix to every object that asks for one.
pub fn add_hashes(res: &mut [Resource]) -> Result<()> {
    for r in res.iter_mut() {
        let annotated = str_at(&r.obj, &["metadata", "annotations", "kustomize.config.k8s.io/needs-hash"]) == "true";
        if r.needs_hash || annotated {
            let h = hash(&r.obj);
            let name = format!("{}-{}", r.name(), h);
            r.set_name(&name);
            r.needs_hash = false;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::hash;

    #[test]
    fn matches_kubectl_kustomize() {
        // `configMapGenerator: [{name: gen, literals: [a=b]}]` → gen-4h2mbtbbt6 in kubectl v1.32.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p-gen"}, "data": {"a": "b"}});
        assert_eq!(hash(&cm), "4h2mbtbbt6");
        // The name is not part of the hash (kustomize looks it up under a key that never exists).
        let renamed =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}, "data": {"a": "b"}});
        assert_eq!(hash(&renamed), "4h2mbtbbt6");
    }
}
