//! [`PluginHost`]: engine, linker, compiled-component cache, and calls.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use capstan_types::{Diagnostic, Object};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::bindings::{Renderer, RendererPre, capstan::plugin::types};
use crate::leash::{MemoryCap, TICK};
use crate::state::HostState;
use crate::{Builtins, Error, Limits, PluginErrorKind, Result, WIT_VERSION};

/// How the host is set up.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// Directory of wasmtime's compiled-code cache (keyed by component digest,
    /// engine configuration and wasmtime version); `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// Where `builtin:` plugins come from.
    pub builtins: Builtins,
}

/// Runs plugins. Create one per process and share it.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<HostState>,
    builtins: Builtins,
    loaded: Mutex<HashMap<String, Plugin>>,
}

/// A compiled, pre-linked renderer component, ready to instantiate.
#[derive(Clone)]
pub struct Plugin {
    name: Arc<str>,
    digest: String,
    pre: RendererPre<HostState>,
}

impl Plugin {
    /// The reference it was loaded under (`builtin:yaml`, a path…).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `sha256:<hex>` of the component bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

/// The inputs of one render call.
#[derive(Debug, Clone)]
pub struct RenderCall<'a> {
    /// The read-only snapshot directory, preopened at `/`.
    pub snapshot: &'a Path,
    /// Directory to render, relative to the snapshot root.
    pub path: &'a str,
    /// Application name.
    pub app: &'a str,
    /// Destination namespace.
    pub namespace: Option<&'a str>,
    /// Commit SHA of the snapshot.
    pub revision: &'a str,
    /// The stage's `with:` parameters.
    pub params: &'a serde_json::Value,
}

/// Objects and diagnostics a stage produced.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The objects, in plugin order.
    pub objects: Vec<Object>,
    /// The plugin's diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

impl PluginHost {
    /// Creates the engine, the linker with WASI p2 and the host imports, and
    /// the epoch ticker thread (which ends when the host is dropped).
    pub fn new(config: HostConfig) -> Result<Self> {
        let mut wasm = wasmtime::Config::new();
        wasm.epoch_interruption(true).wasm_component_model(true);
        if let Some(dir) = &config.cache_dir {
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            wasm.cache(Some(wasmtime::Cache::new(cache).map_err(Error::Engine)?));
        }
        let engine = Engine::new(&wasm).map_err(Error::Engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(Error::Engine)?;
        Renderer::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |state| state)
            .map_err(Error::Engine)?;
        spawn_ticker(&engine);
        Ok(Self { engine, linker, builtins: config.builtins, loaded: Mutex::default() })
    }

    /// Loads a plugin by reference: `builtin:NAME`, or a path (relative to
    /// `base_dir`) whose bytes must match `digest` before anything compiles.
    pub fn load(&self, reference: &str, digest: Option<&str>, base_dir: &Path) -> Result<Plugin> {
        let bytes = match reference.strip_prefix("builtin:") {
            Some(name) => self.builtins.get(name)?,
            None => {
                let expected = digest.ok_or_else(|| Error::DigestRequired { plugin: reference.to_owned() })?;
                let path = base_dir.join(reference.strip_prefix("file://").unwrap_or(reference));
                let bytes = std::fs::read(&path).map_err(|source| Error::Read { plugin: reference.to_owned(), source })?;
                let actual = sha256(&bytes);
                if !actual.eq_ignore_ascii_case(expected) {
                    return Err(Error::DigestMismatch { plugin: reference.to_owned(), expected: expected.to_owned(), actual });
                }
                bytes.into()
            }
        };
        self.load_bytes(reference, &bytes)
    }

