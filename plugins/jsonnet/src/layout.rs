//! Where a Jsonnet program's files are: its entry files and its library
//! path (`-J`), from the Application's `path` and the stage's parameters.
//!
//! The library path, searched after the importing file's own directory,
//! first match wins:
//! 1. `libs` of the stage (relative to the snapshot root; the last listed first, as `-J`);
//! 2. Tanka's and jsonnet-bundler's layout: the Application's directory,
//!    `lib/` of the project root, `vendor/` of the Application's directory,
//!    `vendor/` of the project root — the project root being the nearest
//!    directory at or above the Application's that holds a `jsonnetfile.json`
//!    (else the Application's directory). Directories that do not exist are
//!    left out.
//!
//! A Tanka environment (`spec.json` beside the entry) is checked against the
//! Application: see [`TankaSpec::check`].

use std::path::Path;

use globset::GlobBuilder;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::snapshot::{self, Kind, RelPath};
use crate::{Entries, Options};

/// At most this many files are looked at when an entry is a glob.
const MAX_GLOB_FILES: usize = 100_000;

/// The files of one render.
#[derive(Debug)]
pub struct Layout {
    /// The Application's directory.
    pub dir: RelPath,
    /// Entry files, in evaluation order.
    pub entries: Vec<RelPath>,
    /// Library directories, in search order.
    pub jpath: Vec<RelPath>,
    /// The Tanka environment's `spec.json`, when there is one.
    pub spec: Option<TankaSpec>,
}

impl Layout {
    /// Finds entries, library path and `spec.json` for `dir` of the snapshot at `root`.
    pub fn discover(root: &Path, dir: &str, opts: &Options) -> Result<Self> {
        let dir = RelPath::parse(dir)?;
        match snapshot::resolve(root, &dir)? {
            Some((_, Kind::Dir)) => {}
            Some((_, Kind::File)) => return Err(Error::NoEntry { msg: format!("path '{}' is a file", dir.display()) }),
            None => return Err(Error::Missing { path: dir.display() }),
        }
        let entries = entries(root, &dir, opts.entry.as_ref())?;
        let mut jpath = Vec::new();
        for lib in opts.libs.iter().rev() {
            let p = RelPath::parse(lib)
                .map_err(|_| Error::Param { field: "libs".into(), msg: format!("'{lib}' escapes the snapshot") })?;
            match snapshot::resolve(root, &p)? {
                Some((_, Kind::Dir)) => jpath.push(p),
                _ => {
                    return Err(Error::Param {
                        field: "libs".into(),
                        msg: format!("'{lib}' is not a directory of the snapshot"),
                    });
                }
            }
        }
        let project = project_root(root, &dir)?;
        for candidate in [dir.clone(), project.join("lib")?, dir.join("vendor")?, project.join("vendor")?] {
            let is_dir = matches!(snapshot::resolve(root, &candidate)?, Some((_, Kind::Dir)));
            if is_dir && !jpath.contains(&candidate) {
                jpath.push(candidate);
            }
        }
        let spec = TankaSpec::read(root, &dir)?;
        Ok(Layout { dir, entries, jpath, spec })
    }
}

/// The nearest directory at or above `dir` with a `jsonnetfile.json`, else `dir`.
fn project_root(root: &Path, dir: &RelPath) -> Result<RelPath> {
    let mut cur = dir.clone();
    loop {
        if matches!(snapshot::resolve(root, &cur.join("jsonnetfile.json")?)?, Some((_, Kind::File))) {
            return Ok(cur);
        }
        if cur == RelPath::default() {
            return Ok(dir.clone());
        }
        cur = cur.parent();
    }
}

fn entries(root: &Path, dir: &RelPath, entry: Option<&Entries>) -> Result<Vec<RelPath>> {
    let patterns: Vec<String> = match entry {
        None => vec!["main.jsonnet".into()],
        Some(Entries::One(p)) => vec![p.clone()],
        Some(Entries::Many(ps)) if ps.is_empty() => {
            return Err(Error::Param { field: "entry".into(), msg: "an empty list".into() });
        }
        Some(Entries::Many(ps)) => ps.clone(),
    };
    let mut out = Vec::new();
    for p in &patterns {
        let escape = |_| Error::Param { field: "entry".into(), msg: format!("'{p}' escapes the snapshot") };
        if !p.contains(['*', '?', '[', '{']) {
            let path = dir.join(p).map_err(escape)?;
            match snapshot::resolve(root, &path)? {
                Some((_, Kind::File)) => out.push(path),
                Some((_, Kind::Dir)) => {
                    return Err(Error::NoEntry { msg: format!("'{}' is a directory", path.display()) });
                }
                None => return Err(Error::NoEntry { msg: format!("'{}' does not exist", path.display()) }),
            }
            continue;
        }
        let glob = GlobBuilder::new(p)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::Param { field: "entry".into(), msg: e.to_string() })?
            .compile_matcher();
        let mut files = Vec::new();
        walk(root, dir, &RelPath::default(), &mut files)?;
        let before = out.len();
        out.extend(files.into_iter().filter(|f| glob.is_match(f.display())).map(|f| join_rel(dir, &f)));
        if out.len() == before {
            return Err(Error::NoEntry { msg: format!("no file under '{}' matches '{p}'", dir.display()) });
        }
    }
    Ok(out)
}

