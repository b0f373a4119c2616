//! The errors a plugin author meets say what to change: a component of
//! another world than the project says, one that exports nothing Capstan
//! runs, one built against another WIT version, and a call over the leash.
//! (Components from tests/programs and tiny `.wat` fixtures; the build of a
//! real project is tested through the CLI in engine/cli/tests/plugin_dev.rs.)

use std::path::{Path, PathBuf};

use capstan_devkit::project::Case;
use capstan_devkit::{Error, Lang, Project, RunOptions};
use capstan_host::{HostConfig, Limits, PluginHost, World};

fn host() -> PluginHost {
    PluginHost::new(HostConfig::default()).unwrap()
}

fn project(world: World, dir: &Path) -> Project {
    Project { dir: dir.to_owned(), name: "mine".into(), world, lang: Lang::Rust, tests: Vec::new() }
}

fn guest(file: &str) -> Vec<u8> {
    std::fs::read(Path::new(capstan_test_artifacts::GUEST_DIR).join(file)).unwrap()
}

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

#[test]
fn a_component_of_another_world_names_the_field_and_the_export_to_change() {
    let project = project(World::Renderer, Path::new("."));
    let error = capstan_devkit::toolchain::check(&project, &host(), "mine.wasm", &guest("capstan_test_labels.wasm"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "capstan-plugin.yaml says `world: renderer`, but the component is a transformer (it exports capstan:plugin/transform@0.1.0): \
         set `world: transformer`, or export a renderer (`capstan_plugin::export_renderer!(YourType);` in src/lib.rs)"
    );
}

#[test]
fn a_component_without_a_capstan_export_says_which_macro_to_call() {
    let project = project(World::Validator, Path::new("."));
    let wat = wat_exporting("example:other/thing@1.0.0");
    let error =
        capstan_devkit::toolchain::check(&project, &host(), "mine.wasm", wat.as_bytes()).unwrap_err().to_string();
    assert!(
        error.starts_with("plugin mine.wasm: not a Capstan plugin: it exports [example:other/thing@1.0.0]"),
        "{error}"
    );
    assert!(
        error.ends_with(
            "; to fix: export exactly one Capstan interface: `capstan_plugin::export_validator!(YourType);` in src/lib.rs"
        ),
        "{error}"
    );
}

#[test]
fn a_component_of_another_wit_version_says_how_to_get_this_one() {
    let project = project(World::Renderer, Path::new("."));
    let wat = wat_exporting("capstan:plugin/render@0.2.0");
    let error =
        capstan_devkit::toolchain::check(&project, &host(), "mine.wasm", wat.as_bytes()).unwrap_err().to_string();
    assert_eq!(
        error,
        "plugin mine.wasm: built against capstan:plugin/render@0.2.0, but this host implements capstan:plugin/render@0.1.0; \
         rebuild the plugin against capstan:plugin@0.1.0; to fix: replace wit/plugin.wit with the WIT this Capstan implements \
         (`capstan plugin wit > wit/plugin.wit`, capstan:plugin@0.1.0) and rebuild"
    );
}

#[test]
fn a_call_over_the_memory_cap_says_how_to_raise_it() {
    let dir = tempfile::TempDir::new().unwrap();
    let fixture = dir.path().join("input");
    std::fs::create_dir(&fixture).unwrap();
    let mut project = project(World::Renderer, dir.path());
    project.tests.push(Case { input: PathBuf::from("input"), with: serde_json::Value::Null, expect: None });
    let options =
        RunOptions { limits: Limits { memory_bytes: 32 << 20, ..Limits::default() }, ..RunOptions::default() };
    let mut out = Vec::new();
    let error =
        capstan_devkit::run::test(&project, &guest("capstan_test_hog.wasm"), &host(), &options, &mut out).unwrap_err();
    assert!(matches!(error, Error::TestsFailed { failed: 1, total: 1 }), "{error}");
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains(
            "  error: plugin mine: memory cap exceeded: tried to grow past 33554432 bytes; to fix: use less memory, or raise the cap: \
             `limits: {memory: 512Mi}` on the stage (at most 1024Mi), `--memory 512Mi` here\n"
        ),
        "{out}"
    );
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
}

#[test]
fn a_call_past_its_deadline_says_how_to_give_it_more_time() {
    let dir = tempfile::TempDir::new().unwrap();
    let options = RunOptions {
        input: Some(dir.path().to_owned()),
        limits: Limits { deadline: std::time::Duration::from_millis(200), ..Limits::default() },
        ..RunOptions::default()
    };
    let mut out = Vec::new();
    let project = project(World::Renderer, dir.path());
    capstan_devkit::run::test(&project, &guest("capstan_test_spin.wasm"), &host(), &options, &mut out).unwrap_err();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("deadline exceeded: stopped after 200ms; to fix: make the call faster, or give it more time"),
        "{out}"
    );
}
