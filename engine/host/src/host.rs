//! [`PluginHost`]: engine (pooling allocator, on-disk compiled cache),
//! linker, the per-digest table of pre-linked plugins, the queue in front of
//! the instance pool, and the sandbox of one call.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::bindings::Renderer;
use crate::cache::CodeCache;
use crate::clock::{self, Deadline};
use crate::compile::{Compiler, DEFAULT_COMPILE_DEADLINE};
use crate::fetch::{Fetcher, digest_hex};
use crate::leash::{MAX_MEMORY_BYTES, MemoryCap, TICK};
use crate::local::LocalPlugins;
use crate::plugin::{Plugin, Pre, World, world_of};
use crate::preopen::{self, Snapshot};
use crate::shape;
use crate::slots::{Slot, Slots};
use crate::state::{HostState, LogBudget};
use crate::{Builtins, Error, Limits, Result};

/// How many plugin instances may be alive at once; further calls wait for a
/// slot. Calls are short and run on a few threads; this bounds reserved
/// address space (slots × memories × 4 GiB plus guards), not real memory.
const INSTANCE_SLOTS: u32 = 64;
/// The most one component instance may hold: a Rust wasip2 component has
/// a few core instances (the program, shims, maybe the WASI adapter), one
/// memory and a few tables. The pool has room for [`INSTANCE_SLOTS`]
/// instances at these maxima, so a call holding a slot gets its instance.
const CORE_INSTANCES: u32 = 16;
const MEMORIES: u32 = 4;
const TABLES: u32 = 8;
/// Bytes of linear memory, and of tables, a freed instance keeps resident
/// (reset in place, only the pages it dirtied where the kernel can scan for
/// them) for the next instance: page faults and `madvise` were half of a
/// trivial call. Bounds the pool's idle RSS at slots used × these.
const MEMORY_KEEP_RESIDENT: usize = 1 << 20;
const TABLE_KEEP_RESIDENT: usize = 1 << 20;

/// How the host is set up.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// Directory of the compiled-component cache (one file per component
    /// digest and engine configuration, wasmtime version included, each
    /// authenticated with the installation's key kept there; created
    /// private); `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// Directories where repository content is written (the source stage's
    /// snapshots and clones): the host refuses to start when the cache
    /// directory is inside one of them or holds one.
    pub repository_dirs: Vec<PathBuf>,
    /// How long compiling one component may take; `None` is
    /// [`DEFAULT_COMPILE_DEADLINE`].
    pub compile_deadline: Option<Duration>,
    /// Where `builtin:` plugins come from.
    pub builtins: Builtins,
    /// Cache of downloaded (`http(s)://`, `oci://`) plugins, stored as
    /// `<dir>/sha256/<hex>` once their digest matched; `None` downloads
    /// every time.
    pub download_cache_dir: Option<PathBuf>,
    /// Where local plugin files may come from: anywhere (the default, for
    /// the CLI), or only beneath the load's base directory and the listed
    /// plugin directories (for the controller).
    pub local_plugins: LocalPlugins,
    /// Told of every call (plugin, world, time, memory, success).
    pub observer: Option<crate::CallObserver>,
}

/// Runs plugins. Create one per process and share it.
pub struct PluginHost {
    pub(crate) engine: Engine,
    linker: Linker<HostState>,
    builtins: Builtins,
    fetcher: Fetcher,
    cache: Option<CodeCache>,
    compiler: Compiler,
    /// Pre-linked plugins by digest.
    loaded: Mutex<HashMap<String, Plugin>>,
    /// Digests of the builtins loaded so far, by name: a builtin's bytes
    /// are hashed once per host, not on every render.
    builtin_digests: Mutex<HashMap<String, String>>,
    slots: Slots,
    pooling: bool,
    /// Plugin calls made, successful or not (see [`PluginHost::calls`]).
    calls: AtomicU64,
    pub(crate) observer: Option<crate::CallObserver>,
}

