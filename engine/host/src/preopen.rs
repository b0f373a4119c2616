//! The snapshot preopen, opened when the guest first asks for its
//! directories instead of before every call: transformers, validators and
//! many renderers never touch the filesystem, and opening and closing the
//! directory was an eighth of a trivial call. The guest sees the same thing
//! either way: the snapshot at `/`, read-only, and nothing else.

use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use rustix::fs::OFlags;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, Dir};
use wasmtime_wasi::{FsPerms, OpenMode};

use crate::state::HostState;

/// The interface `wasmtime_wasi::p2::add_to_linker_sync` defines (imports
/// of any 0.2.x resolve to it).
const PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";

/// The one directory a call may read, opened on first use.
#[derive(Default)]
pub(crate) struct Snapshot {
    path: Option<PathBuf>,
    dir: Option<Dir>,
    /// Why opening it failed; the call then fails with a sandbox error.
    pub(crate) error: Option<std::io::Error>,
}

impl Snapshot {
    /// The snapshot at `path`, not opened yet; `None` for no filesystem.
    pub(crate) fn new(path: Option<PathBuf>) -> Self {
        Self { path, ..Self::default() }
    }

    /// The directory, read-only, opened now if it was not yet.
    fn dir(&mut self) -> std::io::Result<Option<Dir>> {
        let Some(path) = &self.path else { return Ok(None) };
        if self.dir.is_none() {
            // What wasmtime-wasi's `preopened_dir` opens: a directory
            // handle (O_PATH) that cap-std resolves every guest path under.
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags((OFlags::DIRECTORY | OFlags::PATH).bits() as i32)
                .open(path)?;
            // Blocking the calling thread is what a plugin call does anyway
            // (calls are synchronous); without it wasmtime-wasi sends every
            // filesystem call to tokio's blocking pool and waits for it, a
            // thread hop per stat, open and read (wasmtime#7973) that
            // dominated charts of many files. This flag covers the root
            // only: what the guest opens below it takes the context's
            // (set in host.rs).
            self.dir = Some(Dir::new(file, FsPerms::ReadOnly, OpenMode::READ, true));
        }
        Ok(self.dir.clone())
    }
}

/// Replaces `get-directories` with one that opens the store's [`Snapshot`]
/// on first use; the rest of the filesystem stays wasmtime-wasi's.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(PREOPENS)?.func_wrap("get-directories", |mut store: StoreContextMut<'_, HostState>, (): ()| {
        let state = store.data_mut();
        let dir = state.snapshot.dir().map_err(|error| {
            let message = format!("failed to open the snapshot directory: {error}");
            state.snapshot.error = Some(error);
            wasmtime::Error::msg(message)
        })?;
        let preopens: Vec<(Resource<Descriptor>, String)> = match dir {
            Some(dir) => vec![(state.table.push(Descriptor::Dir(dir))?, "/".to_owned())],
            None => Vec::new(),
        };
        Ok((preopens,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
