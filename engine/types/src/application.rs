//! The `Application` resource (`applications.capstan.dev/v1alpha1`).
//!
//! The same YAML works as a custom resource in the cluster and as a local
//! file for the CLI. Unknown fields are refused so that a typo (`revison:`)
//! is an error, not a silently ignored setting.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::{is_dns_label, is_dns_subdomain};

/// The API version Capstan reads.
pub const API_VERSION: &str = "capstan.dev/v1alpha1";

/// Errors of reading an Application.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not a valid Application document.
    #[error("failed to parse the Application")]
    Parse(#[source] serde_yaml::Error),
    /// `apiVersion` or `kind` is not ours.
    #[error(
        "not a Capstan Application: apiVersion {api_version:?}, kind {kind:?} (expected {API_VERSION}, Application)"
    )]
    WrongKind {
        /// The apiVersion found.
        api_version: String,
        /// The kind found.
        kind: String,
    },
    /// A field has a value Capstan does not accept.
    #[error("invalid field `{field}`: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A Capstan Application: what to take from Git, how to render and check it,
/// and where to apply it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Application {
    /// Always `capstan.dev/v1alpha1`.
    pub api_version: String,
    /// Always `Application`.
    pub kind: String,
    /// Name and namespace of the Application itself.
    pub metadata: Metadata,
    /// The desired behaviour.
    pub spec: Spec,
}

/// The subset of `metadata` an Application uses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Name of the Application.
    pub name: String,
    /// Namespace of the Application resource (not of its objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels of the Application.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub labels: serde_json::Map<String, Value>,
    /// Annotations of the Application.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub annotations: serde_json::Map<String, Value>,
}

/// `spec` of an Application. In the cluster, the Application is
/// [`ApplicationResource`] (generated from this struct with its status and
/// `kubectl get` columns; the CRD is `ApplicationResource::crd()`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, kube::CustomResource)]
#[kube(
    group = "capstan.dev",
    version = "v1alpha1",
    kind = "Application",
    root = "ApplicationResource",
    namespaced,
    status = "crate::ApplicationStatus",
    shortname = "capp",
    category = "capstan",
    printcolumn = r#"{"name":"Sync","type":"string","jsonPath":".status.sync.status"}"#,
    printcolumn = r#"{"name":"Health","type":"string","jsonPath":".status.health.status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.sync.revision.short"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.message","priority":0}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    /// Where the manifests come from.
    pub source: Source,
    /// Ordered render stages: one renderer, then transformers. Empty means
    /// "detect": `builtin:helm` when the path holds a Chart.yaml,
    /// `builtin:kustomize` when it holds a kustomization, `builtin:jsonnet`
    /// when it holds a main.jsonnet, `builtin:yaml` otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub render: Vec<PluginStage>,
    /// Validators that check the final objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<PluginStage>,
    /// Health checks as plugins, for kinds the built-in rules judge wrongly
    /// or not at all (Argo CD's custom health checks); the first whose
    /// `kinds` match an object decides its health.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<HealthCheck>,
    /// Where the objects go.
    #[serde(default)]
    pub destination: Destination,
    /// What the Application may reach beyond its destination namespace:
    /// more namespaces, cluster-scoped kinds. Nothing unless listed.
    #[serde(default, skip_serializing_if = "Allow::is_empty")]
    pub allow: Allow,
    /// Service account impersonated for apply (in-cluster controller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Sync behaviour.
    #[serde(default)]
    pub sync: SyncPolicy,
    /// Fields whose differences are not drift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<IgnoreDifference>,
    /// Stop changing the cluster; keep reporting.
    #[serde(default)]
    pub suspend: bool,
    /// Applications that must be Synced and Healthy (at their current
    /// generation) before this one syncs (controller only; a cycle is an error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// The leash of every plugin call of this Application; absent fields
    /// keep the engine's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<PluginLimits>,
}

/// Caps of one plugin call, as written (parsed by the plugin host, whose
/// errors name the field): `{timeout: 5s, memory: 256Mi, maxOutputBytes: 64Mi, maxObjects: 50000}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginLimits {
    /// CPU deadline of a call: a number and a unit (`ms`, `s`, `m`), e.g. `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Memory cap of an instance: a Kubernetes quantity, e.g. `256Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Most bytes of objects a call may return: a quantity, e.g. `64Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<String>,
    /// Most objects a call may return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_objects: Option<u64>,
}

