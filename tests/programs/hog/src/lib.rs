//! A renderer that allocates (and touches) memory without bound: the memory
//! cap must stop it.

use capstan_plugin::{Context, Error, Rendered, Renderer};

struct Hog;

impl Renderer for Hog {
    type Params = serde_json::Value;

    fn render(_: &Context, _: Self::Params) -> Result<Rendered, Error> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            chunks.push(std::hint::black_box(vec![0xAB; 1 << 20]));
        }
    }
}

capstan_plugin::export_renderer!(Hog);
