//! A renderer that never returns: the CPU deadline must stop it.

use capstan_plugin::{Context, Error, Rendered, Renderer};

struct Spin;

impl Renderer for Spin {
    type Params = serde_json::Value;

    fn render(_: &Context, _: Self::Params) -> Result<Rendered, Error> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

capstan_plugin::export_renderer!(Spin);
