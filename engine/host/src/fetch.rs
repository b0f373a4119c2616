//! The bytes of a plugin that is not `builtin:`, checked against its pinned
//! `sha256:` digest before they leave this module, so nothing unverified is
//! ever compiled or cached.
//!
//! A reference is a path (relative to the Application's directory),
//! `file://…`, `http://…`/`https://…`, or `oci://REGISTRY/REPO:TAG` /
//! `oci://REGISTRY/REPO@sha256:…` (see [`crate::oci`]). Plain `http://` is
//! allowed on purpose: the digest pins the bytes, so whoever sits on the
//! path can make a load fail but cannot change what runs.
//!
//! Downloads land in a content-addressed cache, `<dir>/sha256/<hex>`,
//! written only after the digest matched. A digest already there is served
//! with no network request at all, whatever URL names it: that is the point
//! of pinning, and it keeps a flaky registry from failing a render.
//!
//! [`crate::PluginHost::load`] is synchronous and is called from plain
//! threads and from inside tokio (`spawn_blocking`, async tests). Network
//! I/O therefore runs on a short-lived thread of its own with a
//! current-thread runtime: a runtime built and dropped on a thread that
//! belongs to no runtime can never panic with "cannot drop a runtime in a
//! context where blocking is not allowed". The thread exists only on a
//! cache miss, so its cost never reaches a warm render.

use std::fs::{File, Metadata};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Client, Response, Url};
use sha2::{Digest, Sha256};

use crate::cache::Seen;
use crate::local::{LocalPlugins, open_no_follow};
use crate::oci::OciReference;
use crate::{Error, Result};

/// The largest component (or OCI blob) the host downloads. Real plugins are
/// a few MiB (the bundled kustomize is the largest); this only stops a
/// wrong URL from filling memory and disk.
pub const MAX_DOWNLOAD_BYTES: u64 = 64 * 1024 * 1024;
/// One whole request, body included: [`MAX_DOWNLOAD_BYTES`] at ~2 Mbit/s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Connecting (TCP and TLS) to one server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Release assets and registry blobs redirect once or twice (to a CDN).
const MAX_REDIRECTS: usize = 5;

/// Where the bytes of a non-builtin reference come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A path relative to the Application's directory, or `file://`.
    File(PathBuf),
    /// A download.
    Remote(Remote),
}

/// A reference that needs the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Remote {
    /// `http://` or `https://`.
    Http(Url),
    /// `oci://`.
    Oci(OciReference),
}

impl Location {
    /// Classifies a reference by its scheme; anything without `scheme://` is a path.
    pub(crate) fn parse(reference: &str, base_dir: &Path) -> Result<Self> {
        let Some((scheme, rest)) = split_scheme(reference) else {
            return Ok(Self::File(base_dir.join(reference)));
        };
        let invalid = |reason: String| Error::InvalidReference { plugin: reference.to_owned(), reason };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => Ok(Self::File(base_dir.join(rest))),
            "http" | "https" => Url::parse(reference)
                .map(|url| Self::Remote(Remote::Http(url)))
                .map_err(|error| invalid(error.to_string())),
            "oci" => OciReference::parse(rest).map(|image| Self::Remote(Remote::Oci(image))).map_err(invalid),
            _ => Err(Error::UnsupportedScheme { plugin: reference.to_owned(), scheme: scheme.to_owned() }),
        }
    }
}

/// `("https", "host/x.wasm")` for `https://host/x.wasm`; `None` for a path.
fn split_scheme(reference: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = reference.split_once("://")?;
    let valid = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some((scheme, rest))
}

/// Component bytes, verified against their digest, and what was seen of
/// the file they were read from, if they were.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) bytes: Vec<u8>,
    pub(crate) file: Option<Seen>,
}

/// Opens a file of the download cache: not through a link, not blocking on
/// a FIFO, and only a regular file.
fn open_regular(path: &Path) -> std::io::Result<(File, Metadata)> {
    let file = open_no_follow(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok((file, metadata))
}

/// Reads, downloads and caches component bytes. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fetcher {
    /// The download cache; `None` downloads every time.
    cache: Option<PathBuf>,
    /// Where local plugin files may come from.
    local: LocalPlugins,
}

impl Fetcher {
    /// A fetcher caching downloads under `cache` (as `sha256/<hex>`),
    /// reading local files only where `local` allows.
    pub(crate) fn new(cache: Option<PathBuf>, local: LocalPlugins) -> Self {
        Self { cache, local }
    }

