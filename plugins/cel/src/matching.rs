//! `matchConstraints`: which objects a policy looks at, as the API server
//! decides for a ValidatingAdmissionPolicy (resource rules, exclusions,
//! namespace and object label selectors). Objects Capstan applies are
//! creates or updates, so a rule must allow `CREATE`, `UPDATE` or `*`.

use capstan_plugin::policy::{Admitted, LabelSelector, plural};
use serde::{Deserialize, Serialize};

/// `spec.matchConstraints`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchResources {
    /// Labels of the object's namespace (of the object itself for a Namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Labels of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_selector: Option<LabelSelector>,
    /// An object must match one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_rules: Vec<Rule>,
    /// An object matching one of these is left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_resource_rules: Vec<Rule>,
    /// `Exact` or `Equivalent`; both mean the same here (no conversion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_policy: Option<String>,
}

/// A resource rule (`NamedRuleWithOperations`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// API groups, `""` for core, `*` for all.
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Versions, `*` for all.
    #[serde(default)]
    pub api_versions: Vec<String>,
    /// Plural lower-case resource names (`deployments`), `*` for all;
    /// subresources (`deployments/scale`) never match a whole object.
    #[serde(default)]
    pub resources: Vec<String>,
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT`, `*`.
    #[serde(default)]
    pub operations: Vec<String>,
    /// `Cluster`, `Namespaced` or `*` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Object names, empty for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}

impl MatchResources {
    /// Refuses what would make a rule match nothing by mistake.
    pub fn check(&self) -> Result<(), String> {
        for (list, rules) in
            [("resourceRules", &self.resource_rules), ("excludeResourceRules", &self.exclude_resource_rules)]
        {
            for (i, rule) in rules.iter().enumerate() {
                if rule.resources.is_empty() {
                    return Err(format!("{list}[{i}]: needs `resources` (plural names: deployments, configmaps, *)"));
                }
                if let Some(scope) = rule.scope.as_deref().filter(|s| !["*", "Cluster", "Namespaced"].contains(s)) {
                    return Err(format!("{list}[{i}].scope: {scope:?} is not *, Cluster or Namespaced"));
                }
            }
        }
        for (field, selector) in
            [("namespaceSelector", &self.namespace_selector), ("objectSelector", &self.object_selector)]
        {
            if let Some(selector) = selector {
                selector.check().map_err(|e| format!("{field}.{e}"))?;
            }
        }
        Ok(())
    }

    /// Whether the policy looks at `target`.
    pub fn matches(&self, target: &Admitted<'_>) -> bool {
        let rules_match = self.resource_rules.iter().any(|r| r.matches(target));
        let excluded = self.exclude_resource_rules.iter().any(|r| r.matches(target));
        // A namespace selector says nothing about other cluster-scoped objects.
        let namespace_ok = !target.has_namespace()
            || self.namespace_selector.as_ref().is_none_or(|s| s.matches(target.namespace_labels()));
        let object_ok = self.object_selector.as_ref().is_none_or(|s| s.matches(target.labels()));
        rules_match && !excluded && namespace_ok && object_ok
    }
}

impl Rule {
    fn matches(&self, t: &Admitted<'_>) -> bool {
        let any = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        let operation = self.operations.is_empty()
            || self.operations.iter().any(|o| ["*", "CREATE", "UPDATE"].contains(&o.as_str()));
        let resource = plural(&t.object.kind);
        let resource_ok = any(&self.resources, &resource);
        let scope_ok = match self.scope.as_deref() {
            Some("Cluster") => t.namespace.is_none(),
            Some("Namespaced") => t.namespace.is_some(),
            _ => true,
        };
        let name_ok = self.resource_names.is_empty() || self.resource_names.contains(&t.object.name);
        any(&self.api_groups, t.group)
            && any(&self.api_versions, t.version)
            && operation
            && resource_ok
            && scope_ok
            && name_ok
    }
}
