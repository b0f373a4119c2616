//! The source stage: resolve an Application's repository and revision to a
//! commit with gix, optionally check the commit's signature, and
//! materialise the tree at that commit as a read-only, content-addressed
//! [`Snapshot`].
//!
//! Start with [`Source::checkout_source`]. Remote URLs (`file://`, `git://`,
//! `http(s)://`, `ssh://`) go through one bare cache repository per URL
//! ([`remote`]): an unchanged remote costs one ref advertisement. Local paths
//! are opened in place. Revisions are resolved by [`revision`] (branches,
//! tags, SHAs, semver ranges), signatures checked by [`verify`].
//!
//! Snapshots live under `CACHE/snapshots/v2/<tree-sha>`: two Applications on the
//! same tree share one, and a snapshot never changes once written, so it
//! needs no invalidation; [`Source::gc`] removes those no longer in use.
//! A repository author controls the tree's contents and nothing outside it:
//! `tree` checks the whole tree first (names Git would refuse, duplicate and
//! unsorted entries, object sizes from their headers, where each symlink
//! resolves) and `snapshot` writes it without resolving any path. Symlinks
//! that would lead out of the snapshot and submodules are not materialised
//! (see [`Checkout::skipped`]).
//!
//! Around the stage: [`poll::Poller`] (interval plus jitter), the push
//! webhook receiver [`webhook`], and [`hydrate`] (commit rendered manifests
//! to a branch).

pub mod auth;
pub mod hydrate;
pub mod poll;
pub mod remote;
pub mod revision;
mod snapshot;
mod tree;
pub mod verify;
pub mod webhook;

use std::path::{Path, PathBuf};

pub use auth::Credentials;
pub use remote::Fetched;
pub use snapshot::{GcReport, Limits, Snapshot};
pub use tree::{MAX_DEPTH as MAX_TREE_DEPTH, TreeProblem};

/// A boxed error from gix (its error types differ per call).
pub type GixError = Box<dyn std::error::Error + Send + Sync>;

/// Errors of the source stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Talking to the remote failed.
    #[error("{what} ({url})")]
    Remote {
        /// The repository URL.
        url: String,
        /// Which step failed, starting with "failed to".
        what: String,
        /// Why, where gix said.
        #[source]
        source: Option<GixError>,
    },
    /// The revision does not resolve against the remote's refs.
    #[error("failed to resolve revision {revision:?} of {url}")]
    Revision {
        /// The revision asked for.
        revision: String,
        /// The repository URL.
        url: String,
        /// Why.
        #[source]
        source: revision::Error,
    },
    /// The credentials could not be used.
    #[error("failed to use the credentials for {url}")]
    Credentials {
        /// The repository URL.
        url: String,
        /// Why.
        #[source]
        source: auth::Error,
    },
    /// The commit is not signed by a trusted key: nothing may be applied.
    #[error("failed to verify the signature of commit {commit}")]
    Verify {
        /// The commit.
        commit: String,
        /// Why.
        #[source]
        source: verify::Error,
    },
    /// The repository could not be opened.
    #[error("failed to open repository {repo}")]
    Open {
        /// Where it was looked for.
        repo: PathBuf,
        /// Why.
        #[source]
        source: GixError,
    },
    /// The revision does not name a commit.
    #[error("failed to resolve revision {revision:?} in {repo}")]
    Resolve {
        /// The revision asked for.
        revision: String,
        /// The repository.
        repo: PathBuf,
        /// Why.
        #[source]
        source: GixError,
    },
    /// Reading an object of the commit's tree failed.
    #[error("failed to read {path:?} at commit {commit}")]
    ReadObject {
        /// Path in the tree (empty for the commit and its root tree).
        path: gix::bstr::BString,
        /// The commit.
        commit: String,
        /// Why.
        #[source]
        source: GixError,
    },
    /// Writing the snapshot failed.
    #[error("failed to write snapshot file {path:?}")]
    Write {
        /// File or directory being written.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The tree is over a size or file-count cap.
    #[error("repository tree at {commit} is too large: {what}")]
    TooLarge {
        /// The commit.
        commit: String,
        /// Which cap was hit.
        what: String,
    },
    /// The tree holds an entry Git itself would refuse to check out: the
    /// whole tree is refused and nothing of it is written.
    #[error("refused the tree of commit {commit}: entry {path:?}")]
    TreeEntry {
        /// Path of the entry in the tree (escaped when printed).
        path: gix::bstr::BString,
        /// The commit.
        commit: String,
        /// What is wrong with it.
        #[source]
        problem: TreeProblem,
    },
    /// The Application's path does not exist in the tree.
    #[error("path {path:?} does not exist at commit {commit}")]
    MissingPath {
        /// `spec.source.path`.
        path: String,
        /// The commit.
        commit: String,
    },
}

