//! Remote repositories: one bare cache repository per URL under
//! `CACHE/repos/<hash-of-url>`, shared by every Application on that URL,
//! updated with gix.
//!
//! A fetch runs in two steps. First the ref advertisement only (one
//! handshake + `ls-refs`): the revision is resolved against it, and if the
//! cache already has that commit, we are done — an unchanged remote costs
//! no pack. Otherwise the one ref (or SHA) is fetched, by default shallow
//! (the tip commit only), or with its full history on demand.
//!
//! Transports: `file://` (gix runs `git-upload-pack` locally, as Git does),
//! `git://`, `http(s)://` (reqwest with rustls on *ring*, the provider kube
//! already builds, so no second crypto library is compiled; a private CA from
//! the credentials is trusted on top of the system's roots) and `ssh://`
//! (gix runs the `ssh` program with a key from the credentials).

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use gix::ObjectId;
use gix::remote::Direction;
use gix::remote::fetch::Shallow;
use gix_transport::client::blocking_io::http;
use sha2::{Digest, Sha256};

use crate::auth::{Credentials, SSH_LOG};
use crate::revision::{self, RemoteRef, Wanted};
use crate::{Error, GixError, Result};

/// What a checkout cost on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// A local path, opened in place: no network, no cache.
    Local,
    /// The ref advertisement only: the cache already had the commit.
    UpToDate,
    /// A pack was requested and this many objects arrived.
    Pack {
        /// Objects in the received pack (0 if the remote had nothing new).
        objects: u64,
        /// Bytes of the received pack file (0 when none was written).
        bytes: u64,
    },
}

/// How to fetch one revision of one URL.
pub(crate) struct Fetch<'a> {
    pub cache: &'a Path,
    pub url: &'a str,
    pub revision: &'a str,
    pub credentials: Option<&'a Credentials>,
    pub full_history: bool,
    pub ssh_program: &'a Path,
    /// The largest object the cache may hold: a received pack with a
    /// larger object is refused while it is indexed, before that object is
    /// inflated (`gitoxide.objects.allocLimit`).
    pub max_object_bytes: u64,
}

/// The cache directory of `url`: a SHA-256 of the URL, so that any URL
/// (with ports, users, odd characters) maps to a plain file name.
pub fn repo_dir(cache: &Path, url: &str) -> PathBuf {
    let hash = hex::encode(Sha256::digest(url.as_bytes()));
    cache.join("repos").join(&hash[..32])
}

