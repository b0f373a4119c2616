//! `HostState`: what one `Store` holds for one call.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{log, types};
use crate::clock::Deadline;
use crate::leash::MemoryCap;
use crate::preopen::Snapshot;

/// The data of a store: the WASI context (deny-by-default), its resource
/// table, the memory cap, the deadline clock waits are cut at, the one
/// read-only directory, and the plugin's name.
pub(crate) struct HostState {
    pub(crate) plugin: Arc<str>,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) deadline: Deadline,
    pub(crate) snapshot: Snapshot,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.plugin;
        match level {
            log::Level::Trace => tracing::trace!(target: "capstan::plugin", plugin, "{message}"),
            log::Level::Debug => tracing::debug!(target: "capstan::plugin", plugin, "{message}"),
            log::Level::Info => tracing::info!(target: "capstan::plugin", plugin, "{message}"),
            log::Level::Warn => tracing::warn!(target: "capstan::plugin", plugin, "{message}"),
            log::Level::Error => tracing::error!(target: "capstan::plugin", plugin, "{message}"),
        }
    }
}
