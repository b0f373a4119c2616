//! The source stage: resolve an Application's repository and revision to a
//! commit with gix, and materialise the tree at that commit as a read-only,
//! content-addressed [`Snapshot`].
//!
//! Start with [`Source::checkout`]. Snapshots live under
//! `CACHE/snapshots/<tree-sha>`: two Applications on the same tree share one,
//! and a snapshot never changes once written, so it needs no invalidation.
//! Symlinks that would lead out of the snapshot and submodules are not
//! materialised (see [`Checkout::skipped`]).

mod snapshot;

use std::path::{Path, PathBuf};

pub use snapshot::{Limits, Snapshot};

/// A boxed error from gix (its error types differ per call).
pub type GixError = Box<dyn std::error::Error + Send + Sync>;

/// Errors of the source stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL scheme is not supported yet.
    #[error("failed to open {url}: only local paths and file:// URLs are supported")]
    UnsupportedUrl {
        /// The repository URL.
        url: String,
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
    #[error("failed to read {path} at commit {commit}")]
    ReadObject {
        /// Path in the tree.
        path: String,
        /// The commit.
        commit: String,
        /// Why.
        #[source]
        source: GixError,
    },
    /// Writing the snapshot failed.
    #[error("failed to write snapshot file {path}")]
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

/// Fetches and snapshots repositories, with a cache directory of its own.
#[derive(Debug, Clone)]
pub struct Source {
    cache_dir: PathBuf,
    limits: Limits,
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
}

impl Source {
    /// A source stage storing snapshots under `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self { cache_dir: cache_dir.into(), limits: Limits::default() }
    }

    /// Replaces the size caps.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Resolves `revision` in `repo_url` (relative paths against `base_dir`)
    /// and materialises the commit's tree; `path` must exist in it.
    pub fn checkout(&self, repo_url: &str, base_dir: &Path, revision: &str, path: &str) -> Result<Checkout> {
        let repo_dir = local_path(repo_url, base_dir)?;
        let repo = gix::open(&repo_dir).map_err(|e| Error::Open { repo: repo_dir.clone(), source: e.into() })?;
        let resolve = |e: GixError| Error::Resolve { revision: revision.to_owned(), repo: repo_dir.clone(), source: e };
        let commit = repo
            .rev_parse_single(revision)
            .map_err(|e| resolve(e.into()))?
            .object()
            .map_err(|e| resolve(e.into()))?
            .peel_to_commit()
            .map_err(|e| resolve(e.into()))?;
        let commit_id = commit.id.to_string();
        let tree = commit.tree().map_err(|e| resolve(e.into()))?;
        let tree_id = tree.id.to_string();
        tracing::debug!(repo = %repo_dir.display(), revision, commit = %commit_id, "resolved revision");
        let (snapshot, skipped) = snapshot::materialise(&self.cache_dir, &tree, &commit_id, &self.limits)?;
        if !snapshot.root().join(path).is_dir() {
            return Err(Error::MissingPath { path: path.to_owned(), commit: commit_id });
        }
        Ok(Checkout { commit: commit_id, tree: tree_id, snapshot, skipped })
    }
}

/// A local directory for `file://` URLs and paths; other schemes are refused.
fn local_path(repo_url: &str, base_dir: &Path) -> Result<PathBuf> {
    let path = match repo_url.strip_prefix("file://") {
        Some(rest) => PathBuf::from(rest),
        None if repo_url.contains("://") || repo_url.starts_with("git@") => {
            return Err(Error::UnsupportedUrl { url: repo_url.to_owned() });
        }
        None => PathBuf::from(repo_url),
    };
    Ok(if path.is_absolute() { path } else { base_dir.join(path) })
}
