//! `capstan policy export`: builtin:cel policies as the cluster's own
//! ValidatingAdmissionPolicy + ValidatingAdmissionPolicyBinding, so the API
//! server enforces the same rules for objects that do not come through
//! Capstan. Each policy is loaded by builtin:cel first: what it refuses
//! (a malformed expression, an unknown function) is not exported.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use capstan_host::{Limits, PluginHost};
use serde_json::{Value, json};

use crate::policy_cmd::ExportAction;

/// The YAML documents of the policies of `files` and one binding each.
pub fn export(files: &[PathBuf], action: ExportAction, host: &PluginHost, limits: &Limits) -> Result<String> {
    let mut out = String::new();
    for file in files {
        let stage = crate::policy_cmd::stage_for_file(file)?;
        if stage.plugin != "builtin:cel" {
            bail!("{}: only ValidatingAdmissionPolicy files (builtin:cel) can be exported", file.display());
        }
        let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        crate::policy_cmd::validate(host, &stage, dir, &[], limits)
            .with_context(|| format!("{}: builtin:cel refuses the policy", file.display()))?;
        for policy in stage.params["policies"].as_array().into_iter().flatten() {
            let (policy, binding) = pair(policy, action).with_context(|| format!("{}", file.display()))?;
            for doc in [policy, binding] {
                out.push_str("---\n");
                out.push_str(&crate::yaml::to_string(&doc));
            }
        }
    }
    Ok(out)
}

/// The policy as the API server takes it (v1, `matchConstraints` required)
/// and its binding.
fn pair(policy: &Value, action: ExportAction) -> Result<(Value, Value)> {
    let name = policy.pointer("/metadata/name").and_then(Value::as_str).context("policy without metadata.name")?;
    if policy.pointer("/spec/paramKind").is_some() {
        bail!(
            "policy {name} takes params (spec.paramKind): export it without params, or bind it yourself with a paramRef to a params object"
        );
    }
    let mut exported = policy.clone();
    exported["apiVersion"] = json!("admissionregistration.k8s.io/v1");
    exported["metadata"] = json!({"name": name, "labels": {"app.kubernetes.io/managed-by": "capstan"}});
    if exported.pointer("/spec/matchConstraints").is_none() {
        // builtin:cel checks every object when none is given; the API server needs it said.
        exported["spec"]["matchConstraints"] = json!({"resourceRules": [{
            "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["*"]
        }]});
    }
    let actions = match action {
        ExportAction::Deny => json!(["Deny"]),
        ExportAction::Warn => json!(["Warn"]),
        ExportAction::Audit => json!(["Audit"]),
    };
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "capstan"}},
        "spec": {"policyName": name, "validationActions": actions},
    });
    Ok((exported, binding))
}
