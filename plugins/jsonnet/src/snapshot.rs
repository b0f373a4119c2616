//! Paths inside the snapshot: every file the renderer reads (entry files,
//! `import`, `importstr`, `importbin`, `spec.json`) is named by a path
//! relative to the snapshot root and resolved here, component by component,
//! so that neither `..`, an absolute path nor a symbolic link can leave it.
//!
//! In the sandbox the host's preopen already stops such escapes; resolving
//! them here too gives the same answer natively (tests, benchmarks) and a
//! clear error instead of "file not found".

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Symbolic links followed while resolving one path, at most (as Linux's 40).
const MAX_LINKS: usize = 40;

/// A path relative to the snapshot root, normalised: no `.`, `..`, root or
/// empty components. The empty path is the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct RelPath(Vec<String>);

impl RelPath {
    /// `rel` (relative, `/`-separated) from the root; `..` may not climb above it.
    pub fn parse(rel: &str) -> Result<Self> {
        RelPath::default().join(rel)
    }

    /// `rel` joined onto `self` and normalised. Absolute paths and `..` above
    /// the snapshot root are [`Error::Escape`].
    pub fn join(&self, rel: &str) -> Result<Self> {
        let escape = || Error::Escape { path: rel.to_string() };
        let mut parts = self.0.clone();
        for c in Path::new(rel).components() {
            match c {
                Component::Normal(s) => parts.push(s.to_str().ok_or_else(escape)?.to_string()),
                Component::CurDir => {}
                Component::ParentDir => {
                    parts.pop().ok_or_else(escape)?;
                }
                Component::RootDir | Component::Prefix(_) => return Err(escape()),
            }
        }
        Ok(RelPath(parts))
    }

    /// The directory holding this path (the root for a top-level name).
    pub fn parent(&self) -> RelPath {
        let mut parts = self.0.clone();
        parts.pop();
        RelPath(parts)
    }

    /// The last component (empty for the root).
    pub fn name(&self) -> &str {
        self.0.last().map_or("", String::as_str)
    }

    /// `a/b/c`, or `.` for the root.
    pub fn display(&self) -> String {
        if self.0.is_empty() { ".".into() } else { self.0.join("/") }
    }

    /// The path on disk under `root`.
    pub fn on_disk(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        p.extend(&self.0);
        p
    }
}

/// What a confined lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file (links followed).
    File,
    /// A directory (links followed).
    Dir,
}

/// Resolves `path` under `root`, following symbolic links inside the
/// snapshot: `Ok(None)` when nothing is there, [`Error::Escape`] when a link
/// leads out (absolute target, or `..` above the root) or loops.
pub fn resolve(root: &Path, path: &RelPath) -> Result<Option<(RelPath, Kind)>> {
    let shown = path.display();
    let mut done = RelPath::default();
    let mut todo: Vec<String> = path.0.iter().rev().cloned().collect();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        let next = RelPath([done.0.as_slice(), &[part]].concat());
        let meta = match std::fs::symlink_metadata(next.on_disk(root)) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            // "Not a directory" and the like: nothing resolvable there.
            Err(_) if !todo.is_empty() => return Ok(None),
            Err(source) => return Err(Error::Read { path: shown, source }),
        };
        if !meta.file_type().is_symlink() {
            done = next;
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(Error::Escape { path: shown });
        }
        let target =
            std::fs::read_link(next.on_disk(root)).map_err(|source| Error::Read { path: shown.clone(), source })?;
        let target = target.to_str().ok_or_else(|| Error::Escape { path: shown.clone() })?;
        // The link's target replaces it: resolve it from the link's directory.
        let retarget = done.join(target).map_err(|_| Error::Escape { path: shown.clone() })?;
        done = RelPath::default();
        todo.extend(retarget.0.into_iter().rev());
    }
    let meta = std::fs::metadata(done.on_disk(root)).map_err(|source| Error::Read { path: shown, source })?;
    Ok(Some((done, if meta.is_dir() { Kind::Dir } else { Kind::File })))
}

/// Reads the regular file at `path`, confined as [`resolve`] does.
pub fn read(root: &Path, path: &RelPath) -> Result<Vec<u8>> {
    match resolve(root, path)? {
        Some((real, Kind::File)) => {
            std::fs::read(real.on_disk(root)).map_err(|source| Error::Read { path: path.display(), source })
        }
        Some((_, Kind::Dir)) => Err(Error::NotAFile { path: path.display() }),
        None => Err(Error::Missing { path: path.display() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_and_absolute_paths_cannot_leave_the_root() {
        assert_eq!(RelPath::parse("a/./b/../c").unwrap().display(), "a/c");
        assert!(matches!(RelPath::parse("../x"), Err(Error::Escape { .. })));
        assert!(matches!(RelPath::parse("a/../../x"), Err(Error::Escape { .. })));
        assert!(matches!(RelPath::parse("/etc/passwd"), Err(Error::Escape { .. })));
        assert_eq!(RelPath::parse("a").unwrap().join("../b").unwrap().display(), "b");
    }
}
