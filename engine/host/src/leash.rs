//! The leash of one plugin call, and the memory limiter that enforces it.

use std::time::Duration;

/// How often the epoch ticker advances; the deadline's granularity.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Caps for one plugin call. Defaults are safe for untrusted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock CPU deadline of a call (epoch interruption).
    pub deadline: Duration,
    /// Most bytes of linear memory one instance may hold.
    pub memory_bytes: usize,
    /// Most bytes of objects a call may return.
    pub output_bytes: usize,
    /// Most objects a call may return.
    pub max_objects: usize,
    /// Most bytes of stdout/stderr kept for the log.
    pub log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5),
            memory_bytes: 256 << 20,
            output_bytes: 64 << 20,
            max_objects: 50_000,
            log_bytes: 64 << 10,
        }
    }
}

impl Limits {
    /// The deadline in epoch ticks (at least one).
    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.deadline.as_micros() / TICK.as_micros()).max(1) as u64 + 1
    }
}

/// Denies memory and table growth past the cap, and remembers that it did.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    pub(crate) cap: usize,
    pub(crate) exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = desired <= self.cap;
        self.exceeded |= !allowed;
        Ok(allowed)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
