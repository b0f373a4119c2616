//! Kubernetes' rules for the parts of an object's identity that end up in a
//! request URL: `apiVersion` (group and version), `kind`, namespace, name.
//!
//! Every object and every inventory entry is checked here before the engine
//! builds a URL from it, so a name like `../../x` or `a?dryRun=All` is an
//! error naming the object and the field, never a path or a query the API
//! server sees. The rules are the API server's own (apimachinery's
//! `validation` package): namespaces are DNS-1123 labels, Services
//! DNS-1035 labels, RBAC objects path-segment names (`system:aggregate-to-edit`),
//! everything else (custom resources included) DNS-1123 subdomains.

use crate::ObjectRef;

/// Which part of an identity is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field} {value:?} of {object}: {reason}")]
pub struct NameError {
    /// The object, as far as it could be named (`kind/namespace/name`, escaped).
    pub object: String,
    /// The field: `apiVersion`, `kind`, `metadata.namespace` or `metadata.name`.
    pub field: &'static str,
    /// The value found.
    pub value: String,
    /// The rule it breaks.
    pub reason: &'static str,
}

/// Longest DNS-1123 subdomain (and path-segment name) Kubernetes accepts.
const SUBDOMAIN_MAX: usize = 253;
/// Longest DNS label.
const LABEL_MAX: usize = 63;

/// RFC 1123 label: what Kubernetes requires of a namespace.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= LABEL_MAX
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1035 label: a DNS-1123 label that starts with a letter (Service names).
pub fn is_dns1035_label(s: &str) -> bool {
    is_dns_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 bytes.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= SUBDOMAIN_MAX && s.split('.').all(is_dns_label)
}

/// A name that is safe as one URL path segment. Kubernetes refuses `.`,
/// `..`, `/` and `%` (`ValidatePathSegmentName`); `?`, `#`, spaces and
/// control characters are refused too, because kube-rs does not
/// percent-encode names, so they would end the path or start a query.
fn is_path_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= SUBDOMAIN_MAX
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:@+~=,".contains(&b))
}

/// A `kind`: an identifier starting with a letter (`ConfigMap`, `Widget`).
fn is_kind(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= LABEL_MAX
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Checks `apiVersion`, `kind`, namespace and name against the API
/// server's rules for that kind.
pub fn validate_identity(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Result<(), NameError> {
    let error = |field, value: &str, reason| NameError {
        object: describe(kind, namespace, name),
        field,
        value: value.to_owned(),
        reason,
    };
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    if group.contains('/') || (api_version.contains('/') && group.is_empty()) || !is_dns_subdomain_or_empty(group) {
        return Err(error("apiVersion", api_version, "the group must be a DNS-1123 subdomain (`apps`, `example.com`)"));
    }
    if !is_dns_label(version) {
        return Err(error("apiVersion", api_version, "the version must be a DNS-1123 label (`v1`, `v1beta1`)"));
    }
    if !is_kind(kind) {
        return Err(error("kind", kind, "must be letters and digits, starting with a letter, at most 63"));
    }
    if let Some(namespace) = namespace
        && !is_dns_label(namespace)
    {
        return Err(error("metadata.namespace", namespace, "must be a DNS-1123 label (lower case, digits, `-`)"));
    }
    let (valid, rule) = match (group, kind) {
        ("", "Namespace") => (is_dns_label(name), "a Namespace name must be a DNS-1123 label"),
        ("", "Service") => (is_dns1035_label(name), "a Service name must be a DNS-1035 label (starting with a letter)"),
        ("rbac.authorization.k8s.io", _) => {
            (is_path_segment(name), "must be a path-segment name (letters, digits and `-._:@+~=,`, not `.` or `..`)")
        }
        _ => (is_dns_subdomain(name), "must be a DNS-1123 subdomain (lower case, digits, `-` and `.`)"),
    };
    if valid { Ok(()) } else { Err(error("metadata.name", name, rule)) }
}

fn is_dns_subdomain_or_empty(s: &str) -> bool {
    s.is_empty() || is_dns_subdomain(s)
}

/// `kind/namespace/name` for an error message, with anything unusual escaped.
fn describe(kind: &str, namespace: Option<&str>, name: &str) -> String {
    let escape = |s: &str| s.escape_debug().to_string();
    match namespace {
        Some(ns) => format!("{}/{}/{}", escape(kind), escape(ns), escape(name)),
        None => format!("{}/{}", escape(kind), escape(name)),
    }
}

impl ObjectRef {
    /// Checks every part of the reference with [`validate_identity`].
    pub fn validate(&self) -> Result<(), NameError> {
        validate_identity(&self.api_version, &self.kind, self.namespace.as_deref(), &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Result<(), String> {
        validate_identity(api_version, kind, namespace, name).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_what_kubernetes_accepts() {
        assert_eq!(check("v1", "ConfigMap", Some("team-a"), "web.config-1"), Ok(()));
        assert_eq!(check("rbac.authorization.k8s.io/v1", "ClusterRole", None, "system:aggregate-to-edit"), Ok(()));
        assert_eq!(check("example.com/v1alpha1", "Widget", Some("a"), "w"), Ok(()));
        assert_eq!(check("v1", "Namespace", None, "team-a"), Ok(()));
    }

    #[test]
    fn refuses_what_would_change_the_url() {
        for name in ["../../x", "..", "a/b", "a?dryRun=All", "a#b", "a%2F", "a b", "A", ""] {
            let error = check("v1", "ConfigMap", Some("ns"), name).unwrap_err();
            assert!(error.contains("metadata.name"), "{name}: {error}");
        }
        for name in ["..", "a/b", "x?y"] {
            assert!(check("rbac.authorization.k8s.io/v1", "Role", Some("ns"), name).is_err(), "{name}");
        }
        let error = check("v1", "ConfigMap", Some("../kube-system"), "x").unwrap_err();
        assert_eq!(
            error,
            "invalid metadata.namespace \"../kube-system\" of ConfigMap/../kube-system/x: must be a DNS-1123 label (lower case, digits, `-`)"
        );
        assert!(check("v1", "Namespace", None, "a.b").unwrap_err().contains("DNS-1123 label"));
        assert!(check("v1", "Service", Some("a"), "1web").unwrap_err().contains("DNS-1035"));
        for api_version in ["../v1", "a/b/v1", "/v1", "apps/", "v1?x", "Apps/v1"] {
            assert!(
                check(api_version, "Deployment", Some("a"), "w").unwrap_err().contains("apiVersion"),
                "{api_version}"
            );
        }
        for kind in ["Config/Map", "", "1Kind", "Kind?"] {
            assert!(check("v1", kind, Some("a"), "w").unwrap_err().contains("invalid kind"), "{kind}");
        }
        let escaped = check("v1", "ConfigMap", Some("ns"), "a\u{1b}[2J").unwrap_err();
        assert!(!escaped.contains('\u{1b}'), "{escaped}");
    }
}
