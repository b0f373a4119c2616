//! Pulling a Wasm component from an OCI registry, the way wasm-to-oci, wkg
//! and Kubewarden publish them: `GET /v2/<repo>/manifests/<tag-or-digest>`,
//! pick the one wasm layer, `GET /v2/<repo>/blobs/<digest>`. Registries that
//! answer 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`
//! (ghcr.io and Docker Hub do, even for public images) get the anonymous
//! token dance: fetch a token from the realm, retry with it.
//!
//! Loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`) are spoken to
//! over plain `http`, every other registry over `https`, as Docker does for
//! `localhost` by default.
//!
//! Why our own small client rather than the `oci-client` crate: we need two
//! GETs and a token request, with our size cap on the blob stream and our
//! errors naming the plugin. `oci-client` 0.18 would build (reqwest 0.13,
//! `rustls-tls-no-provider`), but it adds `oci-spec` with its builders,
//! `chrono`, `regex`, `olpc-cjson`, `http-auth` and a second `sha2` major
//! version for push, auth schemes and platform resolution we do not use.

use std::net::IpAddr;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;

use crate::fetch::{read_capped, send};
use crate::{Error, Result, sha256_digest};

/// Layer media types of a Wasm component: wasm-to-oci's (also Kubewarden's),
/// and the CNCF Wasm OCI artifact layout's (wkg).
pub(crate) const WASM_LAYER_TYPES: [&str; 2] = ["application/vnd.wasm.content.layer.v1+wasm", "application/wasm"];
/// The manifests we can read: OCI image manifest, Docker schema 2.
const MANIFEST_TYPES: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
/// The distribution spec's recommended manifest limit.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Tokens are JWTs of a few KiB.
const MAX_TOKEN_BYTES: u64 = 1024 * 1024;

/// `oci://REGISTRY/REPOSITORY:TAG` or `oci://REGISTRY/REPOSITORY@sha256:HEX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OciReference {
    /// `http` for loopback registries, `https` otherwise.
    scheme: &'static str,
    /// `host[:port]` of the registry API.
    registry: String,
    /// `owner/name`, lower case.
    repository: String,
    /// A tag, or `sha256:<hex>` of the manifest.
    reference: String,
}

impl OciReference {
    /// Parses what follows `oci://`; the error is the reason.
    pub(crate) fn parse(rest: &str) -> Result<Self, String> {
        const FORM: &str = "expected oci://REGISTRY/REPOSITORY:TAG or oci://REGISTRY/REPOSITORY@sha256:HEX";
        let (registry, path) = rest.split_once('/').ok_or(FORM)?;
        let (repository, reference) = match path.split_once('@') {
            Some((repository, digest)) => (repository, check_manifest_digest(digest)?),
            None => {
                let (repository, tag) = path.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')).ok_or(FORM)?;
                (repository, check_tag(tag)?)
            }
        };
        check_registry(registry)?;
        check_repository(repository)?;
        // Docker Hub's API lives on another host, and one-part names are `library/…`.
        let (registry, repository) = match registry {
            "docker.io" | "index.docker.io" if !repository.contains('/') => {
                ("registry-1.docker.io", format!("library/{repository}"))
            }
            "docker.io" | "index.docker.io" => ("registry-1.docker.io", repository.to_owned()),
            _ => (registry, repository.to_owned()),
        };
        let scheme = if is_loopback(registry) { "http" } else { "https" };
        Ok(Self { scheme, registry: registry.to_owned(), repository, reference: reference.to_owned() })
    }

    fn url(&self, kind: &str, reference: &str) -> Url {
        let text = format!("{}://{}/v2/{}/{kind}/{reference}", self.scheme, self.registry, self.repository);
        Url::parse(&text).expect("every part of the URL was checked when the reference was parsed")
    }
}

