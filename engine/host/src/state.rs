//! `HostState`: what one `Store` holds for one call, and the `log` import
//! with its budget.

use std::sync::Arc;

use capstan_types::text::escape_untrusted;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::Limits;
use crate::bindings::{log, types};
use crate::clock::Deadline;
use crate::leash::MemoryCap;
use crate::preopen::Snapshot;

/// The longest `log` message kept whole; longer ones are cut here (on a
/// character boundary) and marked as cut.
pub(crate) const MAX_LOG_MESSAGE: usize = 4 << 10;

/// The data of a store: the WASI context (deny-by-default), its resource
/// table, the memory cap, the deadline clock waits are cut at, the one
/// read-only directory, the plugin's name and what it may still log.
pub(crate) struct HostState {
    pub(crate) plugin: Arc<str>,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) deadline: Deadline,
    pub(crate) snapshot: Snapshot,
    pub(crate) log: LogBudget,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for HostState {}

/// What the `log` import of one call may still send to the engine's log:
/// the same byte and line budget as stdout and stderr have. Without it, one
/// render wrote 300 MB to the engine's stderr.
#[derive(Debug)]
pub(crate) struct LogBudget {
    bytes_left: usize,
    lines_left: usize,
    /// Whether the "budget spent" warning was logged.
    spent: bool,
}

impl LogBudget {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self { bytes_left: limits.log_bytes, lines_left: limits.log_lines, spent: false }
    }

    /// The text to log for `message` (escaped, cut at [`MAX_LOG_MESSAGE`]),
    /// or `None` once the budget is spent. The first refused message gets
    /// one warning in its place.
    fn admit(&mut self, plugin: &str, message: &str) -> Option<String> {
        if self.lines_left == 0 || self.bytes_left == 0 {
            if !self.spent {
                self.spent = true;
                tracing::warn!(
                    target: "capstan::plugin",
                    plugin,
                    "log budget of this call spent; dropping the plugin's further log messages"
                );
            }
            return None;
        }
        let keep = floor_char_boundary(message, MAX_LOG_MESSAGE.min(self.bytes_left));
        self.lines_left -= 1;
        self.bytes_left -= keep;
        let text = escape_untrusted(&message[..keep]);
        Some(if keep < message.len() {
            format!("{text}… (truncated: {} of {} bytes)", keep, message.len())
        } else {
            text.into_owned()
        })
    }
}

/// The largest `i <= at` that is a character boundary of `text`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.plugin;
        let Some(message) = self.log.admit(plugin, &message) else { return };
        match level {
            log::Level::Trace => tracing::trace!(target: "capstan::plugin", plugin, "{message}"),
            log::Level::Debug => tracing::debug!(target: "capstan::plugin", plugin, "{message}"),
            log::Level::Info => tracing::info!(target: "capstan::plugin", plugin, "{message}"),
            log::Level::Warn => tracing::warn!(target: "capstan::plugin", plugin, "{message}"),
            log::Level::Error => tracing::error!(target: "capstan::plugin", plugin, "{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_and_the_budget_runs_out() {
        let mut budget = LogBudget::new(&Limits { log_bytes: 10_000, log_lines: 3, ..Limits::default() });
        assert_eq!(budget.admit("p", "a\x1b[2J").as_deref(), Some(r"a\u{1b}[2J"));
        let long = "é".repeat(3_000);
        let cut = budget.admit("p", &long).unwrap();
        assert!(cut.ends_with("… (truncated: 4096 of 6000 bytes)"), "{cut}");
        assert_eq!(budget.admit("p", "third").as_deref(), Some("third"));
        assert_eq!(budget.admit("p", "fourth"), None);
        let mut bytes = LogBudget::new(&Limits { log_bytes: 5, ..Limits::default() });
        assert_eq!(bytes.admit("p", "0123456789").as_deref(), Some("01234… (truncated: 5 of 10 bytes)"));
        assert_eq!(bytes.admit("p", "more"), None);
    }
}
