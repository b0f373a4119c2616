//! Host bindings of the `capstan:plugin` worlds, generated in one place.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "capstan:plugin/renderer",
});
