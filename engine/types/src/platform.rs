//! The platform policy set (`kind: PlatformPolicy`): policy stages a
//! platform team sets for every Application, outside any Application.
//!
//! The engine runs them in every Application's pipeline, before the
//! Application's own `spec.policy`, each with its own `enforcement` and
//! `limits` over the engine's defaults. Nothing in an Application reaches
//! them: its `spec.policy` only adds stages, its `spec.limits` does not
//! apply to them, and a stage it adds with the same plugin and parameters
//! under `enforcement: audit` is just one more stage — the platform's still
//! runs and still denies.
//!
//! The CLI reads them from `--platform-policies FILE`; the controller reads
//! the same documents from the ConfigMap `capstan-platform-policies` (key
//! `policies.yaml`) in its own namespace, where only the platform team may
//! write.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Enforcement, PluginLimits, PluginStage};

/// Errors of reading a platform policy file.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// Document `index` (1-based) is not a valid PlatformPolicy.
    #[error("document {index}: not a valid PlatformPolicy")]
    Parse {
        /// 1-based document number.
        index: usize,
        /// Why.
        #[source]
        source: serde_yaml::Error,
    },
    /// `apiVersion` or `kind` is not ours.
    #[error(
        "document {index}: apiVersion {api_version:?}, kind {kind:?} (expected {}, PlatformPolicy)",
        crate::application::API_VERSION
    )]
    WrongKind {
        /// 1-based document number.
        index: usize,
        /// The apiVersion found.
        api_version: String,
        /// The kind found.
        kind: String,
    },
    /// Two stages share a name.
    #[error("policy name {0:?} is used twice; each platform policy needs its own name")]
    DuplicateName(String),
}

/// One `PlatformPolicy` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformPolicy {
    /// `capstan.dev/v1alpha1`.
    pub api_version: String,
    /// `PlatformPolicy`.
    pub kind: String,
    /// Its name.
    pub metadata: crate::Metadata,
    /// The stages.
    pub spec: PlatformSpec,
}

/// `spec` of a PlatformPolicy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformSpec {
    /// Validator stages, run for every Application.
    pub policy: Vec<PlatformStage>,
}

/// A named policy stage of the platform set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformStage {
    /// Names the policy in every verdict.
    pub name: String,
    /// `builtin:NAME`, or a path (from the platform file's directory) or URL.
    pub plugin: String,
    /// `sha256:HEX`, required for anything but `builtin:` plugins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Parameters passed to the plugin as JSON.
    #[serde(default, rename = "with", skip_serializing_if = "Value::is_null")]
    pub params: Value,
    /// Whether errors block the sync (default `deny`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<Enforcement>,
    /// This stage's leash, over the engine's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<PluginLimits>,
}

impl PlatformStage {
    /// The stage as the pipeline runs it.
    pub fn stage(&self) -> PluginStage {
        PluginStage {
            plugin: self.plugin.clone(),
            digest: self.digest.clone(),
            params: self.params.clone(),
            enforcement: self.enforcement,
            limits: self.limits.clone(),
        }
    }
}

/// Reads the stages of every PlatformPolicy document in `text` (YAML,
/// several documents), in order.
pub fn platform_policies(text: &str) -> Result<Vec<PlatformStage>, PlatformError> {
    let mut stages: Vec<PlatformStage> = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let value = serde_yaml::Value::deserialize(doc).map_err(|source| PlatformError::Parse { index, source })?;
        if value.is_null() {
            continue;
        }
        let policy: PlatformPolicy =
            serde_yaml::from_value(value).map_err(|source| PlatformError::Parse { index, source })?;
        if policy.api_version != crate::application::API_VERSION || policy.kind != "PlatformPolicy" {
            return Err(PlatformError::WrongKind { index, api_version: policy.api_version, kind: policy.kind });
        }
        for stage in policy.spec.policy {
            if stages.iter().any(|s| s.name == stage.name) {
                return Err(PlatformError::DuplicateName(stage.name));
            }
            stages.push(stage);
        }
    }
    Ok(stages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stages_and_refuses_typos_and_duplicates() {
        let text = "apiVersion: capstan.dev/v1alpha1\nkind: PlatformPolicy\nmetadata: {name: base}\nspec:\n  policy:\n  - {name: a, plugin: builtin:cel, with: {files: [x]}, enforcement: warn}\n---\napiVersion: capstan.dev/v1alpha1\nkind: PlatformPolicy\nmetadata: {name: more}\nspec:\n  policy:\n  - {name: b, plugin: builtin:rego}\n";
        let stages = platform_policies(text).unwrap();
        assert_eq!(stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(stages[0].stage().enforcement, Some(Enforcement::Warn));
        let typo = text.replace("enforcement: warn", "enforcment: warn");
        assert!(matches!(platform_policies(&typo), Err(PlatformError::Parse { index: 1, .. })));
        let twice = text.replace("name: b,", "name: a,");
        assert_eq!(
            platform_policies(&twice).unwrap_err().to_string(),
            "policy name \"a\" is used twice; each platform policy needs its own name"
        );
        let wrong =
            text.replace("kind: PlatformPolicy\nmetadata: {name: more}", "kind: Application\nmetadata: {name: more}");
        assert!(matches!(platform_policies(&wrong), Err(PlatformError::WrongKind { index: 2, .. })));
    }
}