impl Fetch<'_> {
    /// Resolves the revision and makes sure the cache holds its commit.
    /// Returns the cache repository, the commit, the annotated tag object
    /// the revision named (if any), and what it cost.
    pub(crate) fn run(&self) -> Result<(gix::Repository, ObjectId, Option<ObjectId>, Fetched)> {
        let dir = repo_dir(self.cache, self.url);
        let mut repo = open_or_init(&dir, self.max_object_bytes)?;
        // One key directory per fetch: concurrent fetches of one URL must
        // not remove each other's key.
        static FETCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = FETCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ssh_dir = dir.with_extension(format!("ssh-{}-{n}", std::process::id()));
        self.configure(&mut repo, &ssh_dir)?;
        let result = self.fetch(&repo).map_err(|e| explain_ssh(e, &ssh_dir));
        // The key is only needed while `ssh` runs.
        let _ = std::fs::remove_dir_all(&ssh_dir);
        result.map(|(commit, tag, fetched)| (repo, commit, tag, fetched))
    }

    fn fetch(&self, repo: &gix::Repository) -> Result<(ObjectId, Option<ObjectId>, Fetched)> {
        let refs = self.advertised(repo)?;
        let wanted = revision::resolve(self.revision, &refs).map_err(|source| Error::Revision {
            revision: self.revision.to_owned(),
            url: self.url.to_owned(),
            source,
        })?;
        let is_shallow =
            repo.is_shallow().map_err(|e| self.gix_error("failed to read the cache's shallow file", Some(e.into())))?;
        let unshallow = self.full_history && is_shallow;
        let known = match &wanted {
            Wanted::Ref(r) => Some(r.commit),
            Wanted::Commit(id) => Some(*id),
            Wanted::Prefix(_) => None,
        };
        let tag = match &wanted {
            Wanted::Ref(r) => r.tag,
            _ => None,
        };
        // A tag object is needed too (its signature may be checked).
        let complete = |c: &ObjectId| repo.has_object(c) && tag.is_none_or(|t| repo.has_object(t));
        if let Some(commit) = known.filter(|c| complete(c) && !unshallow) {
            tracing::debug!(url = self.url, revision = self.revision, %commit, "remote unchanged: no fetch");
            return Ok((commit, tag, Fetched::UpToDate));
        }
        let shallow = if self.full_history || matches!(wanted, Wanted::Prefix(_)) {
            if is_shallow { Shallow::undo() } else { Shallow::NoChange }
        } else {
            Shallow::DepthAtRemote(NonZeroU32::MIN)
        };
        let (spec, ref_name) = match &wanted {
            Wanted::Ref(r) => (format!("+{}:{}", r.name, local_ref(&r.name)), Some(r.name.as_str())),
            Wanted::Commit(id) => (id.to_string(), None),
            Wanted::Prefix(_) => ("+refs/heads/*:refs/heads/*".to_owned(), None),
        };
        let outcome = self.receive(repo, &spec, shallow)?;
        let (objects, bytes) = match &outcome.status {
            gix::remote::fetch::Status::Change { write_pack_bundle, .. } => {
                let pack = write_pack_bundle.data_path.as_ref().and_then(|p| std::fs::metadata(p).ok());
                (u64::from(write_pack_bundle.index.num_objects), pack.map_or(0, |m| m.len()))
            }
            gix::remote::fetch::Status::NoPackReceived { .. } => (0, 0),
        };
        let commit = match (&wanted, known) {
            (_, Some(commit)) if repo.has_object(commit) => commit,
            // The ref moved between advertisement and fetch: take what came.
            (Wanted::Ref(_), _) => ref_name
                .and_then(|name| convert(&outcome.ref_map.remote_refs).into_iter().find(|r| r.name == name))
                .map(|r| r.commit)
                .ok_or_else(|| self.gix_error("failed to find the fetched ref", None))?,
            (Wanted::Prefix(prefix), _) => self.resolve_prefix(repo, prefix)?,
            (Wanted::Commit(id), _) => *id,
        };
        tracing::info!(url = self.url, revision = self.revision, %commit, objects, bytes, "fetched");
        let tag = tag.filter(|t| repo.has_object(t));
        Ok((commit, tag, Fetched::Pack { objects, bytes }))
    }

    /// The refs the remote has: one handshake and `ls-refs`, no objects.
    fn advertised(&self, repo: &gix::Repository) -> Result<Vec<RemoteRef>> {
        let remote = self.remote(
            repo,
            &["+HEAD:refs/remotes/origin/HEAD", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
        )?;
        let connection = self.connect(&remote)?;
        let (ref_map, _handshake) = connection
            .ref_map(gix::progress::Discard, Default::default())
            .map_err(|e| self.gix_error("failed to list the remote's references", Some(e.into())))?;
        Ok(convert(&ref_map.remote_refs))
    }

    fn receive(&self, repo: &gix::Repository, spec: &str, shallow: Shallow) -> Result<gix::remote::fetch::Outcome> {
        let remote = self.remote(repo, &[spec])?;
        let connection = self.connect(&remote)?;
        connection
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.gix_error("failed to prepare the fetch", Some(e.into())))?
            .with_shallow(shallow)
            .receive(gix::progress::Discard, &AtomicBool::new(false))
            .map_err(|e| {
                let e: GixError = e.into();
                if is_over_alloc_limit(e.as_ref()) {
                    let what = format!(
                        "refused the received pack: an object in it is over the cap of {} bytes for one object",
                        self.max_object_bytes
                    );
                    return Error::Remote { url: self.url.to_owned(), what, source: Some(e) };
                }
                self.gix_error("failed to fetch", Some(e))
            })
    }

    /// An anonymous remote for the URL: the cache's config never stores it,
    /// so a URL cannot be redirected by editing the cache.
    fn remote<'r>(&self, repo: &'r gix::Repository, specs: &[&str]) -> Result<gix::Remote<'r>> {
        repo.remote_at(self.url)
            .map_err(|e| self.gix_error("failed to parse the URL", Some(e.into())))?
            .with_refspecs(specs.iter().copied(), Direction::Fetch)
            .map_err(|e| self.gix_error("failed to parse the refspecs", Some(e.into())))
    }

    /// A connection whose credential prompts are answered from our
    /// credentials only: never from a terminal or the user's Git helpers.
    fn connect<'r>(
        &self,
        remote: &'r gix::Remote<'r>,
    ) -> Result<
        gix::remote::Connection<'r, 'r, 'r, Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>>,
    > {
        if self.url.starts_with("https://") || self.url.starts_with("http://") {
            install_tls_provider();
        }
        let mut connection =
            remote.connect(Direction::Fetch).map_err(|e| self.gix_error("failed to connect", Some(e.into())))?;
        if let Some(options) = self.http_options(remote.repo())? {
            connection.set_transport_options(options);
        }
        let basic = match self.credentials {
            Some(credentials) => credentials
                .basic(self.url)
                .map_err(|source| Error::Credentials { url: self.url.to_owned(), source })?
                .map(|(u, p)| (u.to_owned(), p.to_owned())),
            None => None,
        };
        Ok(connection.with_credentials(move |action| match (action, &basic) {
            (gix::credentials::helper::Action::Get(context), Some((username, password))) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: username.clone(),
                        password: password.clone(),
                        oauth_refresh_token: None,
                    },
                    next: context.into(),
                }))
            }
            _ => Ok(None),
        }))
    }

    /// gix's HTTP options for this URL with the credentials' private CA
    /// added to the roots reqwest trusts, or `None` without a CA. (gix's
    /// reqwest backend ignores `http.sslCAInfo`; its client hook does not.)
    fn http_options(&self, repo: &gix::Repository) -> Result<Option<Box<dyn std::any::Any>>> {
        let Some(certs) = self.credentials.and_then(Credentials::ca_certificates) else { return Ok(None) };
        if !self.url.starts_with("https://") {
            return Ok(None);
        }
        let configured = repo
            .transport_options(self.url, None)
            .map_err(|e| self.gix_error("failed to read the HTTP configuration", Some(e.into())))?;
        let mut options =
            configured.and_then(|o| o.downcast::<http::Options>().ok()).map_or_else(Default::default, |o| *o);
        let configure: Box<http::reqwest::ConfigureClientFn> =
            Box::new(move |builder| Ok(builder.tls_certs_merge(certs.iter().cloned())));
        let backend = http::reqwest::Options { configure_client: Some(configure), configure_request: None };
        options.backend = Some(Arc::new(Mutex::new(backend)));
        Ok(Some(Box::new(options)))
    }

    /// Points gix's `ssh` at the key of the credentials, if any.
    fn configure(&self, repo: &mut gix::Repository, ssh_dir: &Path) -> Result<()> {
        let Some(credentials) = self.credentials else { return Ok(()) };
        let command = credentials
            .ssh_command(ssh_dir, self.ssh_program)
            .map_err(|source| Error::Credentials { url: self.url.to_owned(), source })?;
        if let Some(command) = command {
            let mut config = repo.config_snapshot_mut();
            config
                .set_raw_value("core.sshCommand", command.as_str())
                .map_err(|e| self.gix_error("failed to configure ssh", Some(e.into())))?;
            // The command is not named `ssh`, so tell gix which options it takes.
            config
                .set_raw_value("ssh.variant", "ssh")
                .map_err(|e| self.gix_error("failed to configure ssh", Some(e.into())))?;
        }
        Ok(())
    }

    fn resolve_prefix(&self, repo: &gix::Repository, prefix: &str) -> Result<ObjectId> {
        let unknown = |source: GixError| Error::Remote {
            url: self.url.to_owned(),
            what: format!("failed to resolve {prefix:?} in the full history"),
            source: Some(source),
        };
        let object =
            repo.rev_parse_single(prefix).map_err(|e| unknown(e.into()))?.object().map_err(|e| unknown(e.into()))?;
        Ok(object.peel_to_commit().map_err(|e| unknown(e.into()))?.id)
    }

    fn gix_error(&self, what: &str, source: Option<GixError>) -> Error {
        let what = match &source {
            Some(e) if is_certificate_error(e.as_ref()) => {
                "failed to verify the server's TLS certificate; for a private CA, put its PEM certificate under \
                 `ca.crt` in the credentials"
            }
            _ => what,
        };
        Error::Remote { url: self.url.to_owned(), what: what.to_owned(), source }
    }
}

