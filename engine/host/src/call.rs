//! Calls into plugins, one per world: each on a fresh instance from the
//! plugin's `InstancePre`, under the [`Limits`] of the call; traps are
//! classified (deadline, memory cap, handle cap, trap) and outputs checked (caps, JSON
//! objects) before anything reaches the engine.

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use capstan_types::text::escape_untrusted;
use capstan_types::{Diagnostic, Object};
use wasmtime::Store;
use wasmtime::component::ResourceTableError;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::bindings::{assess, types};
use crate::host::Pipes;
use crate::output;
use crate::plugin::{Plugin, Pre, World};
use crate::state::HostState;
use crate::{Error, Limits, PluginErrorKind, PluginHost, Result};

/// Where a call runs: the inputs every render, transform and validate call share.
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

impl RenderCall<'_> {
    fn context(&self) -> types::Context {
        types::Context {
            app: self.app.to_owned(),
            namespace: self.namespace.map(str::to_owned),
            path: self.path.to_owned(),
            revision: self.revision.to_owned(),
        }
    }

    /// `with:` as JSON text; an absent block is `{}`.
    fn params_json(&self) -> String {
        params_json(self.params)
    }
}

/// Objects and diagnostics a stage produced.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The objects, in plugin order.
    pub objects: Vec<Object>,
    /// The plugin's diagnostics.
    pub diagnostics: Vec<Diagnostic>,
    /// Reference and `sha256:` digest of each plugin a pipeline ran, in
    /// order (empty for a single call): what the output came from.
    pub plugins: Vec<(String, String)>,
    /// Every finding of the pipeline's policies (platform ones first),
    /// whatever their enforcement.
    pub verdicts: Vec<crate::pipeline::Verdict>,
}

/// Health of one live object, as a health plugin assessed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Fully available.
    Healthy,
    /// Not there yet, but on its way.
    Progressing,
    /// Failed, or failing.
    Degraded,
    /// Does not exist.
    Missing,
    /// The plugin cannot tell.
    Unknown,
}

/// What a health plugin said about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The verdict.
    pub health: Health,
    /// Why, for people.
    pub message: String,
}

/// What one call cost: wall time from taking a pool slot to the guest's
/// return (instantiation included, the output's decoding not), and the
/// linear memory its instance held at the end, which is the most it held
/// (memories never shrink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallStats {
    /// Wall time of the call.
    pub elapsed: Duration,
    /// Bytes of linear memory the instance held.
    pub memory_bytes: usize,
}

/// One finished plugin call, as a [`CallObserver`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct CallRecord<'a> {
    /// The plugin's name (its reference).
    pub plugin: &'a str,
    /// The world it was called in.
    pub world: crate::World,
    /// What the call cost.
    pub stats: CallStats,
    /// Whether it succeeded (a trap, a limit, a guest error or a sandbox
    /// violation is a failure).
    pub ok: bool,
}

/// Told of every plugin call the host makes (the controller's metrics);
/// it runs on the calling thread, so it must be quick.
#[derive(Clone)]
pub struct CallObserver(pub std::sync::Arc<dyn Fn(&CallRecord<'_>) + Send + Sync>);

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallObserver")
    }
}

thread_local! {
    static LAST_CALL: Cell<Option<CallStats>> = const { Cell::new(None) };
}

/// The figures of the last plugin call made on this thread (a call runs on
/// its caller's thread), whether it succeeded or not; `None` before the
/// first. `capstan plugin test` and `trace` print them.
pub fn last_call_stats() -> Option<CallStats> {
    LAST_CALL.with(Cell::get)
}

