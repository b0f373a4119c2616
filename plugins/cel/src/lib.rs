//! `builtin:cel`: Kubernetes ValidatingAdmissionPolicy rules, checked
//! against the rendered objects inside the sandbox.
//!
//! A stage's `with:` names the policies (inline documents, files of the
//! snapshot, or both) and the `params` they read. Every expression is
//! parsed and checked when the call starts ([`load`]): a malformed
//! expression, an unknown function or an unknown variable fails the whole
//! stage, naming the policy, the expression and its position, before any
//! object is looked at. Then each object is converted to CEL once and
//! every policy is evaluated on it ([`eval`]).
//!
//! The CEL interpreter is the `cel` crate, with the Kubernetes libraries of
//! `kube-cel` (strings, lists, sets, regex, URLs, IPs and CIDRs, quantities,
//! semver, format) registered on top; `has()`, the macros and optionals are
//! the interpreter's own.

pub mod check;
pub mod eval;
pub mod matching;
pub mod policy;

use std::path::Path;

use capstan_plugin::policy::{namespaces, read_policy_files};
use capstan_plugin::{Context, Diagnostic, Error, Validator};
use kube_cel::KubeCelExt;
use kube_cel::cel::Context as CelContext;
use serde::Deserialize;
use serde_json::Value;

pub use policy::{Compiled, Document};

/// The stage's `with:`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Params {
    /// ValidatingAdmissionPolicy documents, inline.
    #[serde(default)]
    pub policies: Vec<Value>,
    /// Files or directories of the snapshot (paths from its root) holding
    /// ValidatingAdmissionPolicy documents (YAML, several per file).
    #[serde(default)]
    pub files: Vec<String>,
    /// Bound as `params` in every policy.
    #[serde(default)]
    pub params: Value,
}

/// The validator.
pub struct Cel;

impl Validator for Cel {
    type Params = Params;

    fn validate(ctx: &Context, items: Vec<Value>, params: Params) -> Result<Vec<Diagnostic>, Error> {
        let root = environment();
        let policies = load(&root, &params, Path::new("/")).map_err(Error::InvalidConfig)?;
        Ok(check(&root, &policies, &items, ctx.namespace.as_deref()))
    }
}

/// The root CEL context: the standard functions and the Kubernetes libraries.
pub fn environment() -> CelContext<'static> {
    CelContext::default().with_all()
}

/// Compiles the policies of `params`; files are read under `root`.
pub fn load(ctx: &CelContext<'_>, params: &Params, root: &Path) -> Result<Vec<Compiled>, String> {
    let mut compiled = Vec::new();
    for (i, doc) in params.policies.iter().enumerate() {
        let origin = format!("with.policies[{i}]");
        let doc: Document = serde_json::from_value(doc.clone()).map_err(|e| format!("{origin}: {e}"))?;
        compiled.push(policy::compile(ctx, doc, origin, None, &params.params)?);
    }
    for file in &params.files {
        for (path, text) in read_policy_files(root, file, &["yaml", "yml", "json"])? {
            for (n, doc) in serde_yaml::Deserializer::from_str(&text).enumerate() {
                let value = Value::deserialize(doc).map_err(|e| format!("{path}: document {}: {e}", n + 1))?;
                if value.is_null() {
                    continue;
                }
                let origin = format!("{path} document {}", n + 1);
                let doc: Document = serde_json::from_value(value).map_err(|e| format!("{origin}: {e}"))?;
                compiled.push(policy::compile(ctx, doc, origin, Some(path.clone()), &params.params)?);
            }
        }
    }
    if compiled.is_empty() {
        return Err("no policies: set `with.policies` or `with.files`".into());
    }
    Ok(compiled)
}

/// Every finding of every policy on every object.
pub fn check(ctx: &CelContext<'_>, policies: &[Compiled], items: &[Value], namespace: Option<&str>) -> Vec<Diagnostic> {
    let namespaces = namespaces(items);
    let params: Vec<_> = policies.iter().map(|p| eval::to_cel(&p.params)).collect();
    let mut found = Vec::new();
    for item in items {
        let subject = eval::Subject::new(item, namespace, &namespaces);
        for (policy, params) in policies.iter().zip(&params) {
            found.extend(eval::evaluate(ctx, policy, params, &subject));
        }
    }
    found
}

#[cfg(target_arch = "wasm32")]
capstan_plugin::export_validator!(Cel);