/// Result of this stage.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A repository opened at a resolved revision: the repository, the commit,
/// the annotated tag it came through (if any), and what the fetch cost.
type Opened = (gix::Repository, gix::ObjectId, Option<gix::ObjectId>, Fetched);

/// Fetches and snapshots repositories, with a cache directory of its own.
#[derive(Debug, Clone)]
pub struct Source {
    cache_dir: PathBuf,
    limits: Limits,
    /// URL prefix → credentials; the longest matching prefix wins.
    credentials: Vec<(String, Credentials)>,
    /// The OpenSSH client gix runs for `ssh://` URLs.
    ssh_program: PathBuf,
}

/// A revision resolved and materialised.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// Full commit SHA (hex).
    pub commit: String,
    /// Tree SHA of the commit's root tree: the snapshot's key.
    pub tree: String,
    /// The read-only snapshot of the whole tree.
    pub snapshot: Snapshot,
    /// Entries not materialised, with the reason (escaping symlinks, submodules).
    pub skipped: Vec<String>,
    /// What it cost on the network.
    pub fetched: Fetched,
    /// How long fetching (or opening) and resolving took.
    pub fetch_duration: std::time::Duration,
    /// Who signed the commit, when the Application asked for verification.
    pub signer: Option<String>,
    /// First line of the commit message.
    pub subject: String,
    /// `Name <email>` of the commit's author.
    pub author: String,
}

impl Source {
    /// A source stage storing repositories and snapshots under `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            limits: Limits::default(),
            credentials: Vec::new(),
            ssh_program: PathBuf::from("ssh"),
        }
    }

    /// Replaces the size caps.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Uses `credentials` for every URL starting with `url_prefix`.
    pub fn with_credentials(mut self, url_prefix: impl Into<String>, credentials: Credentials) -> Self {
        self.credentials.push((url_prefix.into(), credentials));
        self
    }

    /// Runs this OpenSSH client instead of the `ssh` on `PATH` (e.g. a
    /// pinned path in a controller image).
    pub fn with_ssh_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.ssh_program = program.into();
        self
    }

    /// Resolves `revision` in `repo_url` (relative paths against `base_dir`)
    /// and materialises the commit's tree; `path` must exist in it.
    pub fn checkout(&self, repo_url: &str, base_dir: &Path, revision: &str, path: &str) -> Result<Checkout> {
        let source = capstan_types::Source {
            repo_url: repo_url.to_owned(),
            revision: revision.to_owned(),
            path: path.to_owned(),
            interval: None,
            full_history: false,
            verify: None,
            secret_ref: None,
        };
        self.checkout_source(&source, base_dir)
    }

    /// Checks out an Application's source: fetch, resolve, verify the
    /// signature when `verify` is set, materialise.
    pub fn checkout_source(&self, source: &capstan_types::Source, base_dir: &Path) -> Result<Checkout> {
        let url = &source.repo_url;
        let started = std::time::Instant::now();
        let (repo, commit_id, tag, fetched) = self.fetch(source, base_dir)?;
        let fetch_duration = started.elapsed();
        let commit_hex = commit_id.to_string();
        let read_error =
            |e: GixError| Error::ReadObject { path: Default::default(), commit: commit_hex.clone(), source: e };
        // A commit is inflated whole: check its size from the header first.
        let header = repo.find_header(commit_id).map_err(|e| read_error(e.into()))?;
        tree::check_object_size(header.size(), &self.limits, &commit_hex, "".into())?;
        let commit = repo.find_commit(commit_id).map_err(|e| read_error(e.into()))?;
        let signer = match &source.verify {
            Some(policy) => Some(
                verify::check(&repo, &commit, tag, policy)
                    .map_err(|source| Error::Verify { commit: commit_hex.clone(), source })?,
            ),
            None => None,
        };
        let tree = commit.tree_id().map_err(|e| read_error(e.into()))?.detach();
        let tree_id = tree.to_string();
        tracing::debug!(url = %url, revision = %source.revision, commit = %commit_hex, "resolved revision");
        let (snapshot, skipped) = snapshot::materialise(&self.cache_dir, &repo, tree, &commit_hex, &self.limits)?;
        if !inside(&source.path) || !snapshot.root().join(&source.path).is_dir() {
            return Err(Error::MissingPath { path: source.path.clone(), commit: commit_hex });
        }
        let subject = commit.message().map(|m| m.summary().to_string()).unwrap_or_default();
        let author = commit.author().map(|a| format!("{} <{}>", a.name, a.email)).unwrap_or_default();
        Ok(Checkout {
            commit: commit_hex,
            tree: tree_id,
            snapshot,
            skipped,
            fetched,
            fetch_duration,
            signer,
            subject,
            author,
        })
    }

    /// The commit `source.revision` names now, fetched (a remote costs a ref
    /// advertisement, and a pack only when something changed) but not
    /// materialised: how a running sync learns that a newer commit
    /// superseded it.
    pub fn resolve(&self, source: &capstan_types::Source, base_dir: &Path) -> Result<String> {
        Ok(self.fetch(source, base_dir)?.1.to_string())
    }

    /// Fetches (remote) or opens (local) the repository and resolves the revision.
    fn fetch(&self, source: &capstan_types::Source, base_dir: &Path) -> Result<Opened> {
        let url = &source.repo_url;
        Ok(if is_remote(url) {
            remote::Fetch {
                cache: &self.cache_dir,
                url,
                revision: &source.revision,
                credentials: self.credentials_for(url),
                full_history: source.full_history,
                ssh_program: &self.ssh_program,
                max_object_bytes: self.limits.max_object_bytes,
            }
            .run()?
        } else {
            let (repo, commit, tag) = open_local(&local_path(url, base_dir), &source.revision)?;
            (repo, commit, tag, Fetched::Local)
        })
    }

    /// Removes every snapshot whose tree SHA is not in `in_use` (and any
    /// staging directory a crash left behind).
    pub fn gc<'a>(&self, in_use: impl IntoIterator<Item = &'a str>) -> Result<GcReport> {
        snapshot::gc(&self.cache_dir, &in_use.into_iter().collect())
    }

    /// Whether credentials were given for `url` (by a matching prefix).
    pub fn has_credentials_for(&self, url: &str) -> bool {
        self.credentials_for(url).is_some()
    }

    fn credentials_for(&self, url: &str) -> Option<&Credentials> {
        self.credentials
            .iter()
            .filter(|(prefix, _)| url.starts_with(prefix.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, c)| c)
    }
}

