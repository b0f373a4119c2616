//! `builtin:rego`: Rego policies over the rendered objects, inside the
//! sandbox, with the conventions people already write them in:
//!
//! - **Gatekeeper**: ConstraintTemplates (`violation[{"msg": msg, ...}]`
//!   over `input.review.object` and `input.parameters`, with `libs`) plus
//!   Constraints of their kinds (`spec.match`, `parameters`,
//!   `enforcementAction`), Rego v0 as Gatekeeper parses it (or v1 when the
//!   template says `version: v1`). Library templates run unchanged.
//! - **conftest**: plain modules whose `deny`, `warn` and `violation` rules
//!   (and their `_suffix` variants) see each object as `input`.
//!
//! Every module is parsed and analysed once per call ([`load`]), before any
//! object is evaluated: a malformed policy fails the stage with the file,
//! line and column. The interpreter is `regorus`.

pub mod gatekeeper;

use std::collections::BTreeMap;
use std::path::Path;

use capstan_plugin::policy::{Admitted, namespaces, read_policy_files};
use capstan_plugin::{Context, Diagnostic, Error, Severity, Validator};
use gatekeeper::{Constraint, Template};
use regorus::Engine;
use serde::Deserialize;
use serde_json::Value;

/// The stage's `with:`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Params {
    /// Files or directories of the snapshot (paths from its root): `.rego`
    /// modules, and YAML files of ConstraintTemplates and Constraints.
    #[serde(default)]
    pub files: Vec<String>,
    /// Inline modules: file name → Rego source.
    #[serde(default)]
    pub modules: BTreeMap<String, String>,
    /// Inline ConstraintTemplates.
    #[serde(default)]
    pub templates: Vec<Value>,
    /// Inline Constraints.
    #[serde(default)]
    pub constraints: Vec<Value>,
    /// The `data` document of the plain modules.
    #[serde(default)]
    pub data: Value,
    /// Syntax of the plain modules: `v1`, `v0`; unset: v1, or v0 when a
    /// module does not parse as v1 but does as v0 (as `opa` and conftest
    /// before 1.0 read them).
    #[serde(default)]
    pub rego_version: Option<String>,
}

/// A template ready to evaluate.
pub struct Compiled {
    /// `metadata.name` and where it came from.
    pub name: String,
    /// The kind of its Constraints.
    pub kind: String,
    /// Its modules, analysed.
    pub engine: Engine,
    /// `data.PACKAGE.violation`.
    pub rule: String,
}

/// Everything a stage evaluates.
pub struct Loaded {
    /// The templates.
    pub templates: Vec<Compiled>,
    /// Constraints: the index of their template, the constraint, its severity, its origin file.
    pub constraints: Vec<(usize, Constraint, Severity, Option<String>)>,
    /// The plain modules, one engine.
    pub plain: Option<Engine>,
    /// The plain rules.
    pub rules: Vec<PlainRule>,
}

/// A conftest rule of a plain module: `data.PACKAGE.RULE`, its severity, its file.
pub type PlainRule = (String, Severity, String);

/// The validator.
pub struct Rego;

impl Validator for Rego {
    type Params = Params;

    fn validate(ctx: &Context, items: Vec<Value>, params: Params) -> Result<Vec<Diagnostic>, Error> {
        let mut loaded = load(&params, Path::new("/")).map_err(Error::InvalidConfig)?;
        check(&mut loaded, &items, ctx.namespace.as_deref()).map_err(Error::Failed)
    }
}

