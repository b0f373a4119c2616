//! Host bindings of the `capstan:plugin` worlds, generated in one place.
//!
//! The renderer world generates the shared `types` and `log` interfaces;
//! the other three worlds reuse them through `with:`, so a `Diagnostic` or an
//! `Error` is one Rust type whichever world returned it.

#![allow(missing_docs)]

/// The `renderer` world; owner of the shared `types` and `log` interfaces.
pub mod renderer {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "capstan:plugin/renderer",
    });
}

/// The `transformer` world.
pub mod transformer {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "capstan:plugin/transformer",
        with: {
            "capstan:plugin/types": super::renderer::capstan::plugin::types,
            "capstan:plugin/log": super::renderer::capstan::plugin::log,
        },
    });
}

/// The `validator` world.
pub mod validator {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "capstan:plugin/validator",
        with: {
            "capstan:plugin/types": super::renderer::capstan::plugin::types,
            "capstan:plugin/log": super::renderer::capstan::plugin::log,
        },
    });
}

/// The `health` world.
pub mod health {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "capstan:plugin/health",
        with: {
            "capstan:plugin/types": super::renderer::capstan::plugin::types,
            "capstan:plugin/log": super::renderer::capstan::plugin::log,
        },
    });
}

pub use health::HealthPre;
pub use renderer::capstan::plugin::{log, types};
pub use renderer::{Renderer, RendererPre};
pub use transformer::TransformerPre;
pub use validator::ValidatorPre;

/// The `assess` interface's types (health status), for the host side.
pub use health::exports::capstan::plugin::assess;
