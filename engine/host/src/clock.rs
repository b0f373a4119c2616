//! Clock waits cut at the call's deadline. Epoch interruption stops wasm
//! code only: a guest blocked in a host call (a sleep, a poll with a
//! timeout) would hold its thread and its instance slot, and with them the
//! calls queued behind it, for as long as it asked — a year, if it liked.
//! The host shadows WASI's `monotonic-clock` subscriptions so that no wait
//! ends after the deadline, and a call that was still waiting when the
//! deadline came fails with the deadline error.

use std::time::Instant;

use wasmtime::StoreContextMut;
use wasmtime::component::Linker;
use wasmtime_wasi::clocks::WasiClocksView;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::Host;

use crate::state::HostState;

/// The interface `wasmtime_wasi::p2::add_to_linker_sync` defines (imports
/// of any 0.2.x resolve to it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// The deadline of one call and whether a wait was cut at it.
#[derive(Debug)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) cut: bool,
}

impl Deadline {
    /// `nanos`, or the time left before the deadline if that is less.
    fn cut(&mut self, nanos: u64) -> u64 {
        let left = u64::try_from(self.at.saturating_duration_since(Instant::now()).as_nanos()).unwrap_or(u64::MAX);
        self.cut |= nanos > left;
        nanos.min(left)
    }

    /// Whether a wait was cut and the deadline has passed: whatever the
    /// guest did after waking came too late.
    pub(crate) fn overslept(&self) -> bool {
        self.cut && Instant::now() >= self.at
    }
}

/// Replaces `subscribe-duration` and `subscribe-instant` with versions cut
/// at the store's [`Deadline`]; everything else stays wasmtime-wasi's.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |mut store: StoreContextMut<'_, HostState>, (nanos,): (u64,)| {
        let state = store.data_mut();
        let nanos = state.deadline.cut(nanos);
        Ok((Host::subscribe_duration(&mut state.clocks(), nanos)?,))
    })?;
    clock.func_wrap("subscribe-instant", |mut store: StoreContextMut<'_, HostState>, (when,): (u64,)| {
        let state = store.data_mut();
        let now = Host::now(&mut state.clocks())?;
        let nanos = state.deadline.cut(when.saturating_sub(now));
        Ok((Host::subscribe_duration(&mut state.clocks(), nanos)?,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
