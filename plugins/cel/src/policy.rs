//! ValidatingAdmissionPolicy documents and their compiled form: every
//! expression is parsed and checked once, when the policy is loaded.

use kube_cel::cel::parser::Parser;
use kube_cel::cel::{Context, IdedExpr};
use serde::Deserialize;
use serde_json::Value;

use crate::matching::MatchResources;

/// A `ValidatingAdmissionPolicy` (admissionregistration.k8s.io v1, v1beta1).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// `admissionregistration.k8s.io/v1` (or v1beta1, v1alpha1).
    pub api_version: String,
    /// `ValidatingAdmissionPolicy`.
    pub kind: String,
    /// Only `name` is read.
    pub metadata: Metadata,
    /// The rules.
    pub spec: Spec,
}

/// `metadata` of a policy.
#[derive(Debug, Deserialize)]
pub struct Metadata {
    /// The policy's name, in every verdict.
    pub name: String,
}

/// `spec` of a ValidatingAdmissionPolicy.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    /// Which objects the policy looks at.
    #[serde(default)]
    pub match_constraints: Option<MatchResources>,
    /// Further CEL conditions an object must meet to be checked.
    #[serde(default)]
    pub match_conditions: Vec<Named>,
    /// Named expressions, read as `variables.NAME`.
    #[serde(default)]
    pub variables: Vec<Named>,
    /// The checks.
    #[serde(default)]
    pub validations: Vec<Validation>,
    /// Recorded as info diagnostics (`key: value`).
    #[serde(default)]
    pub audit_annotations: Vec<AuditAnnotation>,
    /// `Fail` (default): an expression that errors is a violation; `Ignore`: it is skipped.
    #[serde(default)]
    pub failure_policy: Option<FailurePolicy>,
    /// The kind of the params object; params come from the stage's `params`.
    #[serde(default)]
    pub param_kind: Option<Value>,
}

/// A named expression: a variable or a match condition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Named {
    /// `variables.NAME`, or the condition's name.
    pub name: String,
    /// CEL.
    pub expression: String,
}

/// One check.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Validation {
    /// CEL that must be true.
    pub expression: String,
    /// The message when it is false.
    #[serde(default)]
    pub message: Option<String>,
    /// CEL giving the message (a string); `message` when it fails.
    #[serde(default)]
    pub message_expression: Option<String>,
    /// `Invalid`, `Forbidden`, `Unauthorized`, `RequestEntityTooLarge`.
    #[serde(default)]
    pub reason: Option<String>,
    /// The field the violation is about (`.spec.replicas`).
    #[serde(default)]
    pub field_path: Option<String>,
}

/// An audit annotation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditAnnotation {
    /// The annotation key (prefixed with the policy name in Kubernetes).
    pub key: String,
    /// CEL giving a string, or null for no annotation.
    pub value_expression: String,
}

/// What an evaluation error means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum FailurePolicy {
    /// A violation.
    Fail,
    /// Skipped.
    Ignore,
}

/// A policy ready to evaluate.
pub struct Compiled {
    /// `metadata.name`.
    pub name: String,
    /// Where it came from: `with.policies[N]` or a snapshot file.
    pub origin: String,
    /// The snapshot file, when it came from one.
    pub file: Option<String>,
    /// `matchConstraints`.
    pub matching: Option<MatchResources>,
    /// `matchConditions`: name and program.
    pub conditions: Vec<(String, IdedExpr)>,
    /// `variables`: name and program, in order.
    pub variables: Vec<(String, IdedExpr)>,
    /// The checks.
    pub validations: Vec<CompiledValidation>,
    /// Audit annotations: key and program.
    pub annotations: Vec<(String, IdedExpr)>,
    /// `failurePolicy`.
    pub failure: FailurePolicy,
    /// Bound as `params` (null when none).
    pub params: Value,
}