/// The Git side of an Application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// Repository URL (`file://`, `https://`, `ssh://`) or a local path; a
    /// relative path is taken relative to the Application file.
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// Branch, tag, SHA or semver range; `HEAD` when absent.
    #[serde(default = "default_revision")]
    pub revision: String,
    /// Directory inside the repository (no `..`, no leading `/`).
    #[serde(default)]
    pub path: String,
    /// Polling interval, e.g. `3m` (controller only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Fetch the whole history instead of the revision's tip only (needed
    /// for short SHAs that no branch or tag points at).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full_history: bool,
    /// Require a trusted signature on the resolved commit (or tag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
    /// A Secret in the Application's namespace holding the repository's
    /// credentials, with the keys of Flux's `GitRepository.spec.secretRef`:
    /// `username`/`password` or `bearerToken` for HTTPS, `identity` and
    /// `known_hosts` for SSH, `ca.crt` (or the older `caFile`) for a private CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

/// A Secret in the same namespace as the object that names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// Name of the Secret.
    pub name: String,
}

/// Commit-signature verification of a [`Source`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Verify {
    /// Which kind of signature is required.
    pub mode: VerifyMode,
    /// `ssh` mode: an allowed-signers list in the format of `ssh-keygen -Y verify`
    /// (`principal key-type base64-key [comment]`, one per line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_signers: Option<String>,
    /// `openpgp` mode: ASCII-armored public keys, one or more blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_keys: Option<String>,
}

/// The signature formats Capstan can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// SSH signatures (`gpg.format=ssh`), checked against `allowedSigners`.
    Ssh,
    /// OpenPGP signatures, checked against `publicKeys`.
    Openpgp,
}

fn default_revision() -> String {
    "HEAD".to_owned()
}

/// One plugin in the render or policy pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginStage {
    /// `builtin:NAME`, or a path or URL of a component.
    pub plugin: String,
    /// `sha256:HEX`, required for anything but `builtin:` plugins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Parameters passed to the plugin as JSON.
    #[serde(default, rename = "with", skip_serializing_if = "Value::is_null")]
    #[schemars(schema_with = "crate::crd::any_value")]
    pub params: Value,
    /// For policies: whether errors block the sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<Enforcement>,
    /// This stage's leash, over `spec.limits` (a slow policy may get a
    /// longer deadline without loosening every other plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<PluginLimits>,
}

/// A health plugin and the kinds it judges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// `GROUP/KIND` patterns: `apps/Deployment`, `/ConfigMap` for the core
    /// group, `*` for any group or kind, `*.example.com/*` for a group suffix.
    pub kinds: Vec<String>,
    /// `builtin:NAME`, or a path or URL of a component of world `health`.
    pub plugin: String,
    /// `sha256:HEX`, required for anything but `builtin:` plugins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Parameters passed to the plugin as JSON.
    #[serde(default, rename = "with", skip_serializing_if = "Value::is_null")]
    #[schemars(schema_with = "crate::crd::any_value")]
    pub params: Value,
    /// This check's leash, over `spec.limits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<PluginLimits>,
}

/// How a policy's errors are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// Errors stop the sync.
    Deny,
    /// Errors are reported; the sync goes on.
    Warn,
    /// Recorded only.
    Audit,
}

/// Target of the objects.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    /// Namespace for namespaced objects that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `spec.allow`: what an Application may reach besides namespaced objects
/// in its destination namespace, in the spirit of Argo CD's AppProject
/// (`destinations`, `clusterResourceWhitelist`). Patterns are globs (`*`
/// any text, `?` one character).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Allow {
    /// Namespaces, besides the destination, that namespaced objects may
    /// name: `[team-a-*, shared]`; `["*"]` for any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Cluster-scoped kinds the Application may manage (Namespaces, CRDs,
    /// ClusterRoles …): `[{group: rbac.authorization.k8s.io, kind: ClusterRole}]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resources: Vec<GroupKind>,
}

impl Allow {
    /// Whether nothing beyond the destination is allowed.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.cluster_resources.is_empty()
    }
}

/// A `group`/`kind` pattern pair; `group: ""` is the core group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupKind {
    /// API group glob; `""` for the core group, `"*"` for any.
    #[serde(default)]
    pub group: String,
    /// Kind glob: `ClusterRole`, `*`.
    pub kind: String,
}

/// One entry of `spec.dependsOn`: another Application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dependency {
    /// Its name.
    pub name: String,
    /// Its namespace [default: this Application's].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `spec.sync`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncPolicy {
    /// Sync automatically when Git or the Application changes (controller
    /// only; without it the controller reports OutOfSync and waits for
    /// `capstan sync`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<Automated>,
    /// Create the destination namespace when missing (Argo CD's `CreateNamespace=true`).
    #[serde(default)]
    pub create_namespace: bool,
    /// How failed API calls and failed syncs are retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
    /// Take over objects whose tracking annotation names another
    /// Application (or an Argo CD application); refused otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
}

