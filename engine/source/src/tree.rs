//! Reading a commit's tree into memory and checking it before anything is
//! written: names as Git's `verify_path` checks them (with
//! `core.protectNTFS` and `core.protectHFS`), duplicate and unsorted entries
//! as `git fsck` reports them, every object's size read from its header
//! before it is inflated, and where each symbolic link really leads,
//! resolved through the tree's other links rather than read as text.
//!
//! A tree that fails here is refused whole: nothing of it is written.

use std::collections::BTreeMap;

use gix::ObjectId;
use gix::bstr::{BStr, BString, ByteSlice};
use gix::objs::tree::EntryKind;
use gix::validate::path::component;

use crate::{Error, Limits, Result};

/// Deepest directory nesting accepted; deeper trees are refused (a chain of
/// nested trees costs a hostile repository a few bytes per level).
pub const MAX_DEPTH: usize = 256;
/// Longest file name a Linux file system takes (`NAME_MAX`).
const MAX_NAME_BYTES: usize = 255;
/// Longest symlink target the kernel takes (`PATH_MAX`).
const MAX_LINK_TARGET: u64 = 4096;
/// Links followed while resolving one path, as the kernel's `MAXSYMLINKS`.
const MAX_LINK_HOPS: usize = 40;
/// Path components walked while resolving one link, bounding the work a
/// tree of links pointing through each other can cause.
const MAX_LINK_STEPS: usize = 4096;

/// Why a tree entry is refused.
#[derive(Debug, thiserror::Error)]
pub enum TreeProblem {
    /// Two entries of one tree have the same name (`git fsck`: duplicateEntries).
    #[error("is listed twice in its tree")]
    Duplicate,
    /// Entries are out of Git's order (`git fsck`: treeNotSorted).
    #[error("is out of Git's sort order in its tree")]
    Unsorted,
    /// A name Git refuses to check out: empty, `.`, `..`, containing `/`,
    /// or `.git` in any spelling NTFS or HFS+ would take for it.
    #[error("is not a name Git would check out")]
    InvalidName(#[source] component::Error),
    /// Not UTF-8: could not be passed to a plugin without changing it, and
    /// two such names could become one.
    #[error("is not valid UTF-8")]
    NotUtf8,
    /// Longer than a file system takes.
    #[error("is longer than {MAX_NAME_BYTES} bytes")]
    TooLong,
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("is nested deeper than {MAX_DEPTH} directories")]
    TooDeep,
    /// The file system already holds an entry of that name (on a
    /// case-insensitive or normalising file system, two names became one).
    #[error("collides with another entry of its directory on this file system")]
    Collision,
}

/// One entry of the tree, in an arena where index 0 is the root.
#[derive(Debug)]
pub(crate) struct Node {
    pub parent: usize,
    pub kind: Kind,
}

#[derive(Debug)]
pub(crate) enum Kind {
    /// Children by name (names are unique: duplicates are refused).
    Dir(BTreeMap<String, usize>),
    File(ObjectId),
    /// `None` when the target cannot be a link target at all (too long).
    Link(Option<BString>),
    Submodule,
}

/// A whole tree's shape, checked; file contents are read when written.
#[derive(Debug)]
pub(crate) struct Index {
    pub nodes: Vec<Node>,
}

/// Where a link leads, as the kernel would resolve it in the materialised
/// snapshot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Leads {
    Inside,
    /// Above the snapshot's root, absolute, looping or too long to resolve.
    Outside,
}

pub(crate) struct Reader<'a> {
    pub repo: &'a gix::Repository,
    pub commit: &'a str,
    pub limits: &'a Limits,
    entries: usize,
    bytes: u64,
    nodes: Vec<Node>,
}

impl<'a> Reader<'a> {
    pub fn new(repo: &'a gix::Repository, commit: &'a str, limits: &'a Limits) -> Self {
        Self { repo, commit, limits, entries: 0, bytes: 0, nodes: Vec::new() }
    }

    /// Reads and checks the tree `root` and everything below it.
    pub fn read(mut self, root: ObjectId) -> Result<Index> {
        self.nodes.push(Node { parent: 0, kind: Kind::Dir(BTreeMap::new()) });
        self.read_tree(root, 0, BStr::new(""), 0)?;
        Ok(Index { nodes: self.nodes })
    }

