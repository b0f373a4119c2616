//! URL parsing: which endpoint a path names, and the query parameters.
//!
//! Resource URLs have the real API server's shapes:
//! `/api/v1/namespaces/{ns}/{plural}/{name}/{subresource}`,
//! `/apis/{group}/{version}/{plural}/{name}` and so on.

use std::collections::HashMap;

/// A parsed resource URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResourcePath {
    /// API group ("" for core).
    pub(crate) group: String,
    /// Version.
    pub(crate) version: String,
    /// Namespace segment, when present.
    pub(crate) namespace: Option<String>,
    /// Plural resource name.
    pub(crate) plural: String,
    /// Object name, when present.
    pub(crate) name: Option<String>,
    /// Subresource, when present.
    pub(crate) subresource: Option<String>,
}

/// The endpoints the server serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/version`
    Version,
    /// `/healthz`, `/readyz`, `/livez`
    Health,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1`, `/apis/{group}/{version}`
    Resources(String, String),
    /// A resource or object URL.
    Resource(ResourcePath),
    /// Anything else.
    Unknown,
}

/// Parses a request path.
pub(crate) fn parse(path: &str) -> Route {
    let segs: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["api", "v1"] => Route::Resources(String::new(), "v1".into()),
        ["api", "v1", rest @ ..] => resource("", "v1", rest),
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group((*g).into()),
        ["apis", g, v] => Route::Resources((*g).into(), (*v).into()),
        ["apis", g, v, rest @ ..] => resource(g, v, rest),
        _ => Route::Unknown,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let namespace_subresource = rest.len() == 3 && matches!(rest[2], "status" | "finalize");
    let (namespace, rest) = if rest.len() >= 3 && rest[0] == "namespaces" && !namespace_subresource {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    let path = |plural: &str, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.into(),
            version: version.into(),
            namespace: namespace.clone(),
            plural: plural.into(),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        })
    };
    match rest {
        [plural] => path(plural, None, None),
        [plural, name] => path(plural, Some(name), None),
        [plural, name, sub] => path(plural, Some(name), Some(sub)),
        _ => Route::Unknown,
    }
}

/// Decoded query parameters (last value wins).
#[derive(Clone, Debug, Default)]
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    /// Parses a raw query string.
    pub(crate) fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
                })
                .collect(),
        )
    }

    /// A parameter's value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A parameter that is `true`.
    pub(crate) fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("true") || self.get(key) == Some("1")
    }

    /// `dryRun=All`.
    pub(crate) fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

/// Decodes `%XX` escapes.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(byte) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp(group: &str, ns: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>) -> Route {
        Route::Resource(ResourcePath {
            group: group.into(),
            version: "v1".into(),
            namespace: ns.map(str::to_string),
            plural: plural.into(),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        })
    }

    #[test]
    fn parses_resource_paths() {
        assert_eq!(parse("/api/v1/namespaces"), rp("", None, "namespaces", None, None));
        assert_eq!(parse("/api/v1/namespaces/a"), rp("", None, "namespaces", Some("a"), None));
        assert_eq!(parse("/api/v1/namespaces/a/status"), rp("", None, "namespaces", Some("a"), Some("status")));
        assert_eq!(parse("/api/v1/namespaces/a/configmaps"), rp("", Some("a"), "configmaps", None, None));
        assert_eq!(
            parse("/apis/apps/v1/namespaces/a/deployments/d/status"),
            rp("apps", Some("a"), "deployments", Some("d"), Some("status"))
        );
        assert_eq!(parse("/apis/apps/v1/deployments"), rp("apps", None, "deployments", None, None));
        assert_eq!(parse("/apis/apps/v1"), Route::Resources("apps".into(), "v1".into()));
        assert_eq!(parse("/nope"), Route::Unknown);
    }

    #[test]
    fn parses_queries() {
        let q = Query::parse("labelSelector=app%3Dweb%2Ctier+in+(a)&dryRun=All&force=true");
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.dry_run());
        assert!(q.flag("force"));
    }
}