/// What `ssh` said before it gave up, as the cause of a failed fetch.
#[derive(Debug, thiserror::Error)]
#[error("ssh: {said}")]
struct SshSaid {
    said: String,
    #[source]
    source: Option<GixError>,
}

/// Explains a failed SSH fetch from `ssh`'s log (gix sees only a closed
/// connection): a refused host key or a refused client key get a message
/// of their own. Other errors pass unchanged.
fn explain_ssh(error: Error, ssh_dir: &Path) -> Error {
    let Error::Remote { url, what, source } = error else { return error };
    let log = std::fs::read_to_string(ssh_dir.join(SSH_LOG)).unwrap_or_default();
    // The last lines carry the verdict; the ones before are banners.
    let lines: Vec<&str> = log.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('@')).collect();
    if lines.is_empty() {
        return Error::Remote { url, what, source };
    }
    let said = lines[lines.len().saturating_sub(2)..].join(" ");
    let what = if log.contains("Host key verification failed") {
        "refusing the SSH server: its host key is not a known host (`known_hosts` in the credentials)".to_owned()
    } else if log.contains("Permission denied") {
        "failed to authenticate over SSH: the server refused the key in `identity`".to_owned()
    } else {
        what
    };
    Error::Remote { url, what, source: Some(Box::new(SshSaid { said, source })) }
}