    /// Compiles (or takes from cache) and pre-links a component.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<Plugin> {
        let digest = sha256(bytes);
        if let Some(plugin) = self.loaded.lock().expect("plugin cache poisoned").get(&digest) {
            return Ok(Plugin { name: name.into(), ..plugin.clone() });
        }
        let load = |source| Error::Load { plugin: name.to_owned(), source };
        let component = Component::new(&self.engine, bytes).map_err(load)?;
        check_exports(name, &component, &self.engine)?;
        let pre = self.linker.instantiate_pre(&component).map_err(load)?;
        let pre = RendererPre::new(pre).map_err(load)?;
        let plugin = Plugin { name: name.into(), digest: digest.clone(), pre };
        self.loaded.lock().expect("plugin cache poisoned").insert(digest, plugin.clone());
        Ok(plugin)
    }

    /// Runs a renderer on a fresh instance under `limits`.
    pub fn render(&self, plugin: &Plugin, call: &RenderCall<'_>, limits: &Limits) -> Result<Rendered> {
        let name = plugin.name.to_string();
        let stdout = MemoryOutputPipe::new(limits.log_bytes);
        let stderr = MemoryOutputPipe::new(limits.log_bytes);
        let mut store = self.store(plugin, call.snapshot, limits, &stdout, &stderr)?;
        let ctx = types::Context {
            app: call.app.to_owned(),
            namespace: call.namespace.map(str::to_owned),
            path: call.path.to_owned(),
            revision: call.revision.to_owned(),
        };
        let params = call.params.to_string();
        let result = plugin
            .pre
            .instantiate(&mut store)
            .and_then(|instance| instance.capstan_plugin_render().call_render(&mut store, &ctx, &params));
        forward_output(&name, "stdout", &stdout);
        forward_output(&name, "stderr", &stderr);
        match result {
            Ok(Ok(output)) => decode_output(&name, output, limits),
            Ok(Err(error)) => Err(plugin_error(&name, error)),
            Err(trap) => Err(classify_trap(&name, trap, &store, limits, &stderr)),
        }
    }

    fn store(
        &self,
        plugin: &Plugin,
        snapshot: &Path,
        limits: &Limits,
        stdout: &MemoryOutputPipe,
        stderr: &MemoryOutputPipe,
    ) -> Result<Store<HostState>> {
        let sandbox = |source| Error::Sandbox { plugin: plugin.name.to_string(), source };
        // Deny by default: no env, no args, no network, no stdin; the
        // snapshot is the one (read-only) directory the guest can see.
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        wasi.preopened_dir(snapshot, "/", FsPerms::ReadOnly).map_err(sandbox)?;
        let state = HostState {
            plugin: plugin.name.clone(),
            wasi: wasi.build(),
            table: ResourceTable::new(),
            memory: MemoryCap { cap: limits.memory_bytes, exceeded: false },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        store.set_epoch_deadline(limits.deadline_ticks());
        store.epoch_deadline_trap();
        Ok(store)
    }
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

/// `sha256:<hex>` of some bytes.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Refuses components built against another major (0.x: minor) WIT version.
fn check_exports(name: &str, component: &Component, engine: &Engine) -> Result<()> {
    let ours = format!("capstan:plugin/render@{WIT_VERSION}");
    let exports: Vec<String> = component.component_type().exports(engine).map(|(n, _)| n.to_owned()).collect();
    let found = exports.iter().find(|e| e.starts_with("capstan:plugin/render@"));
    match found {
        Some(export) if compatible(export, &ours) => Ok(()),
        Some(export) => Err(Error::Incompatible {
            plugin: name.to_owned(),
            reason: format!("built against {export}, but this host implements {ours}; rebuild the plugin against capstan:plugin@{WIT_VERSION}"),
        }),
        None => Err(Error::Incompatible {
            plugin: name.to_owned(),
            reason: format!("not a renderer: it exports [{}], expected {ours}", exports.join(", ")),
        }),
    }
}

/// Same major version, or for 0.x the same minor version (semver rules).
fn compatible(export: &str, ours: &str) -> bool {
    let version = |s: &str| s.rsplit_once('@').map(|(_, v)| v.split('.').map(str::to_owned).collect::<Vec<_>>());
    match (version(export), version(ours)) {
        (Some(a), Some(b)) if a.first() == Some(&"0".to_owned()) => a.get(..2) == b.get(..2),
        (Some(a), Some(b)) => a.first() == b.first(),
        _ => false,
    }
}

fn forward_output(plugin: &str, stream: &str, pipe: &MemoryOutputPipe) {
    let contents = pipe.contents();
    for line in String::from_utf8_lossy(&contents).lines().filter(|l| !l.trim().is_empty()) {
        tracing::info!(target: "capstan::plugin", plugin, stream, "{line}");
    }
}

fn plugin_error(plugin: &str, error: types::Error) -> Error {
    let (kind, message) = match error {
        types::Error::InvalidConfig(m) => (PluginErrorKind::InvalidConfig, m),
        types::Error::InvalidInput(m) => (PluginErrorKind::InvalidInput, m),
        types::Error::Failed(m) => (PluginErrorKind::Failed, m),
    };
    Error::Plugin { plugin: plugin.to_owned(), kind, message }
}

fn classify_trap(
    plugin: &str,
    error: wasmtime::Error,
    store: &Store<HostState>,
    limits: &Limits,
    stderr: &MemoryOutputPipe,
) -> Error {
    let plugin = plugin.to_owned();
    if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        return Error::Deadline { plugin, deadline: limits.deadline };
    }
    if store.data().memory.exceeded {
        return Error::MemoryCap { plugin, cap: limits.memory_bytes };
    }
    let stderr = String::from_utf8_lossy(&stderr.contents()).trim().to_owned();
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
    let mut message = format!("{error:#}");
    if !tail.is_empty() {
        message = format!("{message}; guest stderr: {}", tail.join(" | "));
    }
    Error::Trap { plugin, message }
}

fn decode_output(plugin: &str, output: types::Output, limits: &Limits) -> Result<Rendered> {
    let cap = |reason: String| Error::OutputCap { plugin: plugin.to_owned(), reason };
    if output.items.len() > limits.max_objects {
        return Err(cap(format!("{} objects, over the cap of {}", output.items.len(), limits.max_objects)));
    }
    let bytes: usize = output.items.iter().map(String::len).sum();
    if bytes > limits.output_bytes {
        return Err(cap(format!("{bytes} bytes of objects, over the cap of {}", limits.output_bytes)));
    }
    let objects = output
        .items
        .iter()
        .enumerate()
        .map(|(index, text)| {
            Object::from_json(text).map_err(|e| Error::Garbage { plugin: plugin.to_owned(), index, reason: e.to_string() })
        })
        .collect::<Result<_>>()?;
    let diagnostics = output.results.into_iter().map(crate::pipeline::diagnostic).collect();
    Ok(Rendered { objects, diagnostics })
}

#[cfg(test)]
mod tests {
    use super::compatible;

    #[test]
    fn version_compatibility_follows_semver() {
        assert!(compatible("capstan:plugin/render@0.1.3", "capstan:plugin/render@0.1.0"));
        assert!(!compatible("capstan:plugin/render@0.2.0", "capstan:plugin/render@0.1.0"));
        assert!(compatible("capstan:plugin/render@1.4.0", "capstan:plugin/render@1.0.0"));
        assert!(!compatible("capstan:plugin/render@2.0.0", "capstan:plugin/render@1.0.0"));
    }
}
