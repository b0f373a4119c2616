//! Plain values as written: kubectl and kustomize read `key: 0755` as 493
//! and `key:` as null, but kyaml keeps each scalar's text beside it, and
//! kustomize uses that text in places: an annotation is the text (`"0755"`,
//! `"null"`, `"~"`), a strategic-merge patch clears the empty values (`key:`)
//! from every map it walks and keeps an explicit `null` or `~`, and an
//! empty value in a flow mapping (`{key: }`) is written out as `""`. A
//! reader that must follow kustomize asks [`super::read_with_plain_values`]
//! where a document holds such values.

use serde_json::Value;

/// A plain scalar mapping value that did not read as its own text: a
/// number, a boolean, a date or a null (`""` for an empty value, `key:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainValue {
    /// The JSON pointer (RFC 6901) of the value, e.g. `/spec/replicas`.
    pub pointer: String,
    /// The scalar as written.
    pub text: String,
    /// Whether the value sits in a flow mapping (`{key: }`).
    pub in_flow: bool,
}

impl PlainValue {
    /// Whether the value was left empty (`key:`), not written `null` or `~`.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
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