/// One compiled check.
pub struct CompiledValidation {
    /// The source, for the default message.
    pub source: String,
    /// The program.
    pub program: IdedExpr,
    /// `message`.
    pub message: Option<String>,
    /// `messageExpression`.
    pub message_program: Option<IdedExpr>,
    /// `reason`.
    pub reason: Option<String>,
    /// `fieldPath` without its leading dot.
    pub field: Option<String>,
}

/// Compiles a policy document. Errors name the policy, its origin, the
/// expression's place in the spec, the position and the source.
pub fn compile(
    ctx: &Context<'_>,
    doc: Document,
    origin: String,
    file: Option<String>,
    params: &Value,
) -> Result<Compiled, String> {
    let name = doc.metadata.name.clone();
    let at = |place: &str, message: String| format!("policy {name} ({origin}): spec.{place}: {message}");
    if !doc.api_version.starts_with("admissionregistration.k8s.io/") || doc.kind != "ValidatingAdmissionPolicy" {
        return Err(at(
            "",
            format!(
                "expected apiVersion admissionregistration.k8s.io/v1 and kind ValidatingAdmissionPolicy, found {} {}",
                doc.api_version, doc.kind
            ),
        ));
    }
    let spec = doc.spec;
    if spec.validations.is_empty() && spec.audit_annotations.is_empty() {
        return Err(at("validations", "a policy needs at least one validation or audit annotation".into()));
    }
    if spec.param_kind.is_some() && params.is_null() {
        return Err(at("paramKind", "the policy takes params, and the stage's `with.params` is not set".into()));
    }
    let expr = |place: String, source: &str| parse(ctx, source).map_err(|e| at(&place, e));
    let named = |list: &[Named], field: &str| -> Result<Vec<(String, IdedExpr)>, String> {
        list.iter()
            .enumerate()
            .map(|(i, n)| Ok((n.name.clone(), expr(format!("{field}[{i}].expression"), &n.expression)?)))
            .collect()
    };
    let conditions = named(&spec.match_conditions, "matchConditions")?;
    let variables = named(&spec.variables, "variables")?;
    let mut validations = Vec::new();
    for (i, v) in spec.validations.iter().enumerate() {
        let message_program = match &v.message_expression {
            Some(source) => Some(expr(format!("validations[{i}].messageExpression"), source)?),
            None => None,
        };
        validations.push(CompiledValidation {
            source: v.expression.clone(),
            program: expr(format!("validations[{i}].expression"), &v.expression)?,
            message: v.message.clone(),
            message_program,
            reason: v.reason.clone(),
            field: v.field_path.as_deref().map(|f| f.trim_start_matches('.').to_owned()),
        });
    }
    let mut annotations = Vec::new();
    for (i, a) in spec.audit_annotations.iter().enumerate() {
        annotations.push((a.key.clone(), expr(format!("auditAnnotations[{i}].valueExpression"), &a.value_expression)?));
    }
    if let Some(matching) = &spec.match_constraints {
        matching.check().map_err(|e| at("matchConstraints", e))?;
    }
    Ok(Compiled {
        name,
        origin,
        file,
        matching: spec.match_constraints,
        conditions,
        variables,
        validations,
        annotations,
        failure: spec.failure_policy.unwrap_or(FailurePolicy::Fail),
        params: params.clone(),
    })
}

/// Parses one expression (optional syntax on) and checks its functions and
/// variables: "line L column C: why: `source`".
pub fn parse(ctx: &Context<'_>, source: &str) -> Result<IdedExpr, String> {
    let expr = Parser::new().enable_optional_syntax(true).parse(source).map_err(|errors| {
        let first = errors.errors.first();
        let (line, column) = first.map_or((1, 1), |e| (e.pos.0.max(1), e.pos.1.max(0) + 1));
        let why = first.map_or_else(|| errors.to_string(), |e| e.msg.clone());
        format!("line {line} column {column}: {why}: `{source}`")
    })?;
    if let Some(unknown) = crate::check::unknown(ctx, &expr, source) {
        return Err(format!("line {} column {}: {}: `{source}`", unknown.line, unknown.column, unknown.what));
    }
    Ok(expr)
}
