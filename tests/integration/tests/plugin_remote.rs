//! Plugins by URL: `http://` and `oci://` references against loopback
//! servers that log every request. The pinned digest is checked before
//! anything compiles or is cached; a cached digest costs no request; a bad
//! download (wrong bytes, too large, 404, no server) fails naming the plugin;
//! an OCI registry that wants the anonymous bearer-token dance gets it.
//! HTTPS is not served here: the scheme rules are unit tests in the host.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use capstan::SyncOptions;
use capstan_apiserver::test_target;
use capstan_host::{HostConfig, Limits, MAX_DOWNLOAD_BYTES, PluginHost, RenderCall, sha256_digest};
use capstan_integration::{GitRepo, TestEngine, app};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The trivial renderer: one ConfigMap named after the Application.
fn trivial() -> Vec<u8> {
    std::fs::read(Path::new(capstan_test_artifacts::GUEST_DIR).join("capstan_test_trivial.wasm"))
        .expect("the trivial test program is built")
}

/// An axum server on loopback, on a runtime of its own so that tests can
/// call the synchronous `PluginHost::load` from any context. It logs the
/// path (and query) of every request, and stops when dropped.
struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    fn start(router: impl FnOnce(SocketAddr) -> Router + Send + 'static) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let logged = log.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let router = router(addr).layer(middleware::from_fn(move |request: Request, next: Next| {
                    let logged = logged.clone();
                    async move {
                        logged.lock().unwrap().push(request.uri().to_string());
                        next.run(request).await
                    }
                }));
                addr_tx.send(addr).unwrap();
                let _ =
                    axum::serve(listener, router).with_graceful_shutdown(async { stopped.await.unwrap_or(()) }).await;
            });
        });
        Self { addr: addr_rx.recv().expect("the test server started"), log, stop: Some(stop) }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Static files: the trivial renderer, an oversized body (announced, and
/// streamed without a length), a redirect loop; anything else is 404.
fn file_server() -> Server {
    Server::start(|_| {
        Router::new()
            .route("/trivial.wasm", get(|| async { trivial() }))
            .route("/big.wasm", get(|| async { vec![0u8; MAX_DOWNLOAD_BYTES as usize + 1] }))
            .route("/stream.wasm", get(|| async { Body::from_stream(futures::stream::iter(oversized_chunks())) }))
            .route("/loop.wasm", get(|| async { Redirect::temporary("/loop.wasm") }))
    })
}

/// One MiB chunks, one more than the download cap holds.
fn oversized_chunks() -> impl Iterator<Item = Result<axum::body::Bytes, std::io::Error>> {
    let chunk = axum::body::Bytes::from(vec![0u8; 1024 * 1024]);
    let count = MAX_DOWNLOAD_BYTES as usize / chunk.len() + 1;
    std::iter::repeat_n(chunk, count).map(Ok)
}

/// A host whose compiled-code and download caches live in `dir`.
fn host(dir: &Path) -> PluginHost {
    PluginHost::new(HostConfig {
        cache_dir: Some(dir.join("wasmtime")),
        download_cache_dir: Some(dir.join("plugins")),
        ..HostConfig::default()
    })
    .unwrap()
}

/// Files under `dir`, recursively (none if it does not exist).
/// The files under `dir`, but for the compiled-code cache's MAC key (made
/// when the host starts, not by a load).
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .flat_map(|e| if e.path().is_dir() { files(&e.path()) } else { vec![e.path()] })
        .filter(|p| !p.ends_with("hmac-key"))
        .collect()
}

/// Renders with a loaded plugin; the trivial renderer names its ConfigMap after the app.
fn rendered_name(host: &PluginHost, plugin: &capstan_host::Plugin) -> Value {
    let snapshot = TempDir::new().unwrap();
    let call = RenderCall {
        snapshot: snapshot.path(),
        path: ".",
        app: "remote",
        namespace: None,
        revision: "r",
        params: &Value::Null,
    };
    let rendered = host.render(plugin, &call, &Limits::default()).expect("the downloaded plugin renders");
    rendered.objects[0].as_value()["metadata"]["name"].clone()
}

