//! The example plugins under examples/plugins: the Rust one built by the
//! test suite's guest build, run through the real host on its fixtures;
//! the Python and TypeScript ones (whose committed components the CLI's
//! plugin_langs.rs runs) carry the WIT and helper library that
//! `capstan plugin new` writes today, and their components target the
//! world their project files say.

use std::path::{Path, PathBuf};

use capstan_devkit::{Project, RunOptions};
use capstan_host::{HostConfig, PluginHost, World};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins").join(name)
}

fn host() -> PluginHost {
    PluginHost::new(HostConfig::default()).unwrap()
}

#[test]
fn app_toml_expands_to_a_deployment_a_service_and_an_autoscaler() {
    let project = Project::load(&example("app-toml")).unwrap();
    let bytes = std::fs::read(capstan_test_artifacts::APP_TOML).unwrap();
    let host = host();
    assert_eq!(capstan_devkit::toolchain::check(&project, &host, "app-toml", &bytes).unwrap(), World::Renderer);
    let mut out = Vec::new();
    capstan_devkit::run::test(&project, &bytes, &host, &RunOptions::default(), &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("\n  render: 3 objects, 0 diagnostics; "), "{out}");
    assert!(out.contains("kind: HorizontalPodAutoscaler\n"), "{out}");
    let expected = example("app-toml").join("fixtures/expected.yaml");
    assert!(out.ends_with(&format!("  ok: equals {}\n1 passed, 0 failed\n", expected.display())), "{out}");
}

#[test]
fn app_toml_errors_name_the_file_and_the_field() {
    let dir = tempfile::TempDir::new().unwrap();
    let app = std::fs::read_to_string(example("app-toml/fixtures/input/app.toml")).unwrap();
    std::fs::write(dir.path().join("app.toml"), app.replace("shop:1.4.2", "shop")).unwrap();
    let project = Project::load(&example("app-toml")).unwrap();
    let options = RunOptions { input: Some(dir.path().to_owned()), ..RunOptions::default() };
    let mut out = Vec::new();
    let bytes = std::fs::read(capstan_test_artifacts::APP_TOML).unwrap();
    capstan_devkit::run::test(&project, &bytes, &host(), &options, &mut out).unwrap_err();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains(
            "  error: plugin app-toml: invalid input: app.toml: `image`: \"ghcr.io/acme/shop\" has no tag or digest; pin one, e.g. ghcr.io/acme/shop:1.0.0\n"
        ),
        "{out}"
    );
}

#[test]
fn the_python_and_typescript_examples_carry_todays_wit_and_helpers() {
    let read = |file: &str| std::fs::read_to_string(example(file)).unwrap();
    for project in ["require-limits", "cost-centre"] {
        assert_eq!(read(&format!("{project}/wit/plugin.wit")), capstan_devkit::WIT, "{project}");
    }
    assert_eq!(read("require-limits/capstan_plugin.py"), capstan_devkit::template::PYTHON_HELPER);
    assert_eq!(read("cost-centre/src/capstan.ts"), capstan_devkit::template::JS_HELPER);
    let host = host();
    for (project, wasm, world) in [
        ("require-limits", "require_limits.wasm", World::Validator),
        ("cost-centre", "cost_centre.wasm", World::Transformer),
    ] {
        let loaded = Project::load(&example(project)).unwrap();
        let bytes = std::fs::read(example(project).join(wasm)).unwrap();
        assert_eq!(capstan_devkit::toolchain::check(&loaded, &host, wasm, &bytes).unwrap(), world, "{project}");
    }
}
