//! Gatekeeper's conventions: a ConstraintTemplate holds the Rego (with its
//! `libs`), a Constraint of the template's kind says which objects it
//! applies to (`spec.match`), with which `parameters` and
//! `enforcementAction`. The template's `violation` rule sees
//! `input.review.object` and `input.parameters`, as at admission.

use capstan_plugin::Severity;
use capstan_plugin::policy::{Admitted, LabelSelector};
use serde::Deserialize;
use serde_json::Value;

/// A ConstraintTemplate (templates.gatekeeper.sh v1, v1beta1).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    /// `metadata.name`.
    pub metadata: Named,
    /// `spec`.
    pub spec: TemplateSpec,
}

/// `metadata` with its name.
#[derive(Debug, Deserialize)]
pub struct Named {
    /// Name.
    pub name: String,
}

/// `spec` of a ConstraintTemplate.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSpec {
    /// `crd.spec.names.kind`: the kind of its Constraints.
    pub crd: Value,
    /// The targets; the one of `admission.k8s.gatekeeper.sh` is used.
    pub targets: Vec<Target>,
}

/// One target of a template.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// `admission.k8s.gatekeeper.sh`.
    pub target: String,
    /// Rego (the older form).
    #[serde(default)]
    pub rego: Option<String>,
    /// Rego libraries (the older form).
    #[serde(default)]
    pub libs: Vec<String>,
    /// The newer form: one entry per engine (`Rego`, `K8sNativeValidation`).
    #[serde(default)]
    pub code: Vec<Code>,
}

/// One engine's code.
#[derive(Debug, Deserialize)]
pub struct Code {
    /// `Rego` is the one this plugin runs.
    pub engine: String,
    /// `rego`, `libs`, and `version` (`v1` for Rego v1 syntax).
    pub source: Value,
}

/// The Rego of a template: main module, libraries, and whether it is v1 syntax.
pub struct TemplateRego {
    /// The kind of its Constraints.
    pub kind: String,
    /// The main module.
    pub rego: String,
    /// Library modules.
    pub libs: Vec<String>,
    /// Rego v1 syntax (Gatekeeper's default is v0).
    pub v1: bool,
}

impl Template {
    /// The Rego of the admission target.
    pub fn rego(&self) -> Result<TemplateRego, String> {
        let kind = self
            .spec
            .crd
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .ok_or("spec.crd.spec.names.kind is missing")?
            .to_owned();
        let target = self
            .spec
            .targets
            .iter()
            .find(|t| t.target == "admission.k8s.gatekeeper.sh")
            .ok_or("no target admission.k8s.gatekeeper.sh in spec.targets")?;
        if let Some(rego) = &target.rego {
            return Ok(TemplateRego { kind, rego: rego.clone(), libs: target.libs.clone(), v1: false });
        }
        let code = target.code.iter().find(|c| c.engine == "Rego").ok_or(
            "the admission target has no Rego (`rego`, or `code` with engine Rego); K8sNativeValidation templates run in builtin:cel as ValidatingAdmissionPolicies",
        )?;
        let rego = code.source.get("rego").and_then(Value::as_str).ok_or("code[engine=Rego].source.rego is missing")?;
        let libs = code
            .source
            .get("libs")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let v1 = code.source.get("version").and_then(Value::as_str) == Some("v1");
        Ok(TemplateRego { kind, rego: rego.to_owned(), libs, v1 })
    }
}

/// A Constraint: any kind of group constraints.gatekeeper.sh.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraint {
    /// The template's constraint kind.
    pub kind: String,
    /// Its name.
    pub metadata: Named,
    /// `match`, `parameters`, `enforcementAction`.
    #[serde(default)]
    pub spec: ConstraintSpec,
}

/// `spec` of a Constraint.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConstraintSpec {
    /// Which objects it applies to (all when absent).
    #[serde(default, rename = "match")]
    pub matching: Match,
    /// `input.parameters`.
    #[serde(default)]
    pub parameters: Value,
    /// `deny` (default), `warn` or `dryrun`.
    #[serde(default)]
    pub enforcement_action: Option<String>,
    /// Per-enforcement-point actions (Gatekeeper 3.13+): the first `deny`/`warn`/`dryrun` is used.
    #[serde(default)]
    pub scoped_enforcement_actions: Vec<Value>,
}

