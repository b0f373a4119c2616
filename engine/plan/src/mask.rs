//! Secret masking: values of a Secret's `data` and `stringData` never leave
//! the engine. Each is replaced by a marker derived from a salted hash, so a
//! diff shows *that* a value changed, never the value.
//!
//! The salt is random per [`Masker`] (per process in practice): markers are
//! comparable within one diff, and a marker cannot be looked up in a table
//! of hashes of common passwords.

use std::hash::BuildHasher;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Masks Secret values with salted-hash markers.
#[derive(Debug, Clone)]
pub struct Masker {
    salt: [u8; 8],
}

impl Default for Masker {
    fn default() -> Self {
        Self::new()
    }
}

impl Masker {
    /// A masker with a random salt.
    pub fn new() -> Self {
        // RandomState is seeded from the OS once per process and varied per
        // instance: enough for a salt, without a dependency on `rand`.
        let salt = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        Self { salt: salt.to_le_bytes() }
    }

    /// A masker with a fixed salt, for reproducible output in tests.
    pub fn with_salt(salt: u64) -> Self {
        Self { salt: salt.to_le_bytes() }
    }

    /// Masks `object` in place if it is a Secret; other kinds are untouched.
    pub fn mask(&self, object: &mut Value) {
        if object.get("kind").and_then(Value::as_str) != Some("Secret")
            || object.get("apiVersion").and_then(Value::as_str) != Some("v1")
        {
            return;
        }
        for field in ["data", "stringData"] {
            if let Some(values) = object.get_mut(field).and_then(Value::as_object_mut) {
                for (key, value) in values.iter_mut() {
                    *value = Value::String(self.marker(key, value));
                }
            }
        }
    }

    fn marker(&self, key: &str, value: &Value) -> String {
        let mut hash = Sha256::new();
        hash.update(self.salt);
        hash.update(key.as_bytes());
        hash.update([0]);
        hash.update(value.as_str().map_or_else(|| value.to_string(), str::to_owned).as_bytes());
        format!("(masked {})", &hex::encode(hash.finalize())[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_are_replaced_equal_values_equal_markers() {
        let masker = Masker::with_salt(1);
        let mut a = json!({"apiVersion": "v1", "kind": "Secret", "data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "t0ps3cret"}});
        let mut b = json!({"apiVersion": "v1", "kind": "Secret", "data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "other"}});
        masker.mask(&mut a);
        masker.mask(&mut b);
        let text = a.to_string();
        assert!(!text.contains("aHVudGVyMg==") && !text.contains("t0ps3cret"), "{text}");
        assert_eq!(a["data"], b["data"]);
        assert_ne!(a["stringData"], b["stringData"]);
        assert_ne!(Masker::with_salt(2).marker("password", &json!("aHVudGVyMg==")), a["data"]["password"]);
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}});
        masker.mask(&mut cm);
        assert_eq!(cm["data"]["k"], "v");
    }
}