    /// The bytes of `reference`, which must hash to `digest`; local paths are
    /// relative to `base_dir`.
    pub(crate) fn bytes(&self, reference: &str, digest: &str, base_dir: &Path) -> Result<Fetched> {
        let hex = digest_hex(reference, digest)?;
        let remote = match Location::parse(reference, base_dir)? {
            Location::File(path) => {
                let (bytes, seen) = crate::local::read(reference, &path, base_dir, &self.local)?;
                let bytes = verified(reference, digest, &hex, bytes)?;
                return Ok(Fetched { bytes, file: Some(seen) });
            }
            Location::Remote(remote) => remote,
        };
        if let Some(fetched) = self.cached(&hex) {
            tracing::debug!(plugin = reference, digest, "plugin served from the download cache");
            return Ok(fetched);
        }
        let bytes = verified(reference, digest, &hex, download(reference, &remote)?)?;
        tracing::info!(plugin = reference, digest, bytes = bytes.len(), "plugin downloaded");
        self.store(&hex, &bytes);
        Ok(Fetched { bytes, file: None })
    }

    /// The metadata of the file [`Fetcher::bytes`] would read for
    /// `reference` (the local file, checked as for reading, or the download
    /// cache's copy), taken from an open descriptor, without reading it;
    /// `None` when the bytes would be downloaded.
    pub(crate) fn identify(&self, reference: &str, digest: &str, base_dir: &Path) -> Result<Option<Metadata>> {
        let hex = digest_hex(reference, digest)?;
        match Location::parse(reference, base_dir)? {
            Location::File(path) => crate::local::open(reference, &path, base_dir, &self.local).map(|(_, m)| Some(m)),
            Location::Remote(_) => Ok(self.path(&hex).and_then(|path| open_regular(&path).ok()).map(|(_, m)| m)),
        }
    }

    fn path(&self, hex: &str) -> Option<PathBuf> {
        Some(self.cache.as_ref()?.join("sha256").join(hex))
    }

    /// The cached bytes of `hex`, re-hashed so a damaged file is fetched again.
    fn cached(&self, hex: &str) -> Option<Fetched> {
        let path = self.path(hex)?;
        let (file, before) = open_regular(&path).ok()?;
        let (bytes, seen) = Seen::read(&file, before, MAX_DOWNLOAD_BYTES).ok()?;
        if hex::encode(Sha256::digest(&bytes)) == hex {
            return Some(Fetched { bytes, file: Some(seen) });
        }
        tracing::warn!(path = %path.display(), "cached plugin does not match its digest; fetching it again");
        let _ = std::fs::remove_file(&path);
        None
    }

    /// Writes verified bytes (to a temporary file, then renamed, so readers
    /// never see half a file). A failure costs a download next time, no more.
    fn store(&self, hex: &str, bytes: &[u8]) {
        let Some(path) = self.path(hex) else { return };
        let write = || -> std::io::Result<()> {
            let dir = path.parent().expect("cache path has a parent");
            std::fs::create_dir_all(dir)?;
            let mut file = tempfile::NamedTempFile::new_in(dir)?;
            file.write_all(bytes)?;
            file.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        if let Err(error) = write() {
            tracing::warn!(path = %path.display(), %error, "failed to cache a downloaded plugin");
        }
    }
}

/// The lower-case hex of `sha256:<64 hex digits>`. It names a cache file,
/// so nothing else may pass.
pub(crate) fn digest_hex(reference: &str, digest: &str) -> Result<String> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) => Ok(hex.to_ascii_lowercase()),
        _ => Err(Error::InvalidDigest { plugin: reference.to_owned(), digest: digest.to_owned() }),
    }
}

/// `bytes` if they hash to `hex`; the mismatch error otherwise.
fn verified(reference: &str, digest: &str, hex: &str, bytes: Vec<u8>) -> Result<Vec<u8>> {
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual == hex {
        return Ok(bytes);
    }
    Err(Error::DigestMismatch {
        plugin: reference.to_owned(),
        expected: digest.to_owned(),
        actual: format!("sha256:{actual}"),
    })
}

/// Downloads on a thread of its own (see the module docs for why).
fn download(reference: &str, remote: &Remote) -> Result<Vec<u8>> {
    let failed = |source| Error::Download { plugin: reference.to_owned(), source };
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new().name("capstan-fetch".into()).spawn_scoped(scope, || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(failed)?;
            runtime.block_on(async {
                let client = client(reference)?;
                match remote {
                    Remote::Http(url) => {
                        let response = send(reference, client.get(url.clone()), url).await?;
                        read_capped(reference, url, response, MAX_DOWNLOAD_BYTES).await
                    }
                    Remote::Oci(image) => crate::oci::pull(&client, reference, image, MAX_DOWNLOAD_BYTES).await,
                }
            })
        });
        worker.map_err(failed)?.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The HTTP client of one download: rustls on *ring*, bounded redirects and time.
