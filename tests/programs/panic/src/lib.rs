//! A renderer that panics: the host must report the panic message.

use capstan_plugin::{Context, Error, Rendered, Renderer};

struct Panic;

impl Renderer for Panic {
    type Params = serde_json::Value;

    fn render(ctx: &Context, _: Self::Params) -> Result<Rendered, Error> {
        panic!("cannot render {}: the test program always panics", ctx.app)
    }
}

capstan_plugin::export_renderer!(Panic);
