//! Evaluating compiled policies against one object: the variables
//! Kubernetes binds (`object`, `oldObject`, `params`, `namespaceObject`,
//! `request`, `variables`), match conditions, validations and audit
//! annotations, each finding a diagnostic naming the policy.

use std::collections::HashMap;
use std::sync::Arc;

use capstan_plugin::{Diagnostic, Severity};
use kube_cel::cel::objects::{Key, Map};
use kube_cel::cel::{Context, IdedExpr, Value as Cel};
use serde_json::Value;

use crate::policy::{Compiled, FailurePolicy};
use capstan_plugin::policy::{Admitted, plural};

/// One object, converted once for every policy.
pub struct Subject<'a> {
    /// The object as admission sees it.
    pub admitted: Admitted<'a>,
    /// `object`.
    pub cel: Cel,
    /// `namespaceObject` (null for cluster-scoped objects).
    pub namespace_object: Cel,
    /// `request`.
    pub request: Cel,
}

impl<'a> Subject<'a> {
    /// `namespaces` are the rendered Namespace objects by name.
    pub fn new(json: &'a Value, default_namespace: Option<&str>, namespaces: &HashMap<&str, &Value>) -> Self {
        let admitted = Admitted::new(json, default_namespace, namespaces);
        let kind = &admitted.object.kind;
        let (group, version) = (admitted.group, admitted.version);
        let request = serde_json::json!({
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": plural(kind)},
            "name": admitted.object.name,
            "namespace": admitted.namespace,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:capstan-system:capstan"},
            "dryRun": false,
        });
        Self {
            cel: to_cel(json),
            namespace_object: admitted.namespace_object.as_ref().map_or(Cel::Null, to_cel),
            request: to_cel(&request),
            admitted,
        }
    }
}

/// JSON to CEL: integers stay `int` (as the API server's CEL sees them),
/// other numbers are `double`.
pub fn to_cel(value: &Value) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => n.as_i64().map_or_else(|| Cel::Float(n.as_f64().unwrap_or(f64::NAN)), Cel::Int),
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => Cel::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => Cel::Map(Map {
            map: Arc::new(map.iter().map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v))).collect()),
        }),
    }
}

/// The findings of `policy` on `subject` (none when it does not match).
pub fn evaluate(root: &Context<'_>, policy: &Compiled, params: &Cel, subject: &Subject<'_>) -> Vec<Diagnostic> {
    if policy.matching.as_ref().is_some_and(|m| !m.matches(&subject.admitted)) {
        return Vec::new();
    }
    let mut ctx = root.new_inner_scope();
    ctx.add_variable_from_value("object", subject.cel.clone());
    ctx.add_variable_from_value("oldObject", Cel::Null);
    ctx.add_variable_from_value("params", params.clone());
    ctx.add_variable_from_value("namespaceObject", subject.namespace_object.clone());
    ctx.add_variable_from_value("request", subject.request.clone());
    let diagnostic = |severity, message: String, field: Option<String>| Diagnostic {
        severity,
        message: format!("[{}] {message}", policy.name),
        object: Some(subject.admitted.object.clone()),
        field,
        file: policy.file.clone(),
    };
    let failed = |place: String, error: String| match policy.failure {
        FailurePolicy::Fail => vec![diagnostic(Severity::Error, format!("{place}: evaluation failed: {error}"), None)],
        FailurePolicy::Ignore => Vec::new(),
    };
    for (name, condition) in &policy.conditions {
        match ctx.resolve(condition) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => return Vec::new(),
            Ok(other) => return failed(format!("matchCondition {name}"), format!("not a bool: {other:?}")),
            Err(e) => return failed(format!("matchCondition {name}"), e.to_string()),
        }
    }
    // Variables are evaluated in order, each seeing the ones before it; a
    // variable that fails only matters to the expressions that read it.
    let mut variables: HashMap<Key, Cel> = HashMap::new();
    let mut broken: Vec<(String, String)> = Vec::new();
    for (name, program) in &policy.variables {
        ctx.add_variable_from_value("variables", Cel::Map(Map { map: Arc::new(variables.clone()) }));
        match ctx.resolve(program) {
            Ok(value) => {
                variables.insert(Key::String(Arc::new(name.clone())), value);
            }
            Err(e) => broken.push((name.clone(), e.to_string())),
        }
    }
    ctx.add_variable_from_value("variables", Cel::Map(Map { map: Arc::new(variables) }));
    let run = |program: &IdedExpr, source: &str| -> Result<Cel, String> {
        ctx.resolve(program).map_err(|e| {
            match broken.iter().find(|(name, _)| source.contains(&format!("variables.{name}"))) {
                Some((name, why)) => format!("variable {name} failed: {why}"),
                None => e.to_string(),
            }
        })
    };
    let mut found = Vec::new();
    for (i, v) in policy.validations.iter().enumerate() {
        match run(&v.program, &v.source) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => {
                let message = v
                    .message_program
                    .as_ref()
                    .and_then(|p| match ctx.resolve(p) {
                        Ok(Cel::String(s)) if !s.trim().is_empty() => Some(s.to_string()),
                        _ => None,
                    })
                    .or_else(|| v.message.clone())
                    .unwrap_or_else(|| format!("failed expression: {}", v.source));
                let message = match &v.reason {
                    Some(reason) => format!("{message} (reason: {reason})"),
                    None => message,
                };
                found.push(diagnostic(Severity::Error, message, v.field.clone()));
            }
            Ok(other) => found.extend(failed(format!("validations[{i}]"), format!("not a bool: {other:?}"))),
            Err(e) => found.extend(failed(format!("validations[{i}]"), e)),
        }
    }
    for (key, program) in &policy.annotations {
        match ctx.resolve(program) {
            Ok(Cel::String(value)) => found.push(diagnostic(Severity::Info, format!("audit {key}: {value}"), None)),
            Ok(Cel::Null) => {}
            Ok(other) => found.extend(failed(format!("auditAnnotation {key}"), format!("not a string: {other:?}"))),
            Err(e) => found.extend(failed(format!("auditAnnotation {key}"), e.to_string())),
        }
    }
    found
}