/// The whole error chain of a load that must fail.
fn load_error(host: &PluginHost, reference: &str, digest: &str) -> String {
    match host.load(reference, Some(digest), Path::new("/")) {
        Ok(_) => panic!("loading {reference} must fail"),
        Err(error) => format!("{:#}", anyhow::Error::new(error)),
    }
}

/// Also the case of a caller inside a tokio runtime: `load` blocks, and
/// must neither panic nor deadlock there.
#[tokio::test]
async fn an_http_plugin_renders_and_a_cached_digest_costs_no_request() {
    let server = file_server();
    let cache = TempDir::new().unwrap();
    let digest = sha256_digest(&trivial());
    let url = server.url("/trivial.wasm");

    let first = host(cache.path());
    let plugin = first.load(&url, Some(&digest), Path::new("/nonexistent")).unwrap();
    assert_eq!(rendered_name(&first, &plugin), "remote");
    assert_eq!(server.requests(), ["/trivial.wasm"]);
    let hex = digest.strip_prefix("sha256:").unwrap();
    assert_eq!(std::fs::read(cache.path().join("plugins/sha256").join(hex)).unwrap(), trivial());

    // A new host (a restarted process) on the same cache: no request at all,
    // even when the URL now points nowhere; the digest is what counts.
    let second = host(cache.path());
    let plugin = second.load(&url, Some(&digest), Path::new("/nonexistent")).unwrap();
    assert_eq!(rendered_name(&second, &plugin), "remote");
    second.load(&server.url("/moved-away.wasm"), Some(&digest), Path::new("/")).unwrap();
    assert_eq!(server.requests(), ["/trivial.wasm"], "a cached digest must not touch the network");
}

#[test]
fn a_wrong_digest_compiles_and_caches_nothing() {
    let server = file_server();
    let cache = TempDir::new().unwrap();
    let host = host(cache.path());
    let url = server.url("/trivial.wasm");
    let wrong = format!("sha256:{}", "0".repeat(64));

    let error = load_error(&host, &url, &wrong);
    assert_eq!(
        error,
        format!(
            "plugin {url}: digest mismatch: expected {wrong}, found {}; refusing to compile it",
            sha256_digest(&trivial())
        )
    );
    assert_eq!(files(cache.path()), Vec::<std::path::PathBuf>::new(), "nothing compiled, nothing cached");

    // The same host compiles and caches once the digest is right.
    host.load(&url, Some(&sha256_digest(&trivial())), Path::new("/")).unwrap();
    assert!(!files(&cache.path().join("wasmtime")).is_empty());
    assert_eq!(files(&cache.path().join("plugins")).len(), 1);
}

#[test]
fn oversized_missing_and_unreachable_downloads_fail_naming_the_plugin() {
    let server = file_server();
    let cache = TempDir::new().unwrap();
    let host = host(cache.path());
    let digest = sha256_digest(&trivial());
    let load = |url: &str| load_error(&host, url, &digest);

    for path in ["/big.wasm", "/stream.wasm"] {
        let url = server.url(path);
        assert_eq!(
            load(&url),
            format!("plugin {url}: failed to fetch {url}: larger than the limit of {MAX_DOWNLOAD_BYTES} bytes")
        );
    }

    let url = server.url("/missing.wasm");
    assert_eq!(load(&url), format!("plugin {url}: failed to fetch {url}: HTTP 404 Not Found"));

    let url = server.url("/loop.wasm");
    let error = load(&url);
    assert!(
        error.starts_with(&format!("plugin {url}: failed to fetch {url}: ")) && error.contains("redirect"),
        "{error}"
    );
    let loops = server.requests().iter().filter(|r| *r == "/loop.wasm").count();
    assert!((2..=7).contains(&loops), "the redirect limit (5) stops the loop: {loops} requests");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/x.wasm");
    assert!(load(&url).starts_with(&format!("plugin {url}: failed to fetch {url}: ")), "{}", load(&url));

    assert_eq!(files(cache.path()), Vec::<std::path::PathBuf>::new(), "nothing compiled, nothing cached");
}