impl PluginHost {
    /// Creates the engine (pooling allocator when the address space can be
    /// reserved, on-demand otherwise), the linker with WASI p2 and the host
    /// imports, and the epoch ticker thread (which ends with the host). A
    /// cache directory that cannot be used is reported and left out.
    pub fn new(config: HostConfig) -> Result<Self> {
        let (engine, pooling) = match Engine::new(&engine_config(true)) {
            Ok(engine) => (engine, true),
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "failed to reserve the pooling allocator's address space; falling back to on-demand instance allocation (slower calls)"
                );
                (Engine::new(&engine_config(false)).map_err(Error::Engine)?, false)
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(Error::Engine)?;
        clock::add_to_linker(&mut linker).map_err(Error::Engine)?;
        preopen::add_to_linker(&mut linker).map_err(Error::Engine)?;
        // Every world imports exactly the `host` world (`log`), so the
        // renderer's bindings link the imports of all four.
        Renderer::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state).map_err(Error::Engine)?;
        if let Some(cache) = &config.cache_dir {
            check_apart(cache, &config.repository_dirs)?;
        }
        let cache = config.cache_dir.and_then(|dir| {
            CodeCache::open(&dir, &engine)
                .inspect_err(|error| tracing::warn!(error = %error, "compiling plugins without a cache"))
                .ok()
        });
        spawn_ticker(&engine);
        Ok(Self {
            engine,
            linker,
            builtins: config.builtins,
            fetcher: Fetcher::new(config.download_cache_dir, config.local_plugins),
            cache,
            compiler: Compiler::new(config.compile_deadline.unwrap_or(DEFAULT_COMPILE_DEADLINE)),
            loaded: Mutex::default(),
            builtin_digests: Mutex::default(),
            slots: Slots::new(INSTANCE_SLOTS),
            pooling,
            calls: AtomicU64::new(0),
            observer: config.observer,
        })
    }

    /// How many plugin calls (render, transform, validate, assess) this
    /// host has made, successful or not: what a cached render saves.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Counts one call.
    pub(crate) fn count_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether instances come from the pooling allocator.
    pub fn is_pooling(&self) -> bool {
        self.pooling
    }

    /// Loads a plugin by reference: `builtin:NAME` (whose bundled bytes must
    /// match `digest` when one is given), or a path (relative to
    /// `base_dir`), `file://`, `http(s)://` or `oci://` reference whose bytes
    /// must match `digest` before anything compiles (see `fetch.rs`).
    /// Blocks on the network on a download-cache miss.
    /// A plugin already loaded under its pinned digest is served without
    /// reading anything: the digest names its bytes.
    pub fn load(&self, reference: &str, digest: Option<&str>, base_dir: &Path) -> Result<Plugin> {
        let Some(name) = reference.strip_prefix("builtin:") else {
            let expected = digest.ok_or_else(|| Error::DigestRequired { plugin: reference.to_owned() })?;
            let pinned = format!("sha256:{}", digest_hex(reference, expected)?);
            if let Some(plugin) = self.loaded_as(&pinned, reference) {
                return Ok(plugin);
            }
            if let Some(plugin) = self.load_identified(reference, &pinned, base_dir)? {
                return Ok(plugin);
            }
            let fetched = self.fetcher.bytes(reference, expected, base_dir)?;
            let plugin = self.load_digested(reference, &fetched.bytes, pinned)?;
            if let (Some(cache), Some(seen)) = (&self.cache, &fetched.file) {
                cache.record_source(&plugin.digest, seen);
            }
            return Ok(plugin);
        };
        let known = self.builtin_digests.lock().expect("builtin table poisoned").get(name).cloned();
        if let Some(plugin) = known.as_ref().and_then(|digest| self.loaded_as(digest, reference)) {
            check_builtin_digest(reference, digest, &plugin.digest)?;
            return Ok(plugin);
        }
        let bytes = self.builtins.get(name)?;
        let actual =
            known.or_else(|| self.builtins.digest(name).map(str::to_owned)).unwrap_or_else(|| sha256_digest(&bytes));
        // A pinned builtin is checked like any plugin: a `digest:` that is
        // written must mean something, or it reads as a guarantee it is not.
        check_builtin_digest(reference, digest, &actual)?;
        let plugin = self.load_digested(reference, &bytes, actual)?;
        self.builtin_digests.lock().expect("builtin table poisoned").insert(name.to_owned(), plugin.digest.clone());
        Ok(plugin)
    }

    /// Compiles (or takes from the on-disk cache) and pre-links a component;
    /// the result is kept per digest for the life of the host.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<Plugin> {
        self.load_digested(name, bytes, sha256_digest(bytes))
    }

    /// The plugin of `digest` if it is loaded, called `name`.
    fn loaded_as(&self, digest: &str, name: &str) -> Option<Plugin> {
        let loaded = self.loaded.lock().expect("plugin table poisoned");
        loaded.get(digest).map(|plugin| Plugin { name: name.into(), ..plugin.clone() })
    }

    /// [`PluginHost::load_bytes`] for bytes already known to hash to `digest`.
    fn load_digested(&self, name: &str, bytes: &[u8], digest: String) -> Result<Plugin> {
        if let Some(plugin) = self.loaded_as(&digest, name) {
            return Ok(plugin);
        }
        let shape = shape::read(name, bytes)?;
        let world = shape.world(name)?;
        let component = self.component(name, &digest, &shape)?;
        self.link(name, digest, world, &component)
    }

    /// The plugin `reference` without reading its file, when a record of the
    /// code cache names that file's inode as holding the bytes of `pinned`
    /// and the compiled code of `pinned` is cached: a Python component's
    /// ~19 MB are then neither read nor hashed. `None` sends the caller the
    /// slow way (read, hash, compile or take from the cache), which records
    /// the file for the next load.
    fn load_identified(&self, reference: &str, pinned: &str, base_dir: &Path) -> Result<Option<Plugin>> {
        let Some(cache) = &self.cache else { return Ok(None) };
        let Some(metadata) = self.fetcher.identify(reference, pinned, base_dir)? else { return Ok(None) };
        if !cache.is_source(pinned, &metadata) {
            return Ok(None);
        }
        let Some(component) = self.cached(reference, pinned) else { return Ok(None) };
        // The world from the compiled component's exports: the same names
        // `shape::read` takes from the binary.
        let exports: Vec<String> =
            component.component_type().exports(&self.engine).map(|(name, _)| name.to_owned()).collect();
        let world = world_of(reference, &exports)?;
        self.link(reference, pinned.to_owned(), world, &component).map(Some)
    }

    /// Pre-links `component` and keeps it as the plugin of `digest`.
    fn link(&self, name: &str, digest: String, world: World, component: &Component) -> Result<Plugin> {
        let load = |source| Error::Load { plugin: name.to_owned(), source };
        let pre = self.linker.instantiate_pre(component).map_err(load)?;
        let plugin = Plugin { name: name.into(), digest: digest.clone(), pre: Pre::new(world, pre).map_err(load)? };
        self.loaded.lock().expect("plugin table poisoned").insert(digest, plugin.clone());
        Ok(plugin)
    }

    /// The compiled component of `digest` from the disk cache, if an
    /// authentic entry is there; an unusable one is reported, not fatal.
    fn cached(&self, name: &str, digest: &str) -> Option<Component> {
        self.cache.as_ref().and_then(|cache| {
            cache
                .get(&self.engine, digest)
                .inspect_err(|error| tracing::warn!(plugin = name, error = %error, "recompiling the component"))
                .ok()
                .flatten()
        })
    }

    /// The compiled component of `shape`: from the disk cache, or checked
    /// ([`shape::Shape::check_code`]), compiled under the deadline and
    /// written there. A cache file that cannot be used (forged, damaged,
    /// foreign) is reported, never loaded, and replaced; the cache never
    /// makes a load fail.
    fn component(&self, name: &str, digest: &str, shape: &shape::Shape<'_>) -> Result<Component> {
        if let Some(component) = self.cached(name, digest) {
            return Ok(component);
        }
        shape.check_code(name)?;
        let component = self.compiler.compile(&self.engine, name, digest, &shape.binary)?;
        let Some(cache) = &self.cache else { return Ok(component) };
        if let Err(error) = cache.put(digest, &component) {
            tracing::warn!(plugin = name, error = %error, "compiled component not cached");
        }
        Ok(component)
    }

    /// Waits for one of the pool's instance slots; hold it until the
    /// call's store is dropped.
    pub(crate) fn slot(&self) -> Slot<'_> {
        self.slots.acquire()
    }

    /// A fresh store for one call: deny-by-default WASI (no env, no args, no
    /// network, no stdin, stdout/stderr into memory pipes), at most one
    /// read-only preopen (opened on first use), the memory cap and the
    /// deadline (for wasm code and for clock waits).
    pub(crate) fn store(
        &self,
        plugin: &Plugin,
        snapshot: Option<&Path>,
        limits: &Limits,
        pipes: &Pipes,
    ) -> Store<HostState> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(pipes.stdout.clone()).stderr(pipes.stderr.clone());
        // The default address check already refuses every address; turning
        // TCP, UDP and name lookup off (on by default) denies them earlier,
        // at socket creation, and keeps DNS queries from leaking names.
        wasi.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        // Files and directories the guest opens under the snapshot take
        // this flag from the context, not from the preopen (see
        // preopen.rs): without it every stat, read and listing of them
        // hopped to tokio's blocking pool (helm umbrella of 1,000
        // subcharts, 4,000 files, release bench: 1.55 s → 0.76 s).
        wasi.allow_blocking_current_thread(true);
        let state = HostState {
            plugin: plugin.name.clone(),
            wasi: wasi.build(),
            table: handle_table(limits),
            memory: MemoryCap::new(limits.memory_bytes),
            deadline: Deadline { at: Instant::now() + limits.deadline, cut: false },
            snapshot: Snapshot::new(snapshot.map(Path::to_path_buf)),
            log: LogBudget::new(limits),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(limits.deadline_ticks());
        store.epoch_deadline_trap();
        store
    }
}

