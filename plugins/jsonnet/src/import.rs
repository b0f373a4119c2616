//! jrsonnet's import resolver for the snapshot: `import`, `importstr` and
//! `importbin` look in the importing file's directory, then along the
//! library path, and never leave the snapshot (no absolute paths, no `..`
//! above its root, no links pointing out; see [`crate::snapshot`]).

use std::path::{Path, PathBuf};

use jrsonnet_evaluator::error::ErrorKind;
use jrsonnet_evaluator::{AsPathLike, ImportResolver, Result as JrResult, SourcePath};
use jrsonnet_gcmodule::Acyclic;
use jrsonnet_ir::{SourceFifo, SourceFile};

use crate::snapshot::{self, Kind, RelPath};

/// Resolves imports inside the snapshot at `root`.
#[derive(Acyclic)]
pub struct SnapshotResolver {
    root: PathBuf,
    /// Where imports of code without a file (TLA and ext-var code) start.
    base: RelPath,
    jpath: Vec<RelPath>,
}

impl SnapshotResolver {
    /// A resolver for the snapshot at `root` (absolute), with code without
    /// a file at `base` and the library path `jpath` (search order).
    pub fn new(root: PathBuf, base: RelPath, jpath: Vec<RelPath>) -> Self {
        SnapshotResolver { root, base, jpath }
    }

    /// The source path jrsonnet knows `rel` by.
    pub fn source(&self, rel: &RelPath) -> SourcePath {
        SourcePath::new(SourceFile::new(rel.on_disk(&self.root)))
    }

    /// The snapshot path of a file this resolver returned.
    fn relative(&self, path: &Path) -> Option<RelPath> {
        let rel = path.strip_prefix(&self.root).ok()?;
        RelPath::parse(rel.to_str()?).ok()
    }

    fn fail(msg: String) -> jrsonnet_evaluator::Error {
        ErrorKind::ImportCallbackError(msg).into()
    }
}

impl ImportResolver for SnapshotResolver {
    fn resolve_from(&self, from: &SourcePath, path: &dyn AsPathLike) -> JrResult<SourcePath> {
        let path = path.as_path();
        let wanted: &Path = path.as_ref();
        let Some(wanted) = wanted.to_str() else {
            return Err(Self::fail(format!("import '{}': not UTF-8", wanted.display())));
        };
        let dir = match from.downcast_ref::<SourceFile>().and_then(|f| self.relative(f.path())) {
            Some(file) => file.parent(),
            None => self.base.clone(),
        };
        let shown_from = from.downcast_ref::<SourceFile>().and_then(|f| self.relative(f.path()));
        let shown_from = shown_from.map_or_else(|| from.to_string(), |f| f.display());
        let escape = || Self::fail(format!("import '{wanted}' from {shown_from}: the path escapes the snapshot"));
        // The importing file's directory, then the library path (without repeating it).
        let mut dirs = vec![&dir];
        dirs.extend(self.jpath.iter().filter(|d| **d != dir));
        for d in &dirs {
            let candidate = d.join(wanted).map_err(|_| escape())?;
            match snapshot::resolve(&self.root, &candidate) {
                Ok(Some((real, Kind::File))) => return Ok(self.source(&real)),
                Ok(Some((_, Kind::Dir))) | Ok(None) => {}
                Err(crate::Error::Escape { .. }) => return Err(escape()),
                Err(e) => {
                    return Err(Self::fail(format!(
                        "import '{wanted}' from {shown_from}: {}",
                        crate::error::chain(&e)
                    )));
                }
            }
        }
        let searched: Vec<String> = dirs.iter().map(|d| format!("{}/", d.display())).collect();
        Err(Self::fail(format!("import '{wanted}' from {shown_from}: not found in {}", searched.join(", "))))
    }

    fn load_file_contents(&self, resolved: &SourcePath) -> JrResult<Vec<u8>> {
        // Code of ext vars and TLAs (`code: true`) arrives as a FIFO source.
        if let Some(code) = resolved.downcast_ref::<SourceFifo>() {
            return Ok(code.1.to_vec());
        }
        let rel = resolved
            .downcast_ref::<SourceFile>()
            .and_then(|f| self.relative(f.path()))
            .ok_or_else(|| Self::fail(format!("{resolved}: not a file of the snapshot")))?;
        snapshot::read(&self.root, &rel).map_err(|e| Self::fail(crate::error::chain(&e)))
    }
}