fn check_registry(registry: &str) -> Result<(), String> {
    let valid = !registry.is_empty()
        && registry.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        && Url::parse(&format!("https://{registry}/")).is_ok_and(|url| url.path() == "/");
    valid.then_some(()).ok_or_else(|| format!("invalid registry host {registry:?}"))
}

/// Path components of lower-case letters and digits joined by `.`, `_`, `-`.
fn check_repository(repository: &str) -> Result<(), String> {
    let component = |c: &str| {
        c.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && c.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && c.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    };
    repository.split('/').all(component).then_some(()).ok_or_else(|| format!("invalid repository name {repository:?}"))
}

fn check_tag(tag: &str) -> Result<&str, String> {
    let valid = (1..=128).contains(&tag.len())
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    valid.then_some(tag).ok_or_else(|| format!("invalid tag {tag:?}"))
}

fn check_manifest_digest(digest: &str) -> Result<&str, String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    let valid = hex.len() == 64 && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    valid
        .then_some(digest)
        .ok_or_else(|| format!("invalid manifest digest {digest:?} (expected sha256: and 64 lower-case hex digits)"))
}

/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => registry.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

/// Pulls the component of `image`: manifest, then its one wasm layer, at
/// most `limit` bytes. The caller checks the pinned digest.
pub(crate) async fn pull(client: &Client, plugin: &str, image: &OciReference, limit: u64) -> Result<Vec<u8>> {
    let mut session = Session { client, plugin, image, token: None };
    let url = image.url("manifests", &image.reference);
    let manifest = session.get(&url, Some(MANIFEST_TYPES), MAX_MANIFEST_BYTES).await?;
    if image.reference.starts_with("sha256:") && sha256_digest(&manifest) != image.reference {
        let reason = "the manifest does not hash to the digest in its URL";
        return Err(Error::Registry { plugin: plugin.to_owned(), url: url.to_string(), reason });
    }
    let layer = wasm_layer(plugin, &url, &manifest)?;
    let blob = image.url("blobs", &layer.digest);
    if layer.size > limit {
        return Err(Error::TooLarge { plugin: plugin.to_owned(), url: blob.to_string(), limit });
    }
    session.get(&blob, None, limit).await
}

/// The one layer of a wasm media type.
fn wasm_layer(plugin: &str, url: &Url, manifest: &[u8]) -> Result<Descriptor> {
    let manifest: Manifest = serde_json::from_slice(manifest).map_err(|source| Error::InvalidResponse {
        plugin: plugin.to_owned(),
        url: url.to_string(),
        source,
    })?;
    let layers = manifest.layers.iter().map(|l| l.media_type.as_str()).collect::<Vec<_>>().join(", ");
    let mut wasm: Vec<Descriptor> =
        manifest.layers.into_iter().filter(|l| WASM_LAYER_TYPES.contains(&l.media_type.as_str())).collect();
    if wasm.len() != 1 {
        return Err(Error::NoWasmLayer {
            plugin: plugin.to_owned(),
            found: wasm.len(),
            layers: if layers.is_empty() { "none".to_owned() } else { layers },
        });
    }
    let layer = wasm.remove(0);
    // The digest goes into the blob URL's path: no `/`, `?` or `#` may pass.
    let valid = layer.digest.split_once(':').is_some_and(|(algorithm, encoded)| {
        !algorithm.is_empty()
            && !encoded.is_empty()
            && algorithm.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
            && encoded.chars().all(|c| c.is_ascii_alphanumeric() || "=_-".contains(c))
    });
    if !valid {
        let reason = "the wasm layer's digest is malformed";
        return Err(Error::Registry { plugin: plugin.to_owned(), url: url.to_string(), reason });
    }
    Ok(layer)
}

/// Requests to one repository, carrying the bearer token once one was needed.
struct Session<'a> {
    client: &'a Client,
    plugin: &'a str,
    image: &'a OciReference,
    token: Option<String>,
}

