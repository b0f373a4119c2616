//! Hydration's Git half: commit a set of rendered files to a branch of a
//! local repository, with gix, without touching any working tree.
//!
//! The files replace everything under the target directory of the branch
//! (files of objects that left the render disappear), the rest of the branch
//! stays. When the resulting tree equals the branch tip's, no commit is
//! made: an unchanged render leaves no trace in the history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gix::bstr::BString;

/// Errors of writing a hydration commit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target repository could not be opened.
    #[error("failed to open repository {repo}")]
    Open {
        /// The repository.
        repo: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A path is absolute, empty or has `..`.
    #[error("failed to hydrate: path {path:?} must be relative, without `..`")]
    BadPath {
        /// The path.
        path: String,
    },
    /// Reading or writing objects or the branch failed.
    #[error("failed to {step} on branch {branch} of {repo}")]
    Git {
        /// What was being done.
        step: &'static str,
        /// The branch.
        branch: String,
        /// The repository.
        repo: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What to commit where.
#[derive(Debug, Clone)]
pub struct Commit<'a> {
    /// The local repository (working tree or bare).
    pub repo: &'a Path,
    /// Branch name, without `refs/heads/`; created if missing.
    pub branch: &'a str,
    /// Directory inside the branch that the files replace (`""` = root).
    pub dir: &'a str,
    /// File paths relative to `dir`, and their content.
    pub files: &'a BTreeMap<String, Vec<u8>>,
    /// The commit message.
    pub message: &'a str,
}

/// Commits `spec.files` under `spec.dir`; returns the new commit's SHA, or
/// `None` when the branch already had exactly this content.
pub fn commit(spec: &Commit<'_>) -> Result<Option<String>, Error> {
    for path in spec.files.keys().map(String::as_str).chain((!spec.dir.is_empty()).then_some(spec.dir)) {
        check_path(path)?;
    }
    let repo = gix::open(spec.repo).map_err(|e| Error::Open { repo: spec.repo.to_owned(), source: e.into() })?;
    let git = |step: &'static str| {
        move |e: Box<dyn std::error::Error + Send + Sync>| Error::Git {
            step,
            branch: spec.branch.to_owned(),
            repo: spec.repo.to_owned(),
            source: e,
        }
    };
    let ref_name = format!("refs/heads/{}", spec.branch);
    let parent = match repo.try_find_reference(ref_name.as_str()).map_err(|e| git("read the branch")(e.into()))? {
        Some(mut reference) => Some(reference.peel_to_commit().map_err(|e| git("read the branch")(e.into()))?),
        None => None,
    };
    let base_tree = match &parent {
        Some(commit) => commit.tree_id().map_err(|e| git("read the branch")(e.into()))?.detach(),
        None => repo.empty_tree().id,
    };
    let mut editor = repo.edit_tree(base_tree).map_err(|e| git("edit the tree")(e.into()))?;
    let dir = spec.dir.trim_matches('/');
    if dir.is_empty() {
        // Replacing the root: start from nothing rather than the old files.
        editor = repo.edit_tree(repo.empty_tree().id).map_err(|e| git("edit the tree")(e.into()))?;
    } else {
        editor.remove(dir).map_err(|e| git("edit the tree")(e.into()))?;
    }
    for (path, content) in spec.files {
        let blob = repo.write_blob(content).map_err(|e| git("write a blob")(e.into()))?;
        let full = if dir.is_empty() { path.clone() } else { format!("{dir}/{path}") };
        editor
            .upsert(full.as_str(), gix::object::tree::EntryKind::Blob, blob.detach())
            .map_err(|e| git("edit the tree")(e.into()))?;
    }
    let tree = editor.write().map_err(|e| git("write the tree")(e.into()))?.detach();
    if tree == base_tree && parent.is_some() {
        return Ok(None);
    }
    let signature = gix::actor::Signature {
        name: BString::from("capstan"),
        email: BString::from("capstan@localhost"),
        time: gix::date::Time::now_local_or_utc(),
    };
    let mut time = gix::date::parse::TimeBuf::default();
    let actor = signature.to_ref(&mut time);
    let parents: Vec<gix::ObjectId> = parent.iter().map(|c| c.id).collect();
    let id = repo
        .commit_as(actor, actor, ref_name.as_str(), spec.message, tree, parents)
        .map_err(|e| git("commit")(e.into()))?;
    Ok(Some(id.to_string()))
}

fn check_path(path: &str) -> Result<(), Error> {
    let p = Path::new(path);
    let ok =
        !path.is_empty() && p.is_relative() && p.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if ok { Ok(()) } else { Err(Error::BadPath { path: path.to_owned() }) }
}
