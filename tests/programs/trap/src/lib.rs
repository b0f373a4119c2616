//! A renderer that executes the `unreachable` instruction.

use capstan_plugin::{Context, Error, Rendered, Renderer};

struct Trap;

impl Renderer for Trap {
    type Params = serde_json::Value;

    fn render(_: &Context, _: Self::Params) -> Result<Rendered, Error> {
        core::arch::wasm32::unreachable()
    }
}

capstan_plugin::export_renderer!(Trap);