    fn read_tree(&mut self, id: ObjectId, node: usize, path: &BStr, depth: usize) -> Result<()> {
        // Owned entries, so the tree's bytes are freed before descending.
        let entries = self.entries_of(id, path)?;
        let mut children = BTreeMap::new();
        let commit = self.commit;
        let mut previous: Option<&(BString, gix::objs::tree::EntryMode, ObjectId)> = None;
        for entry in &entries {
            let (filename, mode, oid) = entry;
            let rel = join(path, filename.as_bstr());
            let refuse = |problem| Err(Error::TreeEntry { path: rel.clone(), commit: commit.to_owned(), problem });
            if let Some((before, before_mode, _)) = previous {
                if before == filename {
                    return refuse(TreeProblem::Duplicate);
                }
                if gix::objs::tree::name_order(before, before_mode.is_tree(), filename, mode.is_tree()).is_gt() {
                    return refuse(TreeProblem::Unsorted);
                }
            }
            previous = Some(entry);
            let link = mode.is_link().then_some(component::Mode::Symlink);
            let options = component::Options { protect_windows: false, protect_hfs: true, protect_ntfs: true };
            if let Err(e) = component(filename.as_bstr(), link, options) {
                return refuse(TreeProblem::InvalidName(e));
            }
            let Ok(name) = std::str::from_utf8(filename) else { return refuse(TreeProblem::NotUtf8) };
            if name.len() > MAX_NAME_BYTES {
                return refuse(TreeProblem::TooLong);
            }
            let kind = match mode.kind() {
                EntryKind::Tree if depth + 1 >= MAX_DEPTH => return refuse(TreeProblem::TooDeep),
                EntryKind::Tree => Kind::Dir(BTreeMap::new()),
                EntryKind::Blob | EntryKind::BlobExecutable => {
                    let size = self.object_size(*oid, rel.as_bstr())?;
                    self.count_bytes(rel.as_bstr(), size)?;
                    Kind::File(*oid)
                }
                EntryKind::Link => Kind::Link(self.link_target(*oid, rel.as_bstr())?),
                EntryKind::Commit => Kind::Submodule,
            };
            let child = self.nodes.len();
            self.nodes.push(Node { parent: node, kind });
            if children.insert(name.to_owned(), child).is_some() {
                // Same name, different kinds: a file and a directory `a`
                // need not be neighbours in Git's order.
                return refuse(TreeProblem::Duplicate);
            }
            if mode.is_tree() {
                self.read_tree(*oid, child, rel.as_bstr(), depth + 1)?;
            }
        }
        self.nodes[node].kind = Kind::Dir(children);
        Ok(())
    }

    /// The entries of the tree `id`, counted against the entry cap as they
    /// are decoded, so that no more than the cap is ever held.
    fn entries_of(
        &mut self,
        id: ObjectId,
        path: &BStr,
    ) -> Result<Vec<(BString, gix::objs::tree::EntryMode, ObjectId)>> {
        self.object_size(id, path)?;
        let object = self.repo.find_object(id).map_err(|e| self.read_error(path, e.into()))?;
        let mut entries = Vec::new();
        for entry in gix::objs::TreeRefIter::from_bytes(&object.data, self.repo.object_hash()) {
            let entry = entry.map_err(|e| self.read_error(path, e.into()))?;
            self.count_entry()?;
            entries.push((entry.filename.to_owned(), entry.mode, entry.oid.to_owned()));
        }
        Ok(entries)
    }

    /// The size of an object from its header, refused over the per-object cap
    /// before a byte of it is inflated.
    fn object_size(&self, id: ObjectId, path: &BStr) -> Result<u64> {
        let header = self.repo.find_header(id).map_err(|e| self.read_error(path, e.into()))?;
        check_object_size(header.size(), self.limits, self.commit, path)?;
        Ok(header.size())
    }

    fn link_target(&mut self, id: ObjectId, path: &BStr) -> Result<Option<BString>> {
        let size = self.object_size(id, path)?;
        if size > MAX_LINK_TARGET {
            return Ok(None);
        }
        self.count_bytes(path, size)?;
        let object = self.repo.find_object(id).map_err(|e| self.read_error(path, e.into()))?;
        Ok(Some(object.data.as_bstr().to_owned()))
    }