/// The call's resource table: every open file, directory, stream and
/// pollable of the guest is an entry, so its capacity caps host descriptors.
fn handle_table(limits: &Limits) -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(limits.max_handles);
    table
}

/// The captured stdout and stderr of one call.
pub(crate) struct Pipes {
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

impl Pipes {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self { stdout: MemoryOutputPipe::new(limits.log_bytes), stderr: MemoryOutputPipe::new(limits.log_bytes) }
    }
}

fn engine_config(pooling: bool) -> wasmtime::Config {
    let mut wasm = wasmtime::Config::new();
    wasm.epoch_interruption(true).wasm_component_model(true);
    // No `.eh_frame` for compiled code: it only serves native unwinders
    // walking through wasm frames (wasmtime's own backtraces and its
    // catching of host panics do without), and registering it with the
    // system unwinder made a cached Python component's load (14 modules,
    // ~40 MB of code) 5.8–10.7 ms instead of 3.7 ms (benches/languages.rs).
    wasm.native_unwind_info(false);
    if pooling {
        wasm.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling_config()));
    }
    wasm
}

/// Room for [`INSTANCE_SLOTS`] component instances at the per-component
/// maxima; kustomize-sized programs have large function tables. Freed slots
/// stay warm: the next instance of the same component reuses the slot's
/// memory image, and dirty pages are reset in place rather than unmapped.
fn pooling_config() -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(INSTANCE_SLOTS)
        .max_core_instances_per_component(CORE_INSTANCES)
        .total_core_instances(INSTANCE_SLOTS * CORE_INSTANCES)
        .max_memories_per_component(MEMORIES)
        .total_memories(INSTANCE_SLOTS * MEMORIES)
        .max_tables_per_component(TABLES)
        .total_tables(INSTANCE_SLOTS * TABLES)
        .table_elements(100_000)
        // Fiber stacks serve async calls only; calls here are synchronous.
        // The default 1,000 stacks cost 1,000 `mprotect`s: 4 of the 4.3 ms
        // a new host took.
        .total_stacks(0)
        .max_memory_size(MAX_MEMORY_BYTES)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        // PAGEMAP_SCAN (Linux ≥ 6.7) finds the dirtied pages; elsewhere the
        // first `MEMORY_KEEP_RESIDENT` bytes are reset and the rest released.
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

