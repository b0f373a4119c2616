//! The install manifests, compiled into the binary from `deploy/` so that
//! `capstan install` and the files in the repository cannot drift apart
//! (a test checks `deploy/crd.yaml` against the CRD generated from the types).

/// `deploy/namespace.yaml`.
const NAMESPACE: &str = include_str!("../../../deploy/namespace.yaml");
/// `deploy/rbac.yaml`: ClusterRole, Role (leader election), their bindings,
/// ServiceAccount (documented there).
const RBAC: &str = include_str!("../../../deploy/rbac.yaml");
/// `deploy/controller.yaml`: Deployment and Service.
const CONTROLLER: &str = include_str!("../../../deploy/controller.yaml");

/// Every install manifest as one multi-document YAML stream, in apply order:
/// namespace, CRD, RBAC, controller.
pub fn manifests() -> String {
    let crd = capstan_types::crd_yaml();
    [NAMESPACE, &crd, RBAC, CONTROLLER].iter().map(|doc| doc.trim_end()).collect::<Vec<_>>().join("\n---\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_crd_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/crd.yaml");
        if std::env::var_os("CAPSTAN_BLESS").is_some() {
            std::fs::write(path, capstan_types::crd_yaml()).unwrap();
        }
        let file = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            file.trim_end(),
            capstan_types::crd_yaml().trim_end(),
            "deploy/crd.yaml is stale: regenerate it with CAPSTAN_BLESS=1 cargo test -p capstan-controller --lib install"
        );
    }

    #[test]
    fn every_manifest_parses_and_runs_as_non_root_with_probes() {
        let text = manifests();
        let docs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
            .filter(|doc: &serde_json::Value| !doc.is_null())
            .collect();
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "CustomResourceDefinition",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "ServiceAccount",
                "ConfigMap",
                "Deployment",
                "Service"
            ]
        );
        let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        let container = &pod["containers"][0];
        assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert!(container["resources"]["requests"].is_object());
        // Leader election, in the Pod's own namespace, as the Pod.
        assert!(container["args"].as_array().unwrap().iter().any(|a| a == "--leader-elect"));
        // The platform set: the mounted ConfigMap, empty as installed.
        let env = container["env"].as_array().unwrap();
        let platform = env.iter().find(|e| e["name"] == "CAPSTAN_PLATFORM_POLICIES").unwrap();
        assert_eq!(platform["value"], "/etc/capstan/platform/policies.yaml");
        for (var, field) in [("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")] {
            let found = env.iter().find(|e| e["name"] == var).unwrap_or_else(|| panic!("{var} is set"));
            assert_eq!(found["valueFrom"]["fieldRef"]["fieldPath"], field);
        }
        let role = docs.iter().find(|d| d["kind"] == "Role").unwrap();
        assert_eq!(role["metadata"]["namespace"], "capstan-system");
        assert_eq!(role["rules"][0]["resources"][0], "leases");
        let config_map = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
        assert_eq!(config_map["metadata"]["name"], "capstan-platform-policies");
        let set = capstan_types::platform_policies(config_map["data"]["policies.yaml"].as_str().unwrap()).unwrap();
        assert!(set.is_empty());
    }
}
