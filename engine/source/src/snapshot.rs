//! Materialising a checked tree ([`crate::tree`]): read-only,
//! content-addressed, and never outside itself; and collecting the
//! snapshots no Application uses any more.
//!
//! Every directory, file and link is created by one name relative to an open
//! handle of its parent directory (`mkdirat`, `openat` with `O_CREAT |
//! O_EXCL | O_NOFOLLOW`, `symlinkat`): no path is ever resolved, so nothing
//! is written through a symbolic link, and an entry the file system already
//! holds (two names it takes for one) is an error, never an overwrite.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};
use rustix::fs::{Mode, OFlags};

use crate::tree::{Index, Kind, Leads, Reader, TreeProblem};
use crate::{Error, Result};

/// Caps against repository bombs, all checked from the tree and object
/// headers before anything is inflated or written.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most entries (files, directories, links) in one snapshot.
    pub max_files: usize,
    /// Most bytes of file content in one snapshot.
    pub max_bytes: u64,
    /// Most bytes of one object (a file, a tree, the commit): each is held
    /// in memory whole while it is written.
    pub max_object_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_files: 100_000, max_bytes: 1 << 30, max_object_bytes: 64 << 20 }
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

/// The snapshot layout's version, a directory under `CACHE/snapshots`. It
/// changes whenever the materialiser refuses or writes a tree differently
/// (v2: the hostile-tree checks of issue 18), so a snapshot an older,
/// laxer engine wrote is never reused; [`gc`] removes the old layouts.
const LAYOUT: &str = "v2";

/// Where snapshots of the current layout live.
fn snapshots_dir(cache: &Path) -> PathBuf {
    cache.join("snapshots").join(LAYOUT)
}

/// Writes `tree` under `cache/snapshots/v2/<tree-id>` unless it is already there.
pub(crate) fn materialise(
    cache: &Path,
    repo: &gix::Repository,
    tree: ObjectId,
    commit: &str,
    limits: &Limits,
) -> Result<(Snapshot, Vec<String>)> {
    let snapshots = snapshots_dir(cache);
    let root = snapshots.join(tree.to_string());
    if root.is_dir() {
        return Ok((Snapshot { root }, Vec::new()));
    }
    // Checked whole before the first write: a refused tree writes nothing.
    let index = Reader::new(repo, commit, limits).read(tree)?;
    fs::create_dir_all(&snapshots).map_err(io(&snapshots))?;
    // Write beside the final place, then rename: a crash leaves no half
    // snapshot, and the guard removes the staging copy on every error.
    let name = format!(".staging-{tree}-{}-{:016x}", std::process::id(), fastrand::u64(..));
    let mut staging = Staging::create(snapshots.join(name))?;
    let skipped = {
        let mut writer = Writer { repo, commit, index: &index, staging: &staging.path, skipped: Vec::new() };
        writer.write_dir(&staging.open()?, 0, BStr::new(""))?;
        writer.skipped
    };
    if let Err(source) = fs::rename(&staging.path, &root) {
        // Another process won the race with the same content: keep theirs.
        if !root.is_dir() {
            return Err(Error::Write { path: root, source });
        }
    } else {
        staging.path = PathBuf::new();
    }
    Ok((Snapshot { root }, skipped))
}

/// A staging directory, removed when dropped unless it was renamed into place.
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn create(path: PathBuf) -> Result<Self> {
        fs::create_dir(&path).map_err(io(&path))?;
        Ok(Self { path })
    }

    fn open(&self) -> Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::open(&self.path, flags, Mode::empty())
            .map_err(|e| Error::Write { path: self.path.clone(), source: e.into() })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty()
            && let Err(e) = make_writable_and_remove(&self.path)
        {
            tracing::warn!(path = ?self.path, error = %e, "failed to remove a staging directory");
        }
    }
}

struct Writer<'a> {
    repo: &'a gix::Repository,
    commit: &'a str,
    index: &'a Index,
    staging: &'a Path,
    skipped: Vec<String>,
}

impl<'a> Writer<'a> {
    /// Writes the children of `node` into the open directory `dir`, then
    /// makes it read-only.
    fn write_dir(&mut self, dir: &OwnedFd, node: usize, path: &BStr) -> Result<()> {
        let index: &'a Index = self.index;
        for (name, child) in index.children(node) {
            let rel = join(path, name);
            match &index.nodes[child].kind {
                Kind::Dir(_) => {
                    rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755))
                        .map_err(|e| self.create_error(rel.as_bstr(), e))?;
                    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    let sub = rustix::fs::openat(dir, name, flags, Mode::empty())
                        .map_err(|e| self.write_error(rel.as_bstr(), e))?;
                    self.write_dir(&sub, child, rel.as_bstr())?;
                }
                Kind::File(id) => {
                    let object = self.repo.find_object(*id).map_err(|e| Error::ReadObject {
                        path: rel.clone(),
                        commit: self.commit.to_owned(),
                        source: e.into(),
                    })?;
                    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    let file = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o444))
                        .map_err(|e| self.create_error(rel.as_bstr(), e))?;
                    fs::File::from(file).write_all(&object.data).map_err(|e| self.write_error(rel.as_bstr(), e))?;
                }
                Kind::Link(target) => match target {
                    Some(target) if index.leads(child) == Leads::Inside => {
                        rustix::fs::symlinkat(target.as_slice(), dir, name)
                            .map_err(|e| self.create_error(rel.as_bstr(), e))?;
                    }
                    Some(target) => {
                        self.skipped.push(format!("{rel:?}: symlink to {target:?} leads outside the repository"));
                    }
                    None => self.skipped.push(format!("{rel:?}: symlink target too long")),
                },
                Kind::Submodule => self.skipped.push(format!("{rel:?}: submodule (not fetched)")),
            }
        }
        rustix::fs::fchmod(dir, Mode::from_raw_mode(0o555)).map_err(|e| self.write_error(path, e))
    }

    /// An entry that already exists was made by this tree: on this file
    /// system two of its names are one.
    fn create_error(&self, rel: &BStr, errno: rustix::io::Errno) -> Error {
        if errno == rustix::io::Errno::EXIST {
            return Error::TreeEntry {
                path: rel.to_owned(),
                commit: self.commit.to_owned(),
                problem: TreeProblem::Collision,
            };
        }
        self.write_error(rel, errno)
    }

    fn write_error(&self, rel: &BStr, errno: impl Into<std::io::Error>) -> Error {
        let path = self.staging.join(rel.to_str_lossy().as_ref());
        Error::Write { path, source: errno.into() }
    }
}

fn join(prefix: &BStr, name: &str) -> BString {
    crate::tree::join(prefix, name.into())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Write { path: path.to_owned(), source }
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
    remove_old_layouts(cache)?;
    let snapshots = snapshots_dir(cache);
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

/// Removes what older layouts left in `CACHE/snapshots` (snapshots an
/// older engine wrote directly there, or other layout versions).
fn remove_old_layouts(cache: &Path) -> Result<()> {
    let dir = cache.join("snapshots");
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(Error::Write { path: dir, source }),
    };
    for entry in entries {
        let entry = entry.map_err(io(&dir))?;
        if entry.file_name() != LAYOUT {
            let path = entry.path();
            if entry.file_type().map_err(io(&path))?.is_dir() {
                make_writable_and_remove(&path).map_err(io(&path))?;
            } else {
                fs::remove_file(&path).map_err(io(&path))?;
            }
        }
    }
    Ok(())
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
