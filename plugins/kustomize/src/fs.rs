//! The snapshot as a small filesystem trait, and path normalisation that
//! never leaves the root.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Read-only access to the snapshot. Paths are relative to its root and
/// already normalised by [`join`].
pub trait Fs {
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &Path) -> bool;
}

/// A directory of the host filesystem (the preopened `/` in the sandbox).
#[derive(Debug, Clone)]
pub struct DirFs {
    root: PathBuf,
}

impl DirFs {
    /// Serves files under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn full(&self, path: &Path) -> io::Result<PathBuf> {
        let full = self.root.join(path);
        // Symlinks could point outside the root: resolve and check.
        #[cfg(not(target_arch = "wasm32"))]
        if let (Ok(real), Ok(root)) = (full.canonicalize(), self.root.canonicalize())
            && !real.starts_with(&root)
        {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "symlink leaves the snapshot"));
        }
        Ok(full)
    }
}

impl Fs for DirFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(self.full(path)?)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.full(path).is_ok_and(|p| p.is_dir())
    }
    fn is_file(&self, path: &Path) -> bool {
        self.full(path).is_ok_and(|p| p.is_file())
    }
}

/// A path would leave the snapshot root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escapes;

/// Joins `rel` onto `base` (both relative to the root) lexically; fails when
/// the result would leave the root. An absolute `rel` counts from the root.
pub fn join(base: &Path, rel: &str) -> Result<PathBuf, Escapes> {
    let mut out: Vec<String> = Vec::new();
    let rel_path = Path::new(rel);
    if !rel_path.is_absolute() {
        for c in base.components() {
            match c {
                Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    out.pop().ok_or(Escapes)?;
                }
                _ => {}
            }
        }
    }
    for c in rel_path.components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop().ok_or(Escapes)?;
            }
            _ => {}
        }
    }
    Ok(out.iter().collect())
}

/// Displays a root-relative path ("." for the root).
pub fn show(p: &Path) -> String {
    if p.as_os_str().is_empty() { ".".into() } else { p.display().to_string() }
}