impl PluginHost {
    /// Runs a renderer; the snapshot is its one (read-only) directory.
    pub fn render(&self, plugin: &Plugin, call: &RenderCall<'_>, limits: &Limits) -> Result<Rendered> {
        let Pre::Renderer(pre) = &plugin.pre else { return Err(plugin.wrong_world(World::Renderer)) };
        let (ctx, params) = (call.context(), call.params_json());
        let output = self.call(plugin, Some(call.snapshot), limits, |store| {
            pre.instantiate(&mut *store)?.capstan_plugin_render().call_render(store, &ctx, &params)
        })?;
        output::decode(&plugin.name, output, limits)
    }

    /// Runs a transformer over `items`; the snapshot is readable as for a renderer.
    pub fn transform(
        &self,
        plugin: &Plugin,
        call: &RenderCall<'_>,
        items: &[Object],
        limits: &Limits,
    ) -> Result<Rendered> {
        let Pre::Transformer(pre) = &plugin.pre else { return Err(plugin.wrong_world(World::Transformer)) };
        let (ctx, params, items) = (call.context(), call.params_json(), encode(items));
        let output = self.call(plugin, Some(call.snapshot), limits, |store| {
            pre.instantiate(&mut *store)?.capstan_plugin_transform().call_transform(store, &ctx, &items, &params)
        })?;
        output::decode(&plugin.name, output, limits)
    }

    /// Runs a validator over `items`; returns its diagnostics.
    pub fn validate(
        &self,
        plugin: &Plugin,
        call: &RenderCall<'_>,
        items: &[Object],
        limits: &Limits,
    ) -> Result<Vec<Diagnostic>> {
        let Pre::Validator(pre) = &plugin.pre else { return Err(plugin.wrong_world(World::Validator)) };
        let (ctx, params, items) = (call.context(), call.params_json(), encode(items));
        let results = self.call(plugin, Some(call.snapshot), limits, |store| {
            pre.instantiate(&mut *store)?.capstan_plugin_validate().call_validate(store, &ctx, &items, &params)
        })?;
        output::check_count(&plugin.name, "diagnostics", results.len(), limits)?;
        Ok(results.into_iter().map(output::diagnostic).collect())
    }

    /// Asks a health plugin about one live object. It sees no filesystem.
    pub fn assess(
        &self,
        plugin: &Plugin,
        object: &Object,
        params: &serde_json::Value,
        limits: &Limits,
    ) -> Result<Assessment> {
        let Pre::Health(pre) = &plugin.pre else { return Err(plugin.wrong_world(World::Health)) };
        let (item, params) = (object.as_value().to_string(), params_json(params));
        let status = self.call(plugin, None, limits, |store| {
            pre.instantiate(&mut *store)?.capstan_plugin_assess().call_assess(store, &item, &params)
        })?;
        if status.message.len() > limits.output_bytes {
            return Err(Error::OutputCap {
                plugin: plugin.name.to_string(),
                reason: format!(
                    "a {}-byte health message, over the cap of {}",
                    status.message.len(),
                    limits.output_bytes
                ),
            });
        }
        Ok(Assessment { health: health(status.health), message: escape_untrusted(&status.message).into_owned() })
    }

    /// One call on a fresh store; guest output goes to the log either way.
    fn call<T>(
        &self,
        plugin: &Plugin,
        snapshot: Option<&Path>,
        limits: &Limits,
        run: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<Result<T, types::Error>>,
    ) -> Result<T> {
        // Declared first, dropped last: the slot outlives the store's instance.
        let _slot = self.slot();
        self.count_call();
        let started = Instant::now();
        let pipes = Pipes::new(limits);
        let mut store = self.store(plugin, snapshot, limits, &pipes);
        let result = run(&mut store);
        let stats = CallStats { elapsed: started.elapsed(), memory_bytes: store.data().memory.granted };
        LAST_CALL.with(|last| last.set(Some(stats)));
        tracing::debug!(
            plugin = &*plugin.name,
            elapsed_us = stats.elapsed.as_micros() as u64,
            memory_bytes = stats.memory_bytes,
            "call finished"
        );
        forward_output(&plugin.name, "stdout", &pipes.stdout, limits);
        forward_output(&plugin.name, "stderr", &pipes.stderr, limits);
        let outcome = if let Some(source) = store.data_mut().snapshot.error.take() {
            Err(Error::Sandbox { plugin: plugin.name.to_string(), source: source.into() })
        } else if store.data().deadline.overslept() {
            Err(Error::Deadline { plugin: plugin.name.to_string(), deadline: limits.deadline })
        } else {
            match result {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(plugin_error(&plugin.name, error)),
                Err(trap) => Err(classify_trap(&plugin.name, trap, &store, limits, &pipes.stderr)),
            }
        };
        if let Some(observer) = &self.observer {
            (observer.0)(&CallRecord { plugin: &plugin.name, world: plugin.world(), stats, ok: outcome.is_ok() });
        }
        outcome
    }
}

