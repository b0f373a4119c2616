//! Materialising a tree: read-only, content-addressed, never outside itself;
//! and collecting the snapshots no Application uses any more.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use gix::object::tree::EntryKind;

use crate::{Error, Result};

/// Caps against repository bombs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most files in one snapshot.
    pub max_files: usize,
    /// Most bytes of file content in one snapshot.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_files: 100_000, max_bytes: 1 << 30 }
    }
}

/// A read-only directory holding a tree; its path ends in the tree SHA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    root: PathBuf,
}

impl Snapshot {
    /// The directory to preopen for plugins.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

struct Writer<'a> {
    commit: &'a str,
    limits: &'a Limits,
    files: usize,
    bytes: u64,
    skipped: Vec<String>,
}

/// Writes `tree` under `cache/snapshots/<tree-id>` unless it is already there.
pub(crate) fn materialise(
    cache: &Path,
    tree: &gix::Tree<'_>,
    commit: &str,
    limits: &Limits,
) -> Result<(Snapshot, Vec<String>)> {
    let snapshots = cache.join("snapshots");
    let root = snapshots.join(tree.id.to_string());
    if root.is_dir() {
        return Ok((Snapshot { root }, Vec::new()));
    }
    // Write beside the final place, then rename: a crash leaves no half snapshot.
    let staging = snapshots.join(format!(".staging-{}-{}", tree.id, std::process::id()));
    let _ = make_writable_and_remove(&staging);
    create_dir(&staging)?;
    let mut writer = Writer { commit, limits, files: 0, bytes: 0, skipped: Vec::new() };
    writer.write_tree(tree, &staging, "")?;
    seal(&staging)?;
    if let Err(source) = fs::rename(&staging, &root) {
        // Another process won the race with the same content: keep theirs.
        let _ = make_writable_and_remove(&staging);
        if !root.is_dir() {
            return Err(Error::Write { path: root, source });
        }
    }
    Ok((Snapshot { root }, writer.skipped))
}

impl Writer<'_> {
    fn write_tree(&mut self, tree: &gix::Tree<'_>, dir: &Path, prefix: &str) -> Result<()> {
        for entry in tree.iter() {
            let entry = entry.map_err(|e| self.read_error(prefix, e.into()))?;
            let name = entry.filename().to_string();
            let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            if name.contains('/') || name == ".." || name == "." {
                self.skipped.push(format!("{rel}: invalid file name"));
                continue;
            }
            let path = dir.join(&name);
            match entry.kind() {
                EntryKind::Tree => {
                    let subtree = entry.object().map_err(|e| self.read_error(&rel, e.into()))?.into_tree();
                    create_dir(&path)?;
                    self.write_tree(&subtree, &path, &rel)?;
                }
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    let blob = entry.object().map_err(|e| self.read_error(&rel, e.into()))?;
                    self.count(blob.data.len() as u64)?;
                    fs::write(&path, &blob.data).map_err(|source| Error::Write { path: path.clone(), source })?;
                }
                EntryKind::Link => {
                    let blob = entry.object().map_err(|e| self.read_error(&rel, e.into()))?;
                    let target = String::from_utf8_lossy(&blob.data).into_owned();
                    if stays_inside(&rel, &target) {
                        std::os::unix::fs::symlink(&target, &path)
                            .map_err(|source| Error::Write { path: path.clone(), source })?;
                    } else {
                        self.skipped.push(format!("{rel}: symlink to {target:?} leads outside the repository"));
                    }
                }
                EntryKind::Commit => self.skipped.push(format!("{rel}: submodule (not fetched)")),
            }
        }
        Ok(())
    }

    fn count(&mut self, bytes: u64) -> Result<()> {
        self.files += 1;
        self.bytes += bytes;
        let over = if self.files > self.limits.max_files {
            Some(format!("more than {} files", self.limits.max_files))
        } else if self.bytes > self.limits.max_bytes {
            Some(format!("more than {} bytes", self.limits.max_bytes))
        } else {
            None
        };
        over.map_or(Ok(()), |what| Err(Error::TooLarge { commit: self.commit.to_owned(), what }))
    }

    fn read_error(&self, path: &str, source: crate::GixError) -> Error {
        Error::ReadObject { path: path.to_owned(), commit: self.commit.to_owned(), source }
    }
}

/// Whether a symlink at `link` (relative path) pointing to `target` resolves inside the tree.
fn stays_inside(link: &str, target: &str) -> bool {
    let target = Path::new(target);
    if target.is_absolute() {
        return false;
    }
    let mut depth: usize = link.matches('/').count();
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

fn create_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|source| Error::Write { path: path.to_owned(), source })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Write { path: path.to_owned(), source }
}

/// Makes every file and directory read-only, deepest first.
fn seal(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(io(&path))?;
        if file_type.is_dir() {
            seal(&path)?;
        } else if file_type.is_file() {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).map_err(io(&path))?;
        }
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).map_err(io(dir))
}

/// What [`crate::Source::gc`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Tree SHAs of the snapshots removed.
    pub removed: Vec<String>,
    /// Snapshots kept because they are in use.
    pub kept: usize,
}

/// Removes snapshots (and stale staging directories) not in `in_use`.
///
/// A snapshot being read while it is removed would fail that render; the
/// caller passes every tree any Application currently renders, so only
/// snapshots of superseded commits go.
pub(crate) fn gc(cache: &Path, in_use: &HashSet<&str>) -> Result<GcReport> {
    let snapshots = cache.join("snapshots");
    let mut report = GcReport::default();
    let entries = match fs::read_dir(&snapshots) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(source) => return Err(Error::Write { path: snapshots, source }),
    };
    for entry in entries {
        let entry = entry.map_err(io(&snapshots))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if in_use.contains(name.as_str()) {
            report.kept += 1;
            continue;
        }
        let path = entry.path();
        let staging = name.starts_with(".staging-");
        if staging && !abandoned(&path) {
            continue;
        }
        make_writable_and_remove(&path).map_err(io(&path))?;
        if !staging {
            report.removed.push(name);
        }
    }
    report.removed.sort();
    Ok(report)
}

/// A staging directory untouched for an hour was left by a crash; a younger
/// one may be a snapshot another process is writing right now.
fn abandoned(path: &Path) -> bool {
    let age = fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    age.is_some_and(|age| age > std::time::Duration::from_secs(3600))
}

fn make_writable_and_remove(dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)?.flatten() {
        if entry.file_type()?.is_dir() {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o755))?;
            make_writable_and_remove(&entry.path())?;
        }
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    fs::remove_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::stays_inside;

    #[test]
    fn symlink_targets_are_checked_lexically() {
        assert!(stays_inside("a/link", "../b/file"));
        assert!(stays_inside("link", "./b"));
        assert!(!stays_inside("link", "../outside"));
        assert!(!stays_inside("a/link", "../../etc/passwd"));
        assert!(!stays_inside("link", "/etc/passwd"));
    }
}