/// Whether rustls refused the server's certificate somewhere in the chain.
/// (`io::Error::source` skips the error it wraps, so look inside it too.)
fn is_certificate_error(error: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return matches!(tls, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented);
    }
    let wrapped = error.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref);
    wrapped.is_some_and(|inner| is_certificate_error(inner)) || error.source().is_some_and(is_certificate_error)
}

/// Whether gix refused a pack entry over `gitoxide.objects.allocLimit`. gix
/// classifies it only in its own error crate's types, so the message is
/// matched (`a_fetched_blob_bomb_is_refused_before_it_is_inflated` notices
/// if it changes).
fn is_over_alloc_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    error.to_string().contains("too large to fit in memory") || error.source().is_some_and(is_over_alloc_limit)
}

/// The ref in the cache that mirrors remote ref `name`; the remote's `HEAD`
/// must not replace the bare repository's own.
fn local_ref(name: &str) -> String {
    if name == "HEAD" { "refs/remotes/origin/HEAD".to_owned() } else { name.to_owned() }
}

fn convert(refs: &[gix::protocol::handshake::Ref]) -> Vec<RemoteRef> {
    refs.iter()
        .filter_map(|r| {
            let (name, target, peeled) = r.unpack();
            let target = target?.to_owned();
            Some(match peeled {
                Some(commit) => RemoteRef { name: name.to_string(), commit: commit.to_owned(), tag: Some(target) },
                None => RemoteRef { name: name.to_string(), commit: target, tag: None },
            })
        })
        .collect()
}

/// Opens the cache repository, creating it (atomically, by rename) if needed.
fn open_or_init(dir: &Path, max_object_bytes: u64) -> Result<gix::Repository> {
    let open_error = |source: GixError| Error::Open { repo: dir.to_owned(), source };
    if !dir.exists() {
        let parent = dir.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|source| Error::Write { path: parent.to_owned(), source })?;
        let staging = dir.with_extension(format!("init-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        gix::init_bare(&staging).map_err(|e| open_error(e.into()))?;
        // Losing a race against another process is fine: theirs is as good.
        if std::fs::rename(&staging, dir).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
    }
    // gix inflates each object of a received pack whole to hash it: a
    // 256 MiB blob of zeros is a few hundred bytes on the wire. The limit
    // makes it refuse, from the object's header, any object the checkout
    // would refuse anyway.
    let limit = format!("gitoxide.objects.allocLimit={max_object_bytes}");
    gix::open_opts(dir, gix::open::Options::default().config_overrides([limit])).map_err(|e| open_error(e.into()))
}

/// reqwest is built without a compiled-in crypto provider; use *ring*.
fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if the process already chose a provider, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