/// Parses and analyses every policy of `params`; files are read under `root`.
pub fn load(params: &Params, root: &Path) -> Result<Loaded, String> {
    let mut modules: Vec<(String, String)> = params.modules.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut templates: Vec<(Value, String)> =
        params.templates.iter().enumerate().map(|(i, t)| (t.clone(), format!("with.templates[{i}]"))).collect();
    let mut constraints: Vec<(Value, String, Option<String>)> = params
        .constraints
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), format!("with.constraints[{i}]"), None))
        .collect();
    for file in &params.files {
        for (path, text) in read_policy_files(root, file, &["rego", "yaml", "yml"])? {
            if path.ends_with(".rego") {
                modules.push((path, text));
                continue;
            }
            for (n, doc) in serde_yaml::Deserializer::from_str(&text).enumerate() {
                let value = Value::deserialize(doc).map_err(|e| format!("{path}: document {}: {e}", n + 1))?;
                let origin = format!("{path} document {}", n + 1);
                match value.get("kind").and_then(Value::as_str) {
                    None if value.is_null() => {}
                    Some("ConstraintTemplate") => templates.push((value, origin)),
                    Some(_) if value_group(&value) == "constraints.gatekeeper.sh" => {
                        constraints.push((value, origin, Some(path.clone())))
                    }
                    _ => {
                        return Err(format!(
                            "{origin}: neither a ConstraintTemplate nor a Constraint (constraints.gatekeeper.sh)"
                        ));
                    }
                }
            }
        }
    }
    let mut loaded = Loaded { templates: Vec::new(), constraints: Vec::new(), plain: None, rules: Vec::new() };
    for (value, origin) in templates {
        loaded.templates.push(template(value, &origin)?);
    }
    for (value, origin, file) in constraints {
        let constraint: Constraint = serde_json::from_value(value).map_err(|e| format!("{origin}: {e}"))?;
        let index = loaded.templates.iter().position(|t| t.kind == constraint.kind).ok_or_else(|| {
            format!(
                "{origin}: constraint {} is of kind {}, and no ConstraintTemplate defines that kind",
                constraint.metadata.name, constraint.kind
            )
        })?;
        let severity = constraint.severity().map_err(|e| format!("{origin}: {e}"))?;
        loaded.constraints.push((index, constraint, severity, file));
    }
    if !modules.is_empty() {
        let (engine, rules) = plain(&modules, params)?;
        loaded.plain = Some(engine);
        loaded.rules = rules;
    }
    if loaded.templates.is_empty() && loaded.plain.is_none() {
        return Err("no policies: set `with.files`, `with.modules` or `with.templates`".into());
    }
    Ok(loaded)
}

fn value_group(value: &Value) -> &str {
    value.get("apiVersion").and_then(Value::as_str).and_then(|v| v.split_once('/')).map_or("", |(g, _)| g)
}

/// Compiles one ConstraintTemplate in an engine of its own (templates
/// share library package names with different contents).
fn template(value: Value, origin: &str) -> Result<Compiled, String> {
    let template: Template = serde_json::from_value(value).map_err(|e| format!("{origin}: {e}"))?;
    let name = template.metadata.name.clone();
    let rego = template.rego().map_err(|e| format!("{origin}: template {name}: {e}"))?;
    let mut engine = Engine::new();
    engine.set_rego_v0(!rego.v1);
    let main = format!("{origin}: template {name}: rego");
    let package = engine.add_policy(main.clone(), rego.rego).map_err(|e| format!("{e:#}"))?;
    for (i, lib) in rego.libs.into_iter().enumerate() {
        engine.add_policy(format!("{origin}: template {name}: libs[{i}]"), lib).map_err(|e| format!("{e:#}"))?;
    }
    analyse(&mut engine, &main)?;
    Ok(Compiled { name, kind: rego.kind, engine, rule: format!("{package}.violation") })
}

/// The plain modules in one engine, and their deny/warn/violation rules.
fn plain(modules: &[(String, String)], params: &Params) -> Result<(Engine, Vec<PlainRule>), String> {
    let mut engine = Engine::new();
    if !params.data.is_null() {
        engine.add_data(regorus::Value::from(params.data.clone())).map_err(|e| format!("with.data: {e:#}"))?;
    }
    let mut rules = Vec::new();
    for (name, source) in modules {
        let package = match params.rego_version.as_deref() {
            Some("v0") => add(&mut engine, true, name, source)?,
            Some("v1") => add(&mut engine, false, name, source)?,
            Some(other) => return Err(format!("with.regoVersion: {other:?} is not v0 or v1")),
            // v1 first; a module that only parses as v0 is v0. When neither
            // parses, the v1 error is the one to read.
            None => add(&mut engine, false, name, source)
                .or_else(|v1| add(&mut engine, true, name, source).map_err(|_| v1))?,
        };
        for rule in rule_names(source) {
            let severity = if rule.starts_with("warn") { Severity::Warning } else { Severity::Error };
            let path = format!("{package}.{rule}");
            if !rules.iter().any(|(p, _, _)| *p == path) {
                rules.push((path, severity, name.clone()));
            }
        }
    }
    if let Some((name, _)) = modules.first() {
        analyse(&mut engine, name)?;
    }
    if rules.is_empty() {
        return Err("no rule named deny, warn or violation (or deny_*, warn_*, violation_*) in the Rego modules".into());
    }
    Ok((engine, rules))
}

fn add(engine: &mut Engine, v0: bool, name: &str, source: &str) -> Result<String, String> {
    engine.set_rego_v0(v0);
    engine.add_policy(name.to_owned(), source.to_owned()).map_err(|e| format!("{e:#}"))
}