fn join_rel(dir: &RelPath, rel: &RelPath) -> RelPath {
    dir.join(&rel.display()).unwrap_or_else(|_| unreachable!("a path found under dir stays under it"))
}

/// Every regular file under `dir` (relative to it, sorted), not following links.
fn walk(root: &Path, dir: &RelPath, prefix: &RelPath, out: &mut Vec<RelPath>) -> Result<()> {
    let here = join_rel(dir, prefix);
    let shown = here.display();
    let entries =
        std::fs::read_dir(here.on_disk(root)).map_err(|source| Error::Read { path: shown.clone(), source })?;
    let mut names: Vec<_> = entries.filter_map(|e| e.ok()).collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
        let rel = prefix.join(&name)?;
        let ft = e.file_type().map_err(|source| Error::Read { path: shown.clone(), source })?;
        if ft.is_dir() {
            walk(root, dir, &rel, out)?;
        } else if ft.is_file() {
            if out.len() >= MAX_GLOB_FILES {
                return Err(Error::NoEntry {
                    msg: format!("more than {MAX_GLOB_FILES} files under '{}'", dir.display()),
                });
            }
            out.push(rel);
        }
    }
    Ok(())
}

/// A Tanka environment's `spec.json` (`tanka.dev/v1alpha1`, `Environment`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TankaSpec {
    /// Where it was read.
    #[serde(skip)]
    pub path: String,
    /// Must be `tanka.dev/v1alpha1`.
    pub api_version: String,
    /// Must be `Environment`.
    pub kind: String,
    /// `spec` (only `namespace` matters to Capstan).
    #[serde(default)]
    pub spec: TankaEnvSpec,
}

/// The part of a Tanka environment's `spec` Capstan reads.
#[derive(Debug, Default, Deserialize)]
pub struct TankaEnvSpec {
    /// Default namespace of the environment's objects.
    #[serde(default)]
    pub namespace: Option<String>,
}

impl TankaSpec {
    /// `dir/spec.json`, when there is one.
    pub fn read(root: &Path, dir: &RelPath) -> Result<Option<Self>> {
        let path = dir.join("spec.json")?;
        if !matches!(snapshot::resolve(root, &path)?, Some((_, Kind::File))) {
            return Ok(None);
        }
        let shown = path.display();
        let data = snapshot::read(root, &path)?;
        let mut spec: TankaSpec =
            serde_json::from_slice(&data).map_err(|e| Error::Spec { path: shown.clone(), msg: e.to_string() })?;
        spec.path = shown;
        if spec.api_version != "tanka.dev/v1alpha1" || spec.kind != "Environment" {
            return Err(Error::Spec {
                path: spec.path,
                msg: format!(
                    "expected apiVersion tanka.dev/v1alpha1, kind Environment; got {} {}",
                    spec.api_version, spec.kind
                ),
            });
        }
        Ok(Some(spec))
    }

    /// Tanka puts objects without a namespace into `spec.namespace`; Capstan
    /// puts them into the Application's destination, so the two must agree.
    pub fn check(&self, destination: Option<&str>) -> Result<()> {
        match (self.spec.namespace.as_deref(), destination) {
            (Some(ns), Some(dest)) if ns != dest => Err(Error::Spec {
                path: self.path.clone(),
                msg: format!(
                    "spec.namespace is '{ns}' but the Application's destination namespace is '{dest}'; make them equal"
                ),
            }),
            (Some(ns), None) => Err(Error::Spec {
                path: self.path.clone(),
                msg: format!("spec.namespace is '{ns}': set the Application's spec.destination.namespace to '{ns}'"),
            }),
            _ => Ok(()),
        }
    }
}