fn params_json(params: &serde_json::Value) -> String {
    if params.is_null() { "{}".to_owned() } else { params.to_string() }
}

fn encode(items: &[Object]) -> Vec<String> {
    items.iter().map(|o| o.as_value().to_string()).collect()
}

/// Logs what the guest wrote to `stream`, escaped, one event per line, at
/// most `limits.log_lines` lines (the pipe already kept at most
/// `limits.log_bytes`); says once what was left out.
fn forward_output(plugin: &str, stream: &str, pipe: &MemoryOutputPipe, limits: &Limits) {
    let contents = pipe.contents();
    let text = String::from_utf8_lossy(&contents);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    for line in lines.by_ref().take(limits.log_lines) {
        tracing::info!(target: "capstan::plugin", plugin, stream, "{}", escape_untrusted(line));
    }
    let dropped = lines.count();
    let full = contents.len() >= limits.log_bytes;
    if dropped > 0 || full {
        tracing::warn!(
            target: "capstan::plugin",
            plugin,
            stream,
            "{stream} truncated: a call may log {} lines and {} bytes ({dropped} more lines dropped{})",
            limits.log_lines,
            limits.log_bytes,
            if full { ", and what came after the byte cap" } else { "" }
        );
    }
}

fn plugin_error(plugin: &str, error: types::Error) -> Error {
    let (kind, message) = match error {
        types::Error::InvalidConfig(m) => (PluginErrorKind::InvalidConfig, m),
        types::Error::InvalidInput(m) => (PluginErrorKind::InvalidInput, m),
        types::Error::Failed(m) => (PluginErrorKind::Failed, m),
    };
    Error::Plugin { plugin: plugin.to_owned(), kind, message: escape_untrusted(&message).into_owned() }
}

/// Names the reason of a trap: the deadline and the memory cap first (the
/// guest may have turned a refused `memory.grow` into an abort), else the
/// trap with the last lines the guest wrote to stderr (a panic message).
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
    if error.chain().any(|cause| cause.downcast_ref::<ResourceTableError>().is_some()) {
        return Error::HandleCap { plugin, cap: limits.max_handles };
    }
    let stderr = String::from_utf8_lossy(&stderr.contents()).trim().to_owned();
    // Rust's hint about RUST_BACKTRACE cannot help: the guest has no environment.
    let lines = stderr.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"));
    let tail: Vec<_> = lines.rev().take(5).map(escape_untrusted).collect::<Vec<_>>().into_iter().rev().collect();
    // A trap's own text is one line; its wasm backtrace stays out of the message.
    let mut message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => escape_untrusted(&format!("{error:#}")).into_owned(),
    };
    if !tail.is_empty() {
        message = format!("{message}; guest stderr: {}", tail.join(" | "));
    }
    Error::Trap { plugin, message }
}

fn health(h: assess::Health) -> Health {
    match h {
        assess::Health::Healthy => Health::Healthy,
        assess::Health::Progressing => Health::Progressing,
        assess::Health::Degraded => Health::Degraded,
        assess::Health::Missing => Health::Missing,
        assess::Health::Unknown => Health::Unknown,
    }
}
