//! Policies at the edge: the platform set (`--platform-policies`), a policy
//! file tried without an Application (`--policy`), the verdict table of
//! `render`/`diff`/`sync`, and `capstan policy test|export`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use capstan_host::pipeline::Verdict;
use capstan_host::{Limits, PluginHost, RenderCall};
use capstan_types::{Enforcement, Object, PluginStage, Severity};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::output::table;

/// The `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run policy test suites: gator's `Suite` files (ConstraintTemplate +
    /// Constraint + objects) and Capstan's `PolicyTest` files, found under
    /// DIR; exit 1 when a case fails.
    Test {
        /// A directory (searched recursively) or one suite file.
        dir: PathBuf,
    },
    /// Turn builtin:cel policies (ValidatingAdmissionPolicy files) into a
    /// ValidatingAdmissionPolicy + ValidatingAdmissionPolicyBinding per
    /// policy, for the cluster to enforce on objects that do not come
    /// through Capstan.
    Export {
        /// ValidatingAdmissionPolicy files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The binding's validationActions.
        #[arg(long, value_enum, default_value_t = ExportAction::Deny)]
        action: ExportAction,
    },
}

/// `validationActions` of an exported binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportAction {
    /// Reject the request.
    Deny,
    /// Admit with a warning.
    Warn,
    /// Record in the audit log.
    Audit,
}

/// A policy stage for a policy file tried without changing the Application
/// (`--policy FILE`): a `.rego` module, ConstraintTemplates and Constraints
/// go to builtin:rego, ValidatingAdmissionPolicies to builtin:cel, inline.
pub fn stage_for_file(file: &Path) -> Result<PluginStage> {
    let text = std::fs::read_to_string(file).with_context(|| format!("failed to read {}", file.display()))?;
    let name = file.display().to_string();
    let stage = |plugin: &str, params: Value| PluginStage {
        plugin: plugin.to_owned(),
        digest: None,
        params,
        enforcement: Some(Enforcement::Deny),
        limits: None,
    };
    if file.extension().is_some_and(|e| e == "rego") {
        return Ok(stage("builtin:rego", json!({"modules": {name: text}})));
    }
    let docs = documents(&text).with_context(|| format!("{name}: not YAML"))?;
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d.get("kind").and_then(Value::as_str)).collect();
    if !kinds.is_empty() && kinds.iter().all(|k| *k == "ValidatingAdmissionPolicy") {
        return Ok(stage("builtin:cel", json!({"policies": docs})));
    }
    let (templates, constraints): (Vec<Value>, Vec<Value>) =
        docs.into_iter().partition(|d| d.get("kind").and_then(Value::as_str) == Some("ConstraintTemplate"));
    if templates.is_empty() {
        bail!(
            "{name}: neither a .rego module, ValidatingAdmissionPolicies, nor ConstraintTemplates (with Constraints)"
        );
    }
    Ok(stage("builtin:rego", json!({"templates": templates, "constraints": constraints})))
}

/// `app` with a deny stage for each of `files` after its own policies.
pub fn with_policies(mut app: crate::AppFile, files: &[PathBuf]) -> Result<crate::AppFile> {
    for file in files {
        app.app.spec.policy.push(stage_for_file(file)?);
    }
    Ok(app)
}

/// The non-empty YAML documents of `text`.
fn documents(text: &str) -> Result<Vec<Value>> {
    use serde::Deserialize as _;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(doc)?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// The policy name of a builtin:cel or builtin:rego finding (`[NAME] …`),
/// and the message without it.
fn split_name(message: &str) -> (Option<&str>, &str) {
    message
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
        .map_or((None, message), |(name, rest)| (Some(name), rest))
}

/// The verdict table: policy, origin, enforcement, object, field, message.
pub fn verdict_table(verdicts: &[Verdict]) -> String {
    let rows: Vec<[String; 6]> = verdicts
        .iter()
        .filter(|v| v.diagnostic.severity != Severity::Info || v.enforcement == Enforcement::Audit)
        .map(|v| {
            let d = &v.diagnostic;
            let (name, message) = split_name(&d.message);
            let action = match (v.enforcement, d.severity) {
                (Enforcement::Deny, Severity::Error) => "deny",
                (Enforcement::Audit, _) => "audit",
                (_, Severity::Info) => "info",
                _ => "warn",
            };
            [
                name.unwrap_or(&v.plugin).to_owned(),
                v.origin.to_string(),
                action.to_owned(),
                d.object.as_ref().map(ToString::to_string).unwrap_or_default(),
                d.field.clone().unwrap_or_default(),
                message.replace('\n', " "),
            ]
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    table(["POLICY", "ORIGIN", "ACTION", "OBJECT", "FIELD", "MESSAGE"], &rows)
}

/// Prints the verdicts (to stderr, beside the objects or the diff on stdout).
pub fn print_verdicts(verdicts: &[Verdict]) {
    let text = verdict_table(verdicts);
    if !text.is_empty() {
        eprint!("{text}");
    }
}

/// Runs a `policy` subcommand.
pub fn run(command: PolicyCommand, host: &PluginHost, limits: &Limits) -> Result<()> {
    match command {
        PolicyCommand::Test { dir } => {
            let report = crate::policy_test::run(&dir, host, limits)?;
            print!("{}", report.text);
            println!("{} passed, {} failed", report.passed, report.failed);
            if report.failed > 0 {
                bail!("{} policy test case(s) failed", report.failed);
            }
            Ok(())
        }
        PolicyCommand::Export { files, action } => {
            crate::output::print(&crate::policy_export::export(&files, action, host, limits)?)?;
            Ok(())
        }
    }
}

/// Runs one validator stage over `objects`, outside any Application:
/// `snapshot` is the directory its `with.files` paths start from.
pub fn validate(
    host: &PluginHost,
    stage: &PluginStage,
    snapshot: &Path,
    objects: &[Object],
    limits: &Limits,
) -> Result<Vec<capstan_types::Diagnostic>> {
    let plugin = host.load(&stage.plugin, stage.digest.as_deref(), snapshot)?;
    let call = RenderCall {
        snapshot,
        path: ".",
        app: "policy-test",
        // As kubectl (and gator) place an object that names no namespace.
        namespace: Some("default"),
        revision: "0000000000000000000000000000000000000000",
        params: &stage.params,
    };
    Ok(host.validate(&plugin, &call, objects, limits)?)
}
