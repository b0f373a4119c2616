//! Describing components, and refusing those built against another WIT
//! version or targeting no Capstan world (tiny `.wat` fixtures).

use std::path::Path;

use capstan_host::{Error, HostConfig, PluginHost, World};

/// A component exporting an interface named `export` with one `render` function.
fn wat_exporting(export: &str) -> String {
    format!(
        r#"(component
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $inst (export "render" (func $f)))
            (export "{export}" (instance $inst)))"#
    )
}

fn host() -> PluginHost {
    PluginHost::new(HostConfig::default()).unwrap()
}

#[test]
fn inspect_describes_a_renderer() {
    let bytes = std::fs::read(Path::new(capstan_test_artifacts::GUEST_DIR).join("capstan_test_trivial.wasm")).unwrap();
    let inspection = host().inspect("trivial", &bytes).unwrap();
    assert_eq!(inspection.world, Some(World::Renderer));
    assert_eq!(inspection.wit_version.as_deref(), Some("0.1.0"));
    assert_eq!(inspection.exports, ["capstan:plugin/render@0.1.0"]);
    assert!(
        inspection.imports.iter().all(|i| i.starts_with("wasi:") || i.starts_with("capstan:plugin/")),
        "{:?}",
        inspection.imports
    );
    assert_eq!(inspection.size, bytes.len());
    assert_eq!(inspection.digest, capstan_host::sha256_digest(&bytes));
    let text = inspection.to_string();
    assert!(
        text.starts_with("world:       renderer (capstan:plugin/renderer)\nwit version: 0.1.0\ndigest:      sha256:"),
        "{text}"
    );
    assert!(text.contains("exports:\n  capstan:plugin/render@0.1.0\n"), "{text}");
}

#[test]
fn another_minor_version_is_refused_with_both_versions() {
    let host = host();
    let wat = wat_exporting("capstan:plugin/render@0.2.0");
    let Err(Error::Incompatible { reason, .. }) = host.load_bytes("future", wat.as_bytes()) else {
        panic!("must be refused")
    };
    assert_eq!(
        reason,
        "built against capstan:plugin/render@0.2.0, but this host implements capstan:plugin/render@0.1.0; rebuild the plugin against capstan:plugin@0.1.0"
    );
    let inspection = host.inspect("future", wat.as_bytes()).unwrap();
    assert_eq!((inspection.world, inspection.wit_version.as_deref()), (None, Some("0.2.0")));
    assert!(inspection.to_string().contains("refused:     built against capstan:plugin/render@0.2.0"));
}

#[test]
fn a_component_of_no_capstan_world_is_refused() {
    let error = host().load_bytes("other", wat_exporting("example:other/thing@1.0.0").as_bytes()).err().unwrap();
    assert_eq!(
        error.to_string(),
        "plugin other: not a Capstan plugin: it exports [example:other/thing@1.0.0], expected one of \
         capstan:plugin/render@0.1.0, capstan:plugin/transform@0.1.0, capstan:plugin/validate@0.1.0, capstan:plugin/assess@0.1.0"
    );
}