/// A minimal OCI registry: `capstan/trivial` (tag `v1`, wasm-to-oci layout)
/// and `capstan/image` (a container image, no wasm layer), behind the
/// anonymous bearer-token flow of ghcr.io and Docker Hub.
struct Registry {
    server: Server,
    manifest_digest: String,
}

const TOKEN: &str = "anonymous-pull-token";

#[derive(Clone)]
struct Content {
    realm: String,
    manifests: Arc<HashMap<String, Vec<u8>>>,
    blobs: Arc<HashMap<String, Vec<u8>>>,
}

fn registry() -> Registry {
    let wasm = trivial();
    let config = b"{}".to_vec();
    let manifest = |media: &str, layer: &[u8]| {
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.wasm.config.v1+json", "digest": sha256_digest(&config), "size": config.len()},
            "layers": [{"mediaType": media, "digest": sha256_digest(layer), "size": layer.len()}],
        })
        .to_string()
        .into_bytes()
    };
    let trivial_manifest = manifest("application/vnd.wasm.content.layer.v1+wasm", &wasm);
    let manifest_digest = sha256_digest(&trivial_manifest);
    let manifests = HashMap::from([
        ("capstan/trivial:v1".to_owned(), trivial_manifest.clone()),
        (format!("capstan/trivial:{manifest_digest}"), trivial_manifest),
        ("capstan/image:v1".to_owned(), manifest("application/vnd.oci.image.layer.v1.tar+gzip", b"tar")),
    ]);
    let blobs = HashMap::from([(format!("capstan/trivial@{}", sha256_digest(&wasm)), wasm)]);
    let server = Server::start(move |addr| {
        let content =
            Content { realm: format!("http://{addr}/token"), manifests: Arc::new(manifests), blobs: Arc::new(blobs) };
        Router::new().route("/token", get(token)).route("/v2/{*path}", get(distribution)).with_state(content)
    });
    Registry { server, manifest_digest }
}

async fn token(request: Request) -> Response {
    let query = request.uri().query().unwrap_or_default();
    // Pull scopes of this registry's repositories only, as a real token service checks.
    if query.contains("service=test-registry")
        && query.contains("scope=repository%3Acapstan%2F")
        && query.ends_with("%3Apull")
    {
        axum::Json(json!({"token": TOKEN})).into_response()
    } else {
        StatusCode::BAD_REQUEST.into_response()
    }
}