/// Runs the analysis (unsafe variables, undefined functions, conflicts)
/// now, so that it fails at load and not at the first object.
fn analyse(engine: &mut Engine, name: &str) -> Result<(), String> {
    engine.eval_bool_query("true".into(), false).map(drop).map_err(|e| format!("{name}: {e:#}"))
}

/// conftest's rule names in a module: `deny`, `warn`, `violation`, and
/// their `_suffix` forms, at the start of a line.
fn rule_names(source: &str) -> Vec<String> {
    let mut names: Vec<String> = source
        .lines()
        .filter_map(|line| {
            let ident: String =
                line.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let conventional = ["deny", "warn", "violation"]
                .iter()
                .any(|p| ident == *p || ident.strip_prefix(p).is_some_and(|rest| rest.starts_with('_')));
            conventional.then_some(ident)
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Every finding on every object.
pub fn check(loaded: &mut Loaded, items: &[Value], namespace: Option<&str>) -> Result<Vec<Diagnostic>, String> {
    let namespaces = namespaces(items);
    let mut found = Vec::new();
    for item in items {
        // gator's habit: an AdmissionReview stands for the review it holds.
        let review = match item.get("kind").and_then(Value::as_str) {
            Some("AdmissionReview") => item.get("request"),
            _ => None,
        };
        let object = review.and_then(|r| r.get("object")).unwrap_or(item);
        let admitted = Admitted::new(object, namespace, &namespaces);
        for (index, constraint, severity, file) in &loaded.constraints {
            if !constraint.matches(&admitted) {
                continue;
            }
            let template = &mut loaded.templates[*index];
            let input = gatekeeper::input(&admitted, review, &constraint.spec.parameters);
            let policy = format!("{}/{}", template.name, constraint.metadata.name);
            let value = evaluate(&mut template.engine, &template.rule, input).map_err(|e| format!("{policy}: {e}"))?;
            found.extend(findings(&value, &policy, *severity, &admitted, file.as_deref()));
        }
        if let Some(engine) = &mut loaded.plain {
            for (rule, severity, file) in &loaded.rules {
                let value = evaluate(engine, rule, object.clone()).map_err(|e| format!("{rule} ({file}): {e}"))?;
                let policy = rule.trim_start_matches("data.");
                found.extend(findings(&value, policy, *severity, &admitted, Some(file)));
            }
        }
    }
    Ok(found)
}

fn evaluate(engine: &mut Engine, rule: &str, input: Value) -> Result<Value, String> {
    engine.set_input(regorus::Value::from(input));
    let value = engine.eval_rule(rule.to_owned()).map_err(|e| format!("evaluation failed: {e:#}"))?;
    if value == regorus::Value::Undefined {
        return Ok(Value::Null);
    }
    let json = value.to_json_str().map_err(|e| format!("evaluation failed: {e:#}"))?;
    serde_json::from_str(&json).map_err(|e| format!("evaluation failed: {e}"))
}

/// Diagnostics of a rule's value: a set of messages or of `{msg, details}`,
/// or `true` for a rule without a message.
fn findings(value: &Value, policy: &str, severity: Severity, o: &Admitted<'_>, file: Option<&str>) -> Vec<Diagnostic> {
    let messages: Vec<(String, Option<String>)> = match value {
        Value::Null | Value::Bool(false) => Vec::new(),
        Value::Array(items) => items.iter().filter_map(message).collect(),
        other => message(other).into_iter().collect(),
    };
    messages
        .into_iter()
        .map(|(message, field)| Diagnostic {
            severity,
            message: format!("[{policy}] {message}"),
            object: Some(o.object.clone()),
            field,
            file: file.map(str::to_owned),
        })
        .collect()
}

/// The message (and field, from `details.field` or `field`) of one finding.
fn message(value: &Value) -> Option<(String, Option<String>)> {
    match value {
        Value::String(s) => Some((s.clone(), None)),
        Value::Bool(true) => Some(("violated".into(), None)),
        Value::Object(map) => {
            let msg = map
                .get("msg")
                .or_else(|| map.get("message"))
                .and_then(Value::as_str)
                .map_or_else(|| value.to_string(), str::to_owned);
            let field = map
                .get("field")
                .or_else(|| map.get("details").and_then(|d| d.get("field")))
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some((msg, field))
        }
        Value::Null | Value::Bool(false) => None,
        other => Some((other.to_string(), None)),
    }
}

#[cfg(target_arch = "wasm32")]
capstan_plugin::export_validator!(Rego);
