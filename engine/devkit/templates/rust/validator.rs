//! {{name}}: a Capstan validator. Every object must carry the labels of
//! `with: {requiredLabels: […]}`. Replace [`check`] with your own rules.

use capstan_plugin::{Diagnostic, FieldPath};
use serde::Deserialize;
use serde_json::Value;

/// The stage's `with:` block, read by the SDK (unknown fields are errors).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Labels every object must have.
    pub required_labels: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Self { required_labels: vec!["app.kubernetes.io/name".to_owned()] }
    }
}

/// One error per missing label, naming the object and the field: plain
/// Rust, so `cargo test` runs it natively.
pub fn check(items: &[Value], params: &Params) -> Vec<Diagnostic> {
    let mut findings = Vec::new();
    for item in items {
        let labels = capstan_plugin::object::labels(item);
        for label in params.required_labels.iter().filter(|l| !labels.contains_key(l.as_str())) {
            let field = FieldPath::new("metadata").child("labels").key(label);
            findings.push(Diagnostic::error(format!("missing label {label}")).about(item).at(field));
        }
    }
    findings
}

#[cfg(target_arch = "wasm32")]
mod plugin {
    use capstan_plugin::{Context, Diagnostic, Error, Validator};
    use serde_json::Value;

    struct Plugin;

    impl Validator for Plugin {
        type Params = super::Params;

        fn validate(_: &Context, items: Vec<Value>, params: Self::Params) -> Result<Vec<Diagnostic>, Error> {
            Ok(super::check(&items, &params))
        }
    }

    capstan_plugin::export_validator!(Plugin);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_missing_label_is_an_error_at_its_field() {
        let items = [json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})];
        let findings = check(&items, &Params::default());
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].field.as_deref(), Some("metadata.labels[app.kubernetes.io/name]"));
    }
}