    /// Counts one entry (file, directory, link or submodule) against the cap.
    fn count_entry(&mut self) -> Result<()> {
        self.entries += 1;
        if self.entries <= self.limits.max_files {
            return Ok(());
        }
        let what = format!("more than {} files and directories", self.limits.max_files);
        Err(Error::TooLarge { commit: self.commit.to_owned(), what })
    }

    /// Counts the bytes of one file against the cap of the whole tree.
    fn count_bytes(&mut self, path: &BStr, bytes: u64) -> Result<()> {
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes <= self.limits.max_bytes {
            return Ok(());
        }
        let what = format!("more than {} bytes of files (at {path:?})", self.limits.max_bytes);
        Err(Error::TooLarge { commit: self.commit.to_owned(), what })
    }

    fn read_error(&self, path: &BStr, source: crate::GixError) -> Error {
        Error::ReadObject { path: path.to_owned(), commit: self.commit.to_owned(), source }
    }
}

/// Refuses an object larger than [`Limits::max_object_bytes`].
pub(crate) fn check_object_size(size: u64, limits: &Limits, commit: &str, path: &BStr) -> Result<()> {
    if size <= limits.max_object_bytes {
        return Ok(());
    }
    let what = format!("{path:?} is {size} bytes, over the cap of {} bytes for one object", limits.max_object_bytes);
    Err(Error::TooLarge { commit: commit.to_owned(), what })
}

pub(crate) fn join(prefix: &BStr, name: &BStr) -> BString {
    if prefix.is_empty() {
        return name.to_owned();
    }
    let mut path = prefix.to_owned();
    path.push(b'/');
    path.extend_from_slice(name);
    path
}

/// Directories from the root down to (not including) a node; `None` stands
/// for a name the tree does not hold (the kernel would stop there with
/// `ENOENT`; resolution goes on lexically, which can only refuse more).
type Stack = Vec<Option<usize>>;

struct Budget {
    hops: usize,
    steps: usize,
}

impl Index {
    pub fn children(&self, node: usize) -> impl Iterator<Item = (&str, usize)> {
        let children = match &self.nodes[node].kind {
            Kind::Dir(children) => Some(children.iter().map(|(name, &child)| (name.as_str(), child))),
            _ => None,
        };
        children.into_iter().flatten()
    }

    /// Where the link at `node` leads once materialised: resolved through
    /// the directories and links of this tree, never by its text alone
    /// (`dot -> .` then `x -> dot/dot/../..` reads as inside but is not).
    pub fn leads(&self, node: usize) -> Leads {
        let mut stack = Stack::new();
        let mut up = self.nodes[node].parent;
        while up != 0 {
            stack.push(Some(up));
            up = self.nodes[up].parent;
        }
        stack.reverse();
        let mut budget = Budget { hops: 0, steps: 0 };
        match self.follow(node, stack, &mut budget) {
            Some(_) => Leads::Inside,
            None => Leads::Outside,
        }
    }

    /// Resolves the link `node` whose directory is `stack`; `None` when it
    /// leaves the tree (or loops, or is too long to resolve).
    fn follow(&self, node: usize, mut stack: Stack, budget: &mut Budget) -> Option<Stack> {
        budget.hops += 1;
        let Kind::Link(Some(target)) = &self.nodes[node].kind else { return None };
        if budget.hops > MAX_LINK_HOPS || target.starts_with(b"/") {
            return None;
        }
        for part in target.split_str("/") {
            budget.steps += 1;
            if budget.steps > MAX_LINK_STEPS {
                return None;
            }
            match part {
                b"" | b"." => {}
                b".." => {
                    stack.pop()?;
                }
                name => {
                    let dir = stack.last().copied().unwrap_or(Some(0));
                    let child = dir.and_then(|dir| self.child(dir, name));
                    match child.map(|c| (c, &self.nodes[c].kind)) {
                        Some((c, Kind::Link(_))) => stack = self.follow(c, stack, budget)?,
                        Some((c, Kind::Dir(_) | Kind::File(_))) => stack.push(Some(c)),
                        Some((_, Kind::Submodule)) | None => stack.push(None),
                    }
                }
            }
        }
        Some(stack)
    }

    fn child(&self, dir: usize, name: &[u8]) -> Option<usize> {
        let Kind::Dir(children) = &self.nodes[dir].kind else { return None };
        children.get(std::str::from_utf8(name).ok()?).copied()
    }
}