async fn distribution(State(content): State<Content>, UrlPath(path): UrlPath<String>, headers: HeaderMap) -> Response {
    let authorized =
        headers.get(header::AUTHORIZATION).is_some_and(|v| v.as_bytes() == format!("Bearer {TOKEN}").as_bytes());
    let Some((repository, kind, reference)) = split_distribution_path(&path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !authorized {
        let challenge =
            format!(r#"Bearer realm="{}",service="test-registry",scope="repository:{repository}:pull""#, content.realm);
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)]).into_response();
    }
    let accepts_oci = headers
        .get(header::ACCEPT)
        .is_some_and(|v| v.to_str().unwrap_or_default().contains("application/vnd.oci.image.manifest.v1+json"));
    match kind {
        "manifests" if accepts_oci => match content.manifests.get(&format!("{repository}:{reference}")) {
            Some(body) => {
                ([(header::CONTENT_TYPE, "application/vnd.oci.image.manifest.v1+json")], body.clone()).into_response()
            }
            None => StatusCode::NOT_FOUND.into_response(),
        },
        "blobs" => match content.blobs.get(&format!("{repository}@{reference}")) {
            Some(body) => body.clone().into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `capstan/trivial/manifests/v1` → `("capstan/trivial", "manifests", "v1")`.
fn split_distribution_path(path: &str) -> Option<(&str, &str, &str)> {
    let (rest, reference) = path.rsplit_once('/')?;
    let (repository, kind) = rest.rsplit_once('/')?;
    Some((repository, kind, reference))
}

#[test]
fn oci_references_by_tag_and_by_digest_render_after_the_token_dance() {
    let registry = registry();
    let digest = sha256_digest(&trivial());
    let by_tag = format!("oci://{}/capstan/trivial:v1", registry.server.addr);
    let cache = TempDir::new().unwrap();
    let host = host(cache.path());
    let plugin = host.load(&by_tag, Some(&digest), Path::new("/")).unwrap();
    assert_eq!(rendered_name(&host, &plugin), "remote");
    let token_request = "/token?service=test-registry&scope=repository%3Acapstan%2Ftrivial%3Apull";
    let blob = format!("/v2/capstan/trivial/blobs/{digest}");
    assert_eq!(
        registry.server.requests(),
        ["/v2/capstan/trivial/manifests/v1", token_request, "/v2/capstan/trivial/manifests/v1", &blob],
        "401, token, manifest with the token, blob with the token"
    );

    let by_digest = format!("oci://{}/capstan/trivial@{}", registry.server.addr, registry.manifest_digest);
    let fresh = TempDir::new().unwrap();
    let host = self::host(fresh.path());
    let plugin = host.load(&by_digest, Some(&digest), Path::new("/")).unwrap();
    assert_eq!(rendered_name(&host, &plugin), "remote");
    assert_eq!(registry.server.requests().len(), 8);
    assert!(
        registry.server.requests()[4..]
            .contains(&format!("/v2/capstan/trivial/manifests/{}", registry.manifest_digest))
    );
}

#[test]
fn oci_errors_name_the_plugin() {
    let registry = registry();
    let cache = TempDir::new().unwrap();
    let host = host(cache.path());
    let digest = sha256_digest(&trivial());
    let load = |reference: &str| load_error(&host, reference, &digest);

    let image = format!("oci://{}/capstan/image:v1", registry.server.addr);
    assert_eq!(
        load(&image),
        format!(
            "plugin {image}: expected exactly one wasm layer (application/vnd.wasm.content.layer.v1+wasm or application/wasm) in the OCI manifest, found 0 (layers: application/vnd.oci.image.layer.v1.tar+gzip)"
        )
    );
    let missing = format!("oci://{}/capstan/trivial:v2", registry.server.addr);
    let url = format!("http://{}/v2/capstan/trivial/manifests/v2", registry.server.addr);
    assert_eq!(load(&missing), format!("plugin {missing}: failed to fetch {url}: HTTP 404 Not Found"));
    let untagged = format!("oci://{}/capstan/trivial", registry.server.addr);
    assert_eq!(
        load(&untagged),
        format!(
            "plugin {untagged}: invalid reference: expected oci://REGISTRY/REPOSITORY:TAG or oci://REGISTRY/REPOSITORY@sha256:HEX"
        )
    );
    assert_eq!(files(cache.path()), Vec::<std::path::PathBuf>::new());
}

#[tokio::test]
async fn a_sync_with_a_mismatched_download_applies_nothing() {
    let server = file_server();
    let repo = GitRepo::new();
    repo.write("apps/web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: b}\n");
    let sha = repo.commit("one");
    let target = test_target().await;
    let engine = TestEngine::new();
    let wrong = format!("sha256:{}", "1".repeat(64));
    let url = server.url("/trivial.wasm");
    let spec = format!(
        "  destination: {{namespace: plugin-remote}}\n  sync: {{createNamespace: true}}\n  render:\n  - {{plugin: \"{url}\", digest: \"{wrong}\"}}\n"
    );

    let writes = target.server.as_ref().map(|s| s.write_count());
    let result = engine
        .engine
        .sync(&app("web", &repo, &sha, "apps/web", &spec), target.client.clone(), &SyncOptions::default())
        .await;
    let text = format!("{:#}", result.unwrap_err());
    assert!(
        text.contains(&format!("render[0] ({url}) failed: plugin {url}: digest mismatch: expected {wrong}")),
        "{text}"
    );
    assert_eq!(target.server.as_ref().map(|s| s.write_count()), writes, "a failed render must not write");
    assert_eq!(files(&engine.cache.path().join("plugins")), Vec::<std::path::PathBuf>::new());
    assert_eq!(server.requests(), ["/trivial.wasm"]);
}