/// Advances the epoch every [`TICK`] until the engine is dropped.
fn spawn_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("capstan-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .expect("failed to spawn the epoch ticker thread");
}

/// Refuses a cache directory inside a repository directory, or holding one:
/// whatever a repository can write must never be where compiled code is
/// loaded from. Paths are compared resolved (symbolic links followed) as far
/// as they exist.
fn check_apart(cache: &Path, repository_dirs: &[PathBuf]) -> Result<()> {
    let cache_real = resolved(cache);
    for repository in repository_dirs {
        let real = resolved(repository);
        if cache_real.starts_with(&real) || real.starts_with(&cache_real) {
            return Err(Error::CacheOverlap { cache: cache.to_owned(), repository: repository.clone() });
        }
    }
    Ok(())
}

/// `path` with its longest existing prefix resolved, made absolute.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while existing.canonicalize().is_err() {
        let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else { return absolute };
        rest.push(name.to_owned());
        existing = parent;
    }
    let mut real = existing.canonicalize().unwrap_or_else(|_| existing.to_owned());
    real.extend(rest.iter().rev());
    real
}

/// Refuses a builtin whose pinned `digest:` (if any) is not `actual`.
fn check_builtin_digest(reference: &str, pinned: Option<&str>, actual: &str) -> Result<()> {
    let Some(pinned) = pinned else { return Ok(()) };
    if format!("sha256:{}", digest_hex(reference, pinned)?) == actual {
        return Ok(());
    }
    Err(Error::DigestMismatch { plugin: reference.to_owned(), expected: pinned.to_owned(), actual: actual.to_owned() })
}