/// Gatekeeper's `spec.match`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Match {
    /// `[{apiGroups, kinds}]`; empty matches every kind.
    #[serde(default)]
    pub kinds: Vec<Kinds>,
    /// `*`, `Cluster` or `Namespaced`.
    #[serde(default)]
    pub scope: Option<String>,
    /// Namespaces (a trailing or leading `*` is a wildcard).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Namespaces left alone.
    #[serde(default)]
    pub excluded_namespaces: Vec<String>,
    /// Labels of the object.
    #[serde(default)]
    pub label_selector: Option<LabelSelector>,
    /// Labels of its namespace.
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// The object's name (`*` wildcards as for namespaces).
    #[serde(default)]
    pub name: Option<String>,
    /// `All` (default), `Original` or `Generated`: objects Capstan applies
    /// are all original, none generated by an expansion.
    #[serde(default)]
    pub source: Option<String>,
}

/// `{apiGroups, kinds}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kinds {
    /// `""` for core, `*` for any.
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Kinds, `*` for any.
    #[serde(default)]
    pub kinds: Vec<String>,
}

impl Constraint {
    /// How a violation is reported.
    pub fn severity(&self) -> Result<Severity, String> {
        let scoped = self
            .spec
            .scoped_enforcement_actions
            .iter()
            .find_map(|a| a.get("action").and_then(Value::as_str).map(str::to_owned));
        match self.spec.enforcement_action.clone().or(scoped).as_deref().unwrap_or("deny") {
            "deny" | "Deny" => Ok(Severity::Error),
            "warn" | "Warn" => Ok(Severity::Warning),
            "dryrun" | "dryRun" => Ok(Severity::Info),
            other => Err(format!("spec.enforcementAction {other:?} is not deny, warn or dryrun")),
        }
    }

    /// Whether the constraint applies to `o`.
    pub fn matches(&self, o: &Admitted<'_>) -> bool {
        let m = &self.spec.matching;
        let any = |list: &[String], v: &str| list.iter().any(|x| x == "*" || x == v);
        let kind_ok =
            m.kinds.is_empty() || m.kinds.iter().any(|k| any(&k.api_groups, o.group) && any(&k.kinds, &o.object.kind));
        let scope_ok = match m.scope.as_deref() {
            Some("Cluster") => o.namespace.is_none(),
            Some("Namespaced") => o.namespace.is_some(),
            _ => true,
        };
        let ns = o.namespace.as_deref();
        let namespaces_ok = m.namespaces.is_empty() || ns.is_some_and(|n| m.namespaces.iter().any(|p| wildcard(p, n)));
        let excluded = ns.is_some_and(|n| m.excluded_namespaces.iter().any(|p| wildcard(p, n)));
        let labels_ok = m.label_selector.as_ref().is_none_or(|s| s.matches(o.labels()));
        let ns_labels_ok =
            !o.has_namespace() || m.namespace_selector.as_ref().is_none_or(|s| s.matches(o.namespace_labels()));
        let name_ok = m.name.as_deref().is_none_or(|p| wildcard(p, &o.object.name));
        let source_ok = m.source.as_deref() != Some("Generated");
        source_ok && kind_ok && scope_ok && namespaces_ok && !excluded && labels_ok && ns_labels_ok && name_ok
    }
}

/// Gatekeeper's namespace patterns: `prefix-*`, `*-suffix`, or exact.
fn wildcard(pattern: &str, value: &str) -> bool {
    match (pattern.strip_suffix('*'), pattern.strip_prefix('*')) {
        (Some(prefix), _) => value.starts_with(prefix),
        (_, Some(suffix)) => value.ends_with(suffix),
        _ => pattern == value,
    }
}

/// `input` of a template's `violation` rule for an object: the admission
/// review (`review` when the item was an `AdmissionReview`, as gator takes
/// them) and the constraint's parameters.
pub fn input(o: &Admitted<'_>, review: Option<&Value>, parameters: &Value) -> Value {
    let review = review.cloned().unwrap_or_else(|| {
        serde_json::json!({
            "kind": {"group": o.group, "version": o.version, "kind": o.object.kind},
            "name": o.object.name,
            "namespace": o.namespace,
            "operation": "CREATE",
            "object": o.json,
            "userInfo": {"username": "system:serviceaccount:capstan-system:capstan"},
        })
    });
    serde_json::json!({"review": review, "parameters": parameters})
}