/// Whether an Application's `path` names a place inside the snapshot
/// (relative, no `..`).
fn inside(path: &str) -> bool {
    Path::new(path).components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
}

/// Whether `repo_url` is fetched into the cache rather than opened in place.
pub fn is_remote(repo_url: &str) -> bool {
    repo_url.contains("://") || repo_url.starts_with("git@")
}

/// A local working tree or bare repository, opened in place; returns the
/// commit and, when the revision names an annotated tag, the tag object.
fn open_local(repo_dir: &Path, revision: &str) -> Result<(gix::Repository, gix::ObjectId, Option<gix::ObjectId>)> {
    let repo = gix::open(repo_dir).map_err(|e| Error::Open { repo: repo_dir.to_owned(), source: e.into() })?;
    let resolve = |e: GixError| Error::Resolve { revision: revision.to_owned(), repo: repo_dir.to_owned(), source: e };
    let (id, tag) = if revision::is_range(revision) {
        let refs = local_tags(&repo).map_err(resolve)?;
        match revision::resolve(revision, &refs) {
            Ok(revision::Wanted::Ref(r)) => (r.commit, r.tag),
            Ok(other) => return Err(resolve(format!("semver range resolved to {other:?}, not a tag").into())),
            Err(e) => return Err(resolve(e.into())),
        }
    } else {
        let object =
            repo.rev_parse_single(revision).map_err(|e| resolve(e.into()))?.object().map_err(|e| resolve(e.into()))?;
        let commit = object.peel_to_commit().map_err(|e| resolve(e.into()))?.id;
        let name =
            if revision.starts_with("refs/tags/") { revision.to_owned() } else { format!("refs/tags/{revision}") };
        let tag = match repo.try_find_reference(name.as_str()) {
            Ok(Some(reference)) => reference.target().try_id().map(ToOwned::to_owned).filter(|t| *t != commit),
            _ => None,
        };
        (commit, tag)
    };
    Ok((repo, id, tag))
}

/// The tags of a local repository, peeled, as [`revision::RemoteRef`]s.
fn local_tags(repo: &gix::Repository) -> std::result::Result<Vec<revision::RemoteRef>, GixError> {
    let mut refs = Vec::new();
    for reference in repo.references()?.tags()? {
        let mut reference = reference?;
        let name = reference.name().as_bstr().to_string();
        let target = reference.target().try_id().map(ToOwned::to_owned);
        let commit = reference.peel_to_commit()?.id;
        let tag = target.filter(|t| *t != commit);
        refs.push(revision::RemoteRef { name, commit, tag });
    }
    Ok(refs)
}

/// A local directory for plain paths, relative to `base_dir`.
fn local_path(repo_url: &str, base_dir: &Path) -> PathBuf {
    let path = PathBuf::from(repo_url);
    if path.is_absolute() { path } else { base_dir.join(path) }
}