/// `sha256:<hex>` of some bytes: the `digest:` that pins a plugin.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::cache::SETTLE;

    fn trivial() -> Vec<u8> {
        std::fs::read(Path::new(capstan_test_artifacts::GUEST_DIR).join("capstan_test_trivial.wasm")).unwrap()
    }

    fn host(cache: &Path) -> PluginHost {
        PluginHost::new(HostConfig { cache_dir: Some(cache.to_owned()), ..HostConfig::default() }).unwrap()
    }

    /// A fresh host on `cache` loads `file` pinned to `digest`: `Ok(true)`
    /// when it was served by the file's identity record (not read), `Ok(false)`
    /// when it was read and hashed.
    fn identified(cache: &Path, dir: &Path, file: &str, digest: &str) -> Result<bool> {
        let host = host(cache);
        if host.load_identified(file, digest, dir)?.is_some() {
            return Ok(true);
        }
        host.load(file, Some(digest), dir).map(|_| false)
    }

    /// Writes `bytes` over the existing `path` in place: the same inode.
    fn overwrite(path: &Path, bytes: &[u8]) {
        std::fs::OpenOptions::new().write(true).truncate(true).open(path).unwrap().write_all(bytes).unwrap();
    }

    #[test]
    fn a_settled_plugin_file_is_loaded_by_its_identity_and_a_changed_one_is_read_and_refused() {
        let (cache, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (bytes, file) = (trivial(), dir.path().join("p.wasm"));
        let digest = sha256_digest(&bytes);
        std::fs::write(&file, &bytes).unwrap();
        std::thread::sleep(SETTLE + Duration::from_millis(20));
        // Settled: read first (and recorded), then served by identity.
        assert!(!identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
        assert!(identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
        assert!(identified(cache.path(), dir.path(), "./p.wasm", &digest).unwrap(), "the file, not the spelling");
        // Changed in place, same size: its ctime moved, so it is read, and
        // the pinned digest refuses it.
        let mut changed = bytes.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        overwrite(&file, &changed);
        let error = identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap_err().to_string();
        assert!(error.contains("digest mismatch"), "{error}");
        // The good bytes back: read and checked before they are trusted again.
        overwrite(&file, &bytes);
        assert!(!identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
        // A chmod alone also moves the ctime.
        std::thread::sleep(SETTLE + Duration::from_millis(20));
        assert!(!identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
        assert!(identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
    }

    #[test]
    fn another_file_a_forged_record_or_an_entry_record_does_not_vouch_for_a_plugin_file() {
        let (cache, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (bytes, file) = (trivial(), dir.path().join("p.wasm"));
        let digest = sha256_digest(&bytes);
        std::fs::write(&file, &bytes).unwrap();
        std::thread::sleep(SETTLE + Duration::from_millis(20));
        assert!(!identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
        assert!(identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
        // A file of other bytes renamed over it, same size: another inode,
        // read and refused by the pinned digest.
        let mut other = bytes.clone();
        other[10] ^= 1;
        std::fs::write(dir.path().join("other"), &other).unwrap();
        std::fs::rename(dir.path().join("other"), &file).unwrap();
        std::thread::sleep(SETTLE + Duration::from_millis(20));
        assert!(
            identified(cache.path(), dir.path(), "p.wasm", &digest)
                .unwrap_err()
                .to_string()
                .contains("digest mismatch")
        );
        std::fs::write(dir.path().join("good"), &bytes).unwrap();
        std::fs::rename(dir.path().join("good"), &file).unwrap();
        std::thread::sleep(SETTLE + Duration::from_millis(20));
        assert!(!identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
        assert!(identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
        // A record file without the key's MAC, or the compiled entry's own
        // identity record put in its place, vouches for nothing.
        let hex = digest.strip_prefix("sha256:").unwrap();
        let source_record = cache.path().join(format!("{hex}.source.id"));
        std::fs::write(&source_record, [7; 32]).unwrap();
        assert!(!identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
        let entry_record = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".id") && !p.to_string_lossy().ends_with(".source.id"))
            .expect("the compiled entry was recorded too");
        std::fs::copy(entry_record, &source_record).unwrap();
        assert!(!identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
        // The same bytes in a second file: pinned alike, read once and then
        // recorded in the first one's place.
        std::fs::write(dir.path().join("q.wasm"), &bytes).unwrap();
        std::thread::sleep(SETTLE + Duration::from_millis(20));
        assert!(!identified(cache.path(), dir.path(), "q.wasm", &digest).unwrap());
        assert!(identified(cache.path(), dir.path(), "q.wasm", &digest).unwrap());
        assert!(!identified(cache.path(), dir.path(), "p.wasm", &digest).unwrap());
    }

    #[test]
    fn a_downloaded_plugin_is_known_by_identity_and_a_tampered_download_cache_is_not_trusted() {
        let (cache, downloads, dir) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let bytes = trivial();
        let digest = sha256_digest(&bytes);
        let cached = downloads.path().join("sha256").join(digest.strip_prefix("sha256:").unwrap());
        std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
        std::fs::write(&cached, &bytes).unwrap();
        std::thread::sleep(SETTLE + Duration::from_millis(20));
        let host = || {
            PluginHost::new(HostConfig {
                cache_dir: Some(cache.path().to_owned()),
                download_cache_dir: Some(downloads.path().to_owned()),
                ..HostConfig::default()
            })
            .unwrap()
        };
        // Port 9 on loopback (discard): nothing answers, so a load that
        // would download fails instead.
        let url = "http://127.0.0.1:9/p.wasm";
        let identified = |host: &PluginHost| host.load_identified(url, &digest, dir.path()).unwrap().is_some();
        assert!(!identified(&host()), "not yet recorded");
        host().load(url, Some(&digest), dir.path()).unwrap();
        assert!(identified(&host()));
        // The cached download changed in place: not trusted by identity;
        // re-hashed, found wrong, dropped, and fetched again (which fails).
        let mut changed = bytes.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        overwrite(&cached, &changed);
        assert!(!identified(&host()));
        let error = host().load(url, Some(&digest), dir.path()).err().expect("no download").to_string();
        assert!(error.contains("p.wasm"), "{error}");
        assert!(!cached.exists(), "the tampered copy was dropped");
    }

    #[test]
    fn a_file_outside_the_allowed_directories_is_refused_before_any_record_is_consulted() {
        let (cache, dir, elsewhere) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let bytes = trivial();
        let digest = sha256_digest(&bytes);
        std::fs::write(elsewhere.path().join("p.wasm"), &bytes).unwrap();
        std::thread::sleep(SETTLE + Duration::from_millis(20));
        let outside = elsewhere.path().join("p.wasm").display().to_string();
        // Recorded by a host that may read anywhere.
        assert!(!identified(cache.path(), dir.path(), &outside, &digest).unwrap());
        assert!(identified(cache.path(), dir.path(), &outside, &digest).unwrap());
        let confined = PluginHost::new(HostConfig {
            cache_dir: Some(cache.path().to_owned()),
            local_plugins: LocalPlugins::Confined(vec![]),
            ..HostConfig::default()
        })
        .unwrap();
        let error = confined.load(&outside, Some(&digest), dir.path()).err().expect("refused").to_string();
        assert!(error.contains("outside the directories local plugins may come from"), "{error}");
    }
}
