//! Desired versus live: equal unless a real difference is left after
//! normalising both sides, stripping ignored fields and masking Secrets.
//!
//! The desired side should be what the API server would store: the result
//! of a server-side apply dry-run (`dryRun=All`), which carries server
//! defaults and the merge of fields other managers own. Comparing the raw
//! manifest instead would report every defaulted field as drift.

use serde_json::Value;

use crate::ignore::IgnoreRules;
use crate::mask::Masker;
use crate::normalize::normalize;

/// The outcome of comparing one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The desired object, normalised, ignored fields stripped, masked.
    pub desired: Value,
    /// The live object, prepared the same way; `None` if it does not exist.
    pub live: Option<Value>,
}

impl Comparison {
    /// Whether applying would change the cluster.
    pub fn changed(&self) -> bool {
        self.live.as_ref() != Some(&self.desired)
    }

    /// A unified diff from live to desired (YAML lines, 3 lines of context),
    /// empty when nothing changed. `name` heads the diff.
    pub fn unified(&self, name: &str) -> String {
        if !self.changed() {
            return String::new();
        }
        let yaml = |v: &Value| serde_yaml::to_string(v).unwrap_or_else(|_| format!("{v:#}\n"));
        let live = self.live.as_ref().map(yaml).unwrap_or_default();
        let desired = yaml(&self.desired);
        similar::TextDiff::from_lines(&live, &desired)
            .unified_diff()
            .context_radius(3)
            .header(&format!("live/{name}"), &format!("desired/{name}"))
            .to_string()
    }
}

/// Compares a desired object (ideally the SSA dry-run result) with the live one.
pub fn compare(desired: &Value, live: Option<&Value>, rules: &IgnoreRules, masker: &Masker) -> Comparison {
    let prepare = |value: &Value| {
        let mut out = value.clone();
        // Ownership comes from the live object: the dry-run result may
        // already show capstan owning what another manager holds today.
        rules.strip(&mut out, live);
        let mut out = normalize(&out);
        masker.mask(&mut out);
        out
    };
    Comparison { desired: prepare(desired), live: live.map(prepare) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live_deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": "1", "resourceVersion": "9", "generation": 4,
                "managedFields": [{"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 5, "strategy": {"type": "RollingUpdate"}, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}},
            "status": {"replicas": 5}})
    }

    #[test]
    fn equal_after_normalising() {
        let desired = live_deployment();
        let mut live = live_deployment();
        live["metadata"]["resourceVersion"] = json!("10");
        live["status"] = json!({"replicas": 4});
        assert!(!compare(&desired, Some(&live), &IgnoreRules::default(), &Masker::with_salt(0)).changed());
    }

    #[test]
    fn drift_shows_as_unified_diff() {
        let mut desired = live_deployment();
        desired["spec"]["replicas"] = json!(2);
        desired["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        let c = compare(&desired, Some(&live_deployment()), &IgnoreRules::default(), &Masker::with_salt(0));
        assert!(c.changed());
        insta::assert_snapshot!(c.unified("apps/v1/Deployment/shop/web"));
    }

    #[test]
    fn ignored_fields_and_managers_are_not_drift() {
        let mut desired = live_deployment();
        desired["spec"]["replicas"] = json!(2);
        let by_manager: capstan_types::IgnoreDifference = serde_json::from_value(
            json!({"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["kubectl-edit"]}),
        )
        .unwrap();
        let rules = IgnoreRules::new(&[by_manager]).unwrap();
        assert!(!compare(&desired, Some(&live_deployment()), &rules, &Masker::with_salt(0)).changed());
    }

    #[test]
    fn secret_diff_never_shows_values() {
        let secret = |v: &str| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": v, "user": "YWRtaW4="}});
        let c = compare(
            &secret("bmV3LXNlY3JldA=="),
            Some(&secret("b2xkLXNlY3JldA==")),
            &IgnoreRules::default(),
            &Masker::with_salt(7),
        );
        let text = c.unified("v1/Secret/db");
        assert!(c.changed());
        assert!(!text.contains("bmV3") && !text.contains("b2xk") && !text.contains("YWRtaW4="), "{text}");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn missing_live_object_is_a_change() {
        let c = compare(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
            None,
            &IgnoreRules::default(),
            &Masker::with_salt(0),
        );
        assert!(c.changed());
        assert!(c.unified("v1/ConfigMap/a").contains("+kind: ConfigMap"));
    }
}