/// `spec.sync.automated` (Argo CD's shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Automated {
    /// Delete objects that left Git during automated syncs.
    #[serde(default)]
    pub prune: bool,
    /// Revert changes made in the cluster (drift) as soon as they are seen;
    /// without it drift is only reported.
    #[serde(default)]
    pub self_heal: bool,
}

/// `spec.sync.retry` (Argo CD's shape).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryStrategy {
    /// Retries of each failed API call within a sync, and of a failed sync
    /// of the same commit by the controller; absent: the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Waits between the controller's retries of a failed sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

/// Exponential backoff: `duration`, then × `factor` each time, at most `maxDuration`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backoff {
    /// First wait, e.g. `5s` (default 5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Multiplier per retry (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<u32>,
    /// Longest wait, e.g. `3m` (default 3m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

/// One `ignoreDifferences` entry (Argo CD's shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IgnoreDifference {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// Kind the entry applies to.
    pub kind: String,
    /// Restrict to one name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Restrict to one namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// JSON pointers (`/spec/replicas`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// jq-like paths (`.spec.template.spec.containers[].image`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
    /// Fields owned by these field managers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields_managers: Vec<String>,
}

impl Application {
    /// Parses and checks an Application document.
    pub fn from_yaml(text: &str) -> Result<Self, Error> {
        let app: Application = serde_yaml::from_str(text).map_err(Error::Parse)?;
        app.validate()?;
        Ok(app)
    }

    /// Checks what the types cannot: kind, names, paths.
    pub fn validate(&self) -> Result<(), Error> {
        if self.api_version != API_VERSION || self.kind != "Application" {
            return Err(Error::WrongKind { api_version: self.api_version.clone(), kind: self.kind.clone() });
        }
        if !is_dns_label(&self.metadata.name) {
            return Err(invalid("metadata.name", format!("{:?} is not a DNS-1123 label", self.metadata.name)));
        }
        if self.spec.source.repo_url.is_empty() {
            return Err(invalid("spec.source.repoURL", "must not be empty".into()));
        }
        let path = &self.spec.source.path;
        if path.starts_with('/') || path.split('/').any(|part| part == "..") {
            return Err(invalid(
                "spec.source.path",
                format!("{path:?} must be relative and stay inside the repository"),
            ));
        }
        if let Some(secret) = &self.spec.source.secret_ref
            && !is_dns_subdomain(&secret.name)
        {
            return Err(invalid("spec.source.secretRef.name", format!("{:?} is not a Secret name", secret.name)));
        }
        if let Some(ns) = &self.spec.destination.namespace
            && !is_dns_label(ns)
        {
            return Err(invalid("spec.destination.namespace", format!("{ns:?} is not a DNS-1123 label")));
        }
        if let Some(ns) = &self.metadata.namespace
            && !is_dns_label(ns)
        {
            return Err(invalid("metadata.namespace", format!("{ns:?} is not a DNS-1123 label")));
        }
        self.spec.allow.validate()?;
        self.validate_dependencies()?;
        self.spec.health.iter().try_for_each(HealthCheck::validate)
    }
}

impl Application {
    /// `spec.dependsOn`: names that are names, and not this Application itself.
    fn validate_dependencies(&self) -> Result<(), Error> {
        for dependency in &self.spec.depends_on {
            if !is_dns_label(&dependency.name) {
                return Err(invalid(
                    "spec.dependsOn.name",
                    format!("{:?} is not an Application name", dependency.name),
                ));
            }
            if let Some(ns) = dependency.namespace.as_deref().filter(|ns| !is_dns_label(ns)) {
                return Err(invalid("spec.dependsOn.namespace", format!("{ns:?} is not a DNS-1123 label")));
            }
            let same_namespace = dependency.namespace.is_none() || dependency.namespace == self.metadata.namespace;
            if same_namespace && dependency.name == self.metadata.name {
                return Err(invalid("spec.dependsOn", format!("{:?} depends on itself", self.metadata.name)));
            }
        }
        Ok(())
    }
}

