//! Empty values: `key:` with nothing after it. kubectl reads them as null,
//! and so does kustomize, but kyaml keeps telling them apart from an
//! explicit `null` or `~`: a strategic-merge patch clears the empty ones
//! from every map it walks and keeps the explicit ones, and an empty value
//! in a flow mapping (`{key: }`) is written out as `""`. A reader that
//! must follow kustomize asks [`super::read_with_empty_values`] where a
//! document holds them.

use serde_json::Value;

/// Where a document holds an empty value (read as null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyValue {
    /// The JSON pointer (RFC 6901) of the value, e.g. `/spec/replicas`.
    pub pointer: String,
    /// Whether the value sits in a flow mapping (`{key: }`).
    pub in_flow: bool,
}

/// Whether a value holds a null anywhere (the fast path reads `key:` and
/// `key: null` alike, so such a stream is read again by events).
pub(super) fn holds_null(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().any(holds_null),
        Value::Object(map) => map.values().any(holds_null),
        _ => false,
    }
}

/// Appends one reference token to a JSON pointer.
pub(super) fn push_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}
