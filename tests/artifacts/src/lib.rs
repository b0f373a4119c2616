//! Paths of the guest components built from this tree for the test suite:
//! the bundled plugins (`CAPSTAN_YAML`, …) and the test programs under
//! `tests/programs/`. Built by `build.rs` in one cargo invocation.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