fn client(reference: &str) -> Result<Client> {
    install_tls_provider();
    Client::builder()
        .user_agent(concat!("capstan/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|source| Error::HttpClient { plugin: reference.to_owned(), source })
}

/// reqwest is built without a compiled-in crypto provider; use *ring*, as
/// the source stage and kube do, so no second crypto library is built.
fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if the process already chose a provider, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Sends a request; only transport failures are errors here.
pub(crate) async fn send(reference: &str, request: reqwest::RequestBuilder, url: &Url) -> Result<Response> {
    request.send().await.map_err(|source| unreachable(reference, url, source))
}

/// The body of a successful response, refusing more than `limit` bytes
/// (from `Content-Length` before reading, and while reading for streamed bodies).
pub(crate) async fn read_capped(reference: &str, url: &Url, mut response: Response, limit: u64) -> Result<Vec<u8>> {
    let status = response.status();
    if !status.is_success() {
        return Err(Error::HttpStatus { plugin: reference.to_owned(), url: url.to_string(), status });
    }
    let too_large = || Error::TooLarge { plugin: reference.to_owned(), url: url.to_string(), limit };
    let announced = response.content_length().unwrap_or(0);
    if announced > limit {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(|source| unreachable(reference, url, source))? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn unreachable(reference: &str, url: &Url, source: reqwest::Error) -> Error {
    Error::Unreachable { plugin: reference.to_owned(), url: url.to_string(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(reference: &str) -> Result<Location> {
        Location::parse(reference, Path::new("/apps"))
    }

    #[test]
    fn paths_and_file_urls_are_files_relative_to_the_base() {
        assert_eq!(parse("plugins/x.wasm").unwrap(), Location::File("/apps/plugins/x.wasm".into()));
        assert_eq!(parse("file://plugins/x.wasm").unwrap(), Location::File("/apps/plugins/x.wasm".into()));
        assert_eq!(parse("file:///opt/x.wasm").unwrap(), Location::File("/opt/x.wasm".into()));
        assert_eq!(parse("./odd://name.wasm").unwrap(), Location::File("/apps/./odd://name.wasm".into()));
    }

    #[test]
    fn http_and_https_urls_are_downloads() {
        for url in ["https://example.com/p/x.wasm", "http://127.0.0.1:8080/x.wasm", "HTTPS://example.com/x.wasm"] {
            assert!(matches!(parse(url).unwrap(), Location::Remote(Remote::Http(_))), "{url}");
        }
        let error = parse("https://exa mple.com/x.wasm").unwrap_err().to_string();
        assert!(error.starts_with("plugin https://exa mple.com/x.wasm: invalid reference: "), "{error}");
    }

    #[test]
    fn other_schemes_are_refused_by_name() {
        assert_eq!(
            parse("ftp://example.com/x.wasm").unwrap_err().to_string(),
            "plugin ftp://example.com/x.wasm: unsupported scheme `ftp://` (use builtin:, a path, file://, http(s):// or oci://)"
        );
    }

    #[test]
    fn digests_must_be_sha256_hex() {
        let hex = "Ab".repeat(32);
        assert_eq!(digest_hex("p", &format!("sha256:{hex}")).unwrap(), hex.to_ascii_lowercase());
        for bad in ["", "sha256:", "sha512:00", "sha256:../../etc/passwd", &format!("sha256:{}", "g".repeat(64))] {
            assert!(matches!(digest_hex("p", bad), Err(Error::InvalidDigest { .. })), "{bad}");
        }
    }

    #[test]
    fn a_mismatch_names_both_digests() {
        let expected = format!("sha256:{}", "0".repeat(64));
        let error = verified("p", &expected, &"0".repeat(64), b"x".to_vec()).unwrap_err().to_string();
        let actual = crate::sha256_digest(b"x");
        assert_eq!(
            error,
            format!("plugin p: digest mismatch: expected {expected}, found {actual}; refusing to compile it")
        );
    }

    #[test]
    fn a_damaged_cache_entry_is_dropped() {
        let dir = tempfile::TempDir::new().unwrap();
        let fetcher = Fetcher::new(Some(dir.path().to_owned()), LocalPlugins::Anywhere);
        let hex = hex::encode(Sha256::digest(b"good"));
        fetcher.store(&hex, b"good");
        assert_eq!(fetcher.cached(&hex).map(|f| f.bytes).as_deref(), Some(&b"good"[..]));
        std::fs::write(dir.path().join("sha256").join(&hex), b"evil").unwrap();
        assert!(fetcher.cached(&hex).is_none());
        assert!(!dir.path().join("sha256").join(&hex).exists());
    }
}