impl Session<'_> {
    /// GET `url`; on a first 401 with a Bearer challenge, fetch a token and retry once.
    async fn get(&mut self, url: &Url, accept: Option<&str>, limit: u64) -> Result<Vec<u8>> {
        let mut response = send(self.plugin, self.request(url, accept), url).await?;
        if response.status() == StatusCode::UNAUTHORIZED
            && self.token.is_none()
            && let Some(challenge) = bearer_challenge(response.headers())
        {
            self.token = Some(self.fetch_token(&challenge).await?);
            response = send(self.plugin, self.request(url, accept), url).await?;
        }
        read_capped(self.plugin, url, response, limit).await
    }

    fn request(&self, url: &Url, accept: Option<&str>) -> reqwest::RequestBuilder {
        let mut request = self.client.get(url.clone());
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        request
    }

    /// An anonymous pull token from the challenge's realm.
    async fn fetch_token(&self, challenge: &Challenge) -> Result<String> {
        let registry_error = |url: &str, reason: &'static str| Error::Registry {
            plugin: self.plugin.to_owned(),
            url: url.to_owned(),
            reason,
        };
        let mut url = Url::parse(&challenge.realm)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| registry_error(&challenge.realm, "the token realm is not an http(s) URL"))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = &challenge.service {
                query.append_pair("service", service);
            }
            let scope = challenge.scope.clone().unwrap_or_else(|| format!("repository:{}:pull", self.image.repository));
            query.append_pair("scope", &scope);
        }
        let response = send(self.plugin, self.client.get(url.clone()), &url).await?;
        let body = read_capped(self.plugin, &url, response, MAX_TOKEN_BYTES).await?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|source| Error::InvalidResponse {
            plugin: self.plugin.to_owned(),
            url: url.to_string(),
            source,
        })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| registry_error(url.as_str(), "the token answer has neither `token` nor `access_token`"))
    }
}

/// `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`.
#[derive(Debug, PartialEq, Eq)]
struct Challenge {
    realm: String,
    service: Option<String>,
    scope: Option<String>,
}

fn bearer_challenge(headers: &HeaderMap) -> Option<Challenge> {
    headers.get_all(WWW_AUTHENTICATE).iter().filter_map(|value| value.to_str().ok()).find_map(parse_bearer)
}

fn parse_bearer(value: &str) -> Option<Challenge> {
    let (scheme, params) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(params);
    let get = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    Some(Challenge { realm: get("realm")?, service: get("service"), scope: get("scope") })
}

/// `key=value` and `key="quoted, value"` pairs separated by commas (RFC 9110 auth-params).
fn parse_params(mut rest: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some((key, after)) = rest.split_once('=') else { return params };
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted),
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            }
        };
        params.push((key.trim().to_ascii_lowercase(), value));
        rest = next;
    }
}