impl Allow {
    fn validate(&self) -> Result<(), Error> {
        let glob = |s: &str, extra: &[u8]| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"*?-".contains(&b) || extra.contains(&b))
        };
        if let Some(ns) = self.namespaces.iter().find(|ns| !glob(ns, b"")) {
            return Err(invalid("spec.allow.namespaces", format!("{ns:?} is not a namespace or a glob of one")));
        }
        for entry in &self.cluster_resources {
            if !glob(&entry.kind, b"") {
                return Err(invalid("spec.allow.clusterResources.kind", format!("{:?} is not a kind", entry.kind)));
            }
            if !entry.group.is_empty() && !glob(&entry.group, b".") {
                return Err(invalid(
                    "spec.allow.clusterResources.group",
                    format!("{:?} is not an API group", entry.group),
                ));
            }
        }
        Ok(())
    }
}

impl HealthCheck {
    fn validate(&self) -> Result<(), Error> {
        if self.kinds.is_empty() {
            return Err(invalid("spec.health.kinds", format!("plugin {}: list at least one GROUP/KIND", self.plugin)));
        }
        match self.kinds.iter().find(|kind| kind.split('/').count() != 2 || kind.ends_with('/')) {
            Some(kind) => Err(invalid(
                "spec.health.kinds",
                format!("plugin {}: {kind:?} is not GROUP/KIND (`/ConfigMap` for the core group)", self.plugin),
            )),
            None => Ok(()),
        }
    }
}

fn invalid(field: &'static str, reason: String) -> Error {
    Error::Invalid { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "apiVersion: capstan.dev/v1alpha1\nkind: Application\nmetadata: {name: guestbook}\nspec:\n  source: {repoURL: ../.., path: examples/guestbook/manifests}\n  destination: {namespace: guestbook}\n";

    #[test]
    fn parses_with_defaults() {
        let app = Application::from_yaml(APP).unwrap();
        assert_eq!(app.spec.source.revision, "HEAD");
        assert!(app.spec.render.is_empty());
    }

    #[test]
    fn refuses_typos_and_escapes() {
        let typo = APP.replace("path:", "pth:");
        assert!(format!("{:?}", Application::from_yaml(&typo).unwrap_err()).contains("unknown field `pth`"));
        let escape = APP.replace("examples/guestbook/manifests", "../etc");
        assert!(Application::from_yaml(&escape).unwrap_err().to_string().contains("spec.source.path"));
        let kind = APP.replace("kind: Application", "kind: Deployment");
        assert!(Application::from_yaml(&kind).unwrap_err().to_string().contains("not a Capstan Application"));
    }

    #[test]
    fn health_checks_need_group_slash_kind() {
        let with = |kinds: &str| format!("{APP}  health:\n  - {{kinds: {kinds}, plugin: builtin:x}}\n");
        assert_eq!(Application::from_yaml(&with("[example.com/Widget, /ConfigMap]")).unwrap().spec.health.len(), 1);
        for bad in ["[]", "[Widget]", "[example.com/]", "[a/b/c]"] {
            let error = Application::from_yaml(&with(bad)).unwrap_err().to_string();
            assert!(error.contains("spec.health.kinds") && error.contains("builtin:x"), "{bad}: {error}");
        }
    }

    #[test]
    fn allow_lists_namespaces_and_cluster_kinds() {
        let with = format!(
            "{APP}  allow:\n    namespaces: [team-a-*, shared]\n    clusterResources: [{{group: \"\", kind: Namespace}}, {{group: rbac.authorization.k8s.io, kind: ClusterRole}}]\n  sync: {{adopt: true}}\n"
        );
        let app = Application::from_yaml(&with).unwrap();
        assert_eq!(app.spec.allow.namespaces, ["team-a-*", "shared"]);
        assert_eq!(app.spec.allow.cluster_resources[0], GroupKind { group: String::new(), kind: "Namespace".into() });
        assert!(app.spec.sync.adopt);
        for (bad, field) in [
            ("{namespaces: [../x]}", "spec.allow.namespaces"),
            ("{clusterResources: [{kind: \"\"}]}", "spec.allow.clusterResources.kind"),
            ("{clusterResources: [{group: a/b, kind: X}]}", "spec.allow.clusterResources.group"),
        ] {
            let error = Application::from_yaml(&format!("{APP}  allow: {bad}\n")).unwrap_err().to_string();
            assert!(error.contains(field), "{bad}: {error}");
        }
    }

    #[test]
    fn secret_ref_names_a_secret() {
        let with = APP.replace("path: examples", "secretRef: {name: git.creds}, path: examples");
        let app = Application::from_yaml(&with).unwrap();
        assert_eq!(app.spec.source.secret_ref, Some(SecretRef { name: "git.creds".into() }));
        let bad = APP.replace("path: examples", "secretRef: {name: Git_Creds}, path: examples");
        assert!(Application::from_yaml(&bad).unwrap_err().to_string().contains("spec.source.secretRef.name"));
    }
}
