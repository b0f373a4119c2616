//! `capstan hydrate`: the rendered-manifests pattern. Render an Application
//! and commit the plain manifests, one YAML file per object, to a branch
//! (and directory) of a local repository; the commit message records the
//! source commit and the digest of every plugin that ran, so the branch says
//! exactly what produced it. An unchanged render makes no commit.
//!
//! gix cannot push, so the target is a local repository: the Application's
//! own when its `repoURL` is a path or `file://`, else `--repo`. Pushing the
//! branch is left to the pipeline around it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use capstan_source::hydrate;
use capstan_types::Object;

use crate::{AppFile, Engine, RenderOutput};

/// Where the manifests go: `BRANCH[:PATH]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The branch, without `refs/heads/`.
    pub branch: String,
    /// Directory inside the branch (`""` = the root).
    pub dir: String,
}

impl std::str::FromStr for Destination {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let (branch, dir) = text.split_once(':').unwrap_or((text, ""));
        if branch.is_empty() || branch.starts_with('-') || branch.contains("..") || branch.contains(char::is_whitespace)
        {
            bail!("invalid --to {text:?}: expected BRANCH[:PATH], e.g. env/prod:apps/guestbook");
        }
        Ok(Self { branch: branch.to_owned(), dir: dir.trim_matches('/').to_owned() })
    }
}

/// What a hydration did.
#[derive(Debug)]
pub struct Outcome {
    /// The render that was committed (or found unchanged).
    pub render: RenderOutput,
    /// The new commit, or `None` when the branch already held this render.
    pub commit: Option<String>,
    /// The repository written to.
    pub repo: PathBuf,
}

/// Renders `file` and commits its objects to `to` in `repo` (default: the
/// Application's own local repository).
pub fn run(engine: &Engine, file: &AppFile, to: &Destination, repo: Option<&Path>) -> Result<Outcome> {
    let app = &file.app;
    let repo = match repo {
        Some(repo) => repo.to_owned(),
        None => local_repo(file)?,
    };
    let render = engine.render(file)?;
    if render.rendered.objects.is_empty() {
        bail!("application {}: render produced no objects; refusing to hydrate an empty branch", app.metadata.name);
    }
    let files = manifests(&render.rendered.objects)?;
    let message = message(file, &render);
    let commit = hydrate::commit(&hydrate::Commit {
        repo: &repo,
        branch: &to.branch,
        dir: &to.dir,
        files: &files,
        message: &message,
    })
    .with_context(|| format!("application {}: failed to hydrate {}", app.metadata.name, to.branch))?;
    Ok(Outcome { render, commit, repo })
}

/// The Application's repository when it is on this machine.
fn local_repo(file: &AppFile) -> Result<PathBuf> {
    let url = &file.app.spec.source.repo_url;
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(PathBuf::from(path));
    }
    if capstan_source::is_remote(url) {
        bail!("{url} is not a local repository and gix cannot push: pass --repo with a local clone to commit into");
    }
    Ok(file.base_dir.join(url))
}

/// One `<kind>-<namespace>-<name>.yaml` per object (lower case), sorted by
/// name so that equal renders give equal trees.
pub(crate) fn manifests(objects: &[Object]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    for object in objects {
        let namespace = object.namespace().map(|n| format!("{n}-")).unwrap_or_default();
        let name =
            format!("{}-{namespace}{}.yaml", object.kind(), object.name()).to_lowercase().replace([':', '/'], "_");
        let yaml = crate::yaml::to_string(object.as_value());
        if files.insert(name.clone(), yaml.into_bytes()).is_some() {
            bail!("two rendered objects map to the same file {name}");
        }
    }
    Ok(files)
}

fn message(file: &AppFile, render: &RenderOutput) -> String {
    let source = &file.app.spec.source;
    let commit = &render.checkout.commit;
    let mut text = format!(
        "capstan hydrate: {} at {}\n\nSource-Repo: {}\nSource-Revision: {}\nSource-Commit: {commit}\n",
        file.app.metadata.name,
        capstan_reconcile::short(commit),
        source.repo_url,
        source.revision
    );
    for (plugin, digest) in &render.rendered.plugins {
        text.push_str(&format!("Plugin: {plugin} {digest}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_branch_and_path() {
        let d: Destination = "env/prod:apps/guestbook/".parse().unwrap();
        assert_eq!(d, Destination { branch: "env/prod".into(), dir: "apps/guestbook".into() });
        assert_eq!("hydrated".parse::<Destination>().unwrap().dir, "");
        for bad in ["", ":x", "a..b", "-rf"] {
            assert!(bad.parse::<Destination>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn manifests_are_named_by_kind_namespace_and_name() {
        let object = |text: &str| Object::from_json(text).unwrap();
        let files = manifests(&[
            object(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"ns"}}"#),
            object(r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns"}}"#),
        ])
        .unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["configmap-ns-a.yaml", "namespace-ns.yaml"]);
    }
}