/// The value of a quoted string (after its opening quote) and what follows it.
fn unquote(quoted: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return (value, &quoted[index + 1..]),
            '\\' => value.extend(chars.next().map(|(_, escaped)| escaped)),
            c => value.push(c),
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(rest: &str) -> OciReference {
        OciReference::parse(rest).unwrap()
    }

    #[test]
    fn loopback_registries_use_http_and_others_https() {
        let cases = [
            ("127.0.0.1:5000/p/x:v1", "http://127.0.0.1:5000/v2/p/x/manifests/v1"),
            ("localhost/x:v1", "http://localhost/v2/x/manifests/v1"),
            ("[::1]:5000/x:v1", "http://[::1]:5000/v2/x/manifests/v1"),
            ("127.9.9.9/x:v1", "http://127.9.9.9/v2/x/manifests/v1"),
            ("ghcr.io/owner/policy:1.2.3", "https://ghcr.io/v2/owner/policy/manifests/1.2.3"),
            ("10.0.0.1:5000/x:v1", "https://10.0.0.1:5000/v2/x/manifests/v1"),
            ("localhost.example.com/x:v1", "https://localhost.example.com/v2/x/manifests/v1"),
        ];
        for (reference, url) in cases {
            let image = parse(reference);
            assert_eq!(image.url("manifests", &image.reference).as_str(), url, "{reference}");
        }
    }

    #[test]
    fn tags_digests_and_docker_hub() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let image = parse(&format!("127.0.0.1:5000/team/x@{digest}"));
        assert_eq!((image.repository.as_str(), image.reference.as_str()), ("team/x", digest.as_str()));
        let image = parse("docker.io/x:v1");
        assert_eq!((image.registry.as_str(), image.repository.as_str()), ("registry-1.docker.io", "library/x"));
        assert_eq!(parse("docker.io/team/x:v1").repository, "team/x");
    }

    #[test]
    fn malformed_references_are_refused() {
        let digest = "sha256:".to_owned() + &"A".repeat(64);
        for bad in [
            "ghcr.io/x",
            "ghcr.io",
            "/x:v1",
            "ghcr.io/Upper/x:v1",
            "ghcr.io/../x:v1",
            "ghcr.io/x/:v1",
            "ghcr.io/x:",
            "ghcr.io/x:v/1",
            "ghcr.io/x:.v1",
            "ghcr.io/x@sha256:00",
            &format!("ghcr.io/x@{digest}"),
            "gh cr.io/x:v1",
            "user@ghcr.io/x:v1",
        ] {
            assert!(OciReference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bearer_challenges_are_parsed() {
        let challenge =
            parse_bearer(r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/p:pull,push""#);
        assert_eq!(
            challenge,
            Some(Challenge {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into()),
                scope: Some("repository:o/p:pull,push".into()),
            })
        );
        let bare = parse_bearer("bearer realm=http://127.0.0.1/t, service = reg").unwrap();
        assert_eq!(
            (bare.realm.as_str(), bare.service.as_deref(), bare.scope),
            ("http://127.0.0.1/t", Some("reg"), None)
        );
        assert_eq!(parse_bearer(r#"Basic realm="registry""#), None);
        assert_eq!(parse_bearer(r#"Bearer service="no realm""#), None);
        assert_eq!(parse_bearer(r#"Bearer realm="a\"b"#).unwrap().realm, "a\"b");
    }

    #[test]
    fn the_one_wasm_layer_is_picked() {
        let url = Url::parse("http://127.0.0.1/v2/x/manifests/v1").unwrap();
        let layer = |media: &str, digest: &str| format!(r#"{{"mediaType":"{media}","digest":"{digest}","size":3}}"#);
        let manifest = |layers: &[String]| format!(r#"{{"schemaVersion":2,"layers":[{}]}}"#, layers.join(","));
        let good = manifest(&[
            layer("application/vnd.oci.image.config.v1+json", "sha256:c"),
            layer("application/wasm", "sha256:w"),
        ]);
        assert_eq!(wasm_layer("p", &url, good.as_bytes()).unwrap().digest, "sha256:w");

        let none = manifest(&[layer("application/vnd.oci.image.layer.v1.tar+gzip", "sha256:t")]);
        assert_eq!(
            wasm_layer("p", &url, none.as_bytes()).err().unwrap().to_string(),
            "plugin p: expected exactly one wasm layer (application/vnd.wasm.content.layer.v1+wasm or application/wasm) in the OCI manifest, found 0 (layers: application/vnd.oci.image.layer.v1.tar+gzip)"
        );
        let two = manifest(&[layer("application/wasm", "sha256:a"), layer(WASM_LAYER_TYPES[0], "sha256:b")]);
        assert!(matches!(wasm_layer("p", &url, two.as_bytes()), Err(Error::NoWasmLayer { found: 2, .. })));
        let escaping = manifest(&[layer("application/wasm", "sha256:../../x")]);
        assert!(matches!(wasm_layer("p", &url, escaping.as_bytes()), Err(Error::Registry { .. })));
        assert!(matches!(wasm_layer("p", &url, b"<html>"), Err(Error::InvalidResponse { .. })));
    }
}
