//! A validator that reports an error for every object without the label
//! `with: {requireLabel}`, and an info line for the others.

use capstan_plugin::{Context, Diagnostic, Error, ObjectRef, Severity, Validator};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    require_label: String,
}

struct Policy;

impl Validator for Policy {
    type Params = Params;

    fn validate(_: &Context, items: Vec<Value>, params: Params) -> Result<Vec<Diagnostic>, Error> {
        Ok(items.iter().map(|item| check(item, &params.require_label)).collect())
    }
}

fn check(item: &Value, label: &str) -> Diagnostic {
    let text = |pointer| item.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
    let object = ObjectRef {
        api_version: text("/apiVersion"),
        kind: text("/kind"),
        namespace: item.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_owned),
        name: text("/metadata/name"),
    };
    let present = item.pointer("/metadata/labels").and_then(|l| l.get(label)).is_some();
    Diagnostic {
        severity: if present { Severity::Info } else { Severity::Error },
        message: if present { format!("has label {label}") } else { format!("label {label} is required") },
        object: Some(object),
        field: Some(format!("metadata.labels.{label}")),
        file: None,
    }
}

capstan_plugin::export_validator!(Policy);
