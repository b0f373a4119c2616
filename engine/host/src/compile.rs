//! [`Compiler`]: Cranelift compilation under a deadline.
//!
//! wasmtime cannot interrupt a compilation, so each runs on a worker thread
//! of its own and the caller waits at most the deadline. A compilation
//! still running then is abandoned: its result is thrown away when it ends,
//! the component's digest is refused for the rest of the host's life (the
//! next reconcile must not start it again), and while [`MAX_ABANDONED`]
//! abandoned compilations still run, no new one starts, so a stream of
//! distinct bombs cannot pile up threads.
//!
//! Why a thread and not a child process: the host is a library, embedded in
//! the CLI, the controller and test binaries, and has no executable of its
//! own to start; a fork of a multi-threaded process may not allocate. The
//! memory a compilation takes is bounded instead by what reaches it:
//! [`crate::shape`] refuses components over [`crate::shape::MAX_COMPONENT_BYTES`]
//! and functions past their size, local and nesting caps before compiling,
//! and Cranelift's memory grows with the largest function (it compiles one
//! function per worker) and the total code size, both capped there. The
//! hostile-plugin tests measure the peak.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::{Error, Result};

/// How long a compilation may take unless the host is configured otherwise:
/// the bundled kustomize, the largest real plugin, takes about a second.
pub const DEFAULT_COMPILE_DEADLINE: Duration = Duration::from_secs(60);

/// How many abandoned compilations may still run before new ones are refused.
pub const MAX_ABANDONED: usize = 2;

/// States of one compilation, shared with its thread.
const RUNNING: u8 = 0;
const DONE: u8 = 1;
const ABANDONED: u8 = 2;

/// Compiles components, each within the deadline.
pub(crate) struct Compiler {
    deadline: Duration,
    /// Abandoned compilations still running.
    abandoned: Arc<AtomicUsize>,
    /// Digests whose compilation ran past the deadline.
    refused: Mutex<HashSet<String>>,
}

impl Compiler {
    pub(crate) fn new(deadline: Duration) -> Self {
        Self { deadline, abandoned: Arc::default(), refused: Mutex::default() }
    }

    /// Compiles `binary` (component `digest`, called `name`) on a worker
    /// thread, waiting at most the deadline.
    pub(crate) fn compile(&self, engine: &Engine, name: &str, digest: &str, binary: &[u8]) -> Result<Component> {
        let refuse = |reason: String| Error::Compile { plugin: name.to_owned(), reason };
        if self.refused.lock().expect("compiler table poisoned").contains(digest) {
            return Err(refuse(format!(
                "its compilation ran past the deadline of {:?} before; refused until the host restarts",
                self.deadline
            )));
        }
        let running = self.abandoned.load(Ordering::SeqCst);
        if running >= MAX_ABANDONED {
            return Err(refuse(format!(
                "{running} compilations that ran past their deadline are still running; try again later"
            )));
        }
        let (sender, receiver) = mpsc::channel();
        let state = Arc::new(AtomicU8::new(RUNNING));
        let (engine, bytes, thread_state, abandoned) =
            (engine.clone(), binary.to_vec(), state.clone(), self.abandoned.clone());
        std::thread::Builder::new()
            .name("capstan-compile".into())
            .spawn(move || {
                let result = Component::from_binary(&engine, &bytes);
                drop(bytes);
                if thread_state.swap(DONE, Ordering::SeqCst) == ABANDONED {
                    abandoned.fetch_sub(1, Ordering::SeqCst);
                }
                // The receiver is gone when the call was abandoned.
                let _ = sender.send(result);
            })
            .map_err(|e| refuse(format!("failed to start a compiler thread: {e}")))?;
        let result = match receiver.recv_timeout(self.deadline) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout)
                if state.compare_exchange(RUNNING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst).is_ok() =>
            {
                self.abandoned.fetch_add(1, Ordering::SeqCst);
                self.refused.lock().expect("compiler table poisoned").insert(digest.to_owned());
                tracing::warn!(plugin = name, digest, deadline = ?self.deadline, "abandoned a compilation that ran past its deadline");
                return Err(refuse(format!("compilation ran past the deadline of {:?}; refused", self.deadline)));
            }
            // It finished just as the deadline passed: its result is on the way.
            Err(RecvTimeoutError::Timeout) => receiver.recv().map_err(|_| refuse("the compiler thread died".into()))?,
            Err(RecvTimeoutError::Disconnected) => return Err(refuse("the compiler thread died".into())),
        };
        result.map_err(|source| Error::Load { plugin: name.to_owned(), source })
    }
}
