//! Python and JavaScript plugins through the real `capstan` binary: the
//! committed example components (always), `plugin new` → `build` → `test`
//! for each world of each language and the guide's Python and JavaScript
//! walk-throughs (when componentize-py, or Node.js with npm, is installed;
//! otherwise they say that they skip and why), and the errors an author
//! meets without a toolchain.
//!
//! Compiled components are cached in one directory beside this test's
//! binary (as in plugin_dev.rs): a committed component compiles once per
//! machine. Fresh Python and JavaScript builds are not byte-for-byte
//! reproducible, so each fresh build compiles (20–40 s in a debug build).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// Held by the tests that build or compile a large component: one at a
/// time, each compile has the machine's cores (wasmtime compiles in
/// parallel), as an author's would.
fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn target_dir() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_capstan"));
    exe.parent().and_then(Path::parent).unwrap().to_owned()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn capstan(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(args)
        .current_dir(cwd)
        .env("CAPSTAN_CACHE_DIR", target_dir().join("plugin-dev-cache"))
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "stdout:\n{}\nstderr:\n{}", stdout(&output), stderr(&output));
    stdout(&output)
}

/// Whether componentize-py is installed; if not, says that the caller skips.
fn python_toolchain(test: &str) -> bool {
    match capstan_devkit::toolchain::componentize_py() {
        Ok(_) => true,
        Err(error) => {
            eprintln!("skipping {test}: {error}");
            false
        }
    }
}

/// Whether Node.js and npm are installed; if not, says that the caller skips.
fn js_toolchain(test: &str) -> bool {
    let works = |tool: &str| Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if works("node") && works("npm") {
        return true;
    }
    eprintln!("skipping {test}: Node.js or npm is missing (install Node.js 20 or later with npm)");
    false
}

#[test]
fn the_python_example_passes_its_test_from_the_committed_component() {
    let _heavy = heavy();
    let example = root().join("examples/plugins/require-limits");
    let tested = ok(capstan(&example, &["plugin", "test", "--wasm", "require_limits.wasm"]));
    assert!(tested.starts_with("plugin require-limits (validator, sha256:"), "{tested}");
    assert!(tested.contains("\n  validate: 2 diagnostics; "), "{tested}");
    assert!(
        tested.contains("  message: container log-shipper sets no resources.limits (needs cpu, memory)\n"),
        "{tested}"
    );
    assert!(
        tested.contains("  field: spec.jobTemplate.spec.template.spec.containers[0].resources.limits.memory\n"),
        "{tested}"
    );
    assert!(tested.ends_with("1 passed, 0 failed\n"), "{tested}");
    // Its parameters are checked, with what to change.
    let args = ["plugin", "test", "--wasm", "require_limits.wasm", "--input", "fixtures/input.yaml", "--with"];
    let refused = capstan(&example, &[&args[..], &[r#"{"resources": []}"#]].concat());
    assert!(!refused.status.success());
    assert!(
        stdout(&refused).contains(
            "  error: plugin require-limits: invalid config: `resources` must be a non-empty list of resource names, e.g. [cpu, memory]; \
             to fix: the plugin refused its `with:` parameters"
        ),
        "{}",
        stdout(&refused)
    );
}

#[test]
fn the_typescript_example_passes_its_test_from_the_committed_component() {
    let _heavy = heavy();
    let example = root().join("examples/plugins/cost-centre");
    let tested = ok(capstan(&example, &["plugin", "test", "--wasm", "cost_centre.wasm"]));
    assert!(tested.contains("\n  transform: 4 objects, 1 diagnostics; "), "{tested}");
    assert!(
        tested.contains(
            "\n  Warning: ConfigMap/shop/shared-settings metadata.labels[cost-centre]: keeps cost-centre=cc-0001 (not cc-1234); set override: true to replace it\n"
        ),
        "{tested}"
    );
    assert!(tested.ends_with("1 passed, 0 failed\n"), "{tested}");
    // `trace`: the guest's log line through the `log` import, and a call
    // that overrides the other cost centre.
    let args = ["plugin", "trace", "--wasm", "cost_centre.wasm", "--input", "fixtures/input.yaml", "--with"];
    let traced = ok(capstan(&example, &[&args[..], &[r#"{"costCentre": "cc-9", "override": true}"#]].concat()));
    assert!(
        traced.contains("guest log (1 lines):\n  log info: cost-centre: cost-centre=cc-9 on 4 of 4 objects\n"),
        "{traced}"
    );
    assert_eq!(traced.matches("cost-centre: cc-9\n").count(), 6, "{traced}");
}

#[test]
fn a_component_of_another_world_than_the_project_is_refused() {
    let example = root().join("examples/plugins/require-limits");
    let wasm = root().join("examples/plugins/cost-centre/cost_centre.wasm");
    let output = capstan(&example, &["plugin", "test", "--wasm", wasm.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).ends_with(
            "capstan-plugin.yaml says `world: validator`, but the component is a transformer (it exports capstan:plugin/transform@0.1.0): \
             set `world: transformer`, or export a validator (`Validate = capstan_plugin.validator(your_function)` in app.py)\n"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn without_componentize_py_the_build_names_it_and_the_install_command() {
    let parent = tempfile::TempDir::new().unwrap();
    ok(capstan(parent.path(), &["plugin", "new", "--world", "validator", "--lang", "python", "policy"]));
    // No venv under this HOME and nothing on PATH.
    let output = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["plugin", "build", "policy"])
        .current_dir(parent.path())
        .env("HOME", parent.path())
        .env("PATH", parent.path())
        .env_remove("CAPSTAN_COMPONENTIZE_PY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        "error: componentize-py (the Python toolchain: it builds a component from app.py and wit/) is missing: \
         python3 -m venv ~/.cache/capstan/toolchains/python && ~/.cache/capstan/toolchains/python/bin/pip install componentize-py==0.25.1\n"
    );
}

#[test]
fn a_javascript_renderer_is_refused_with_what_to_use() {
    let parent = tempfile::TempDir::new().unwrap();
    let output = capstan(parent.path(), &["plugin", "new", "--world", "renderer", "--lang", "js", "gen"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).starts_with("error: a js plugin cannot be a renderer: componentize-js binds only"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("write the renderer in Rust or Python"), "{}", stderr(&output));
    assert!(!parent.path().join("gen").exists());
}

/// `plugin new` → `build` → `test --wasm` (the built component, compiled
/// once) for one world and language; returns what `test` printed.
fn new_build_test(lang: &str, world: &str, parent: &Path) -> String {
    let name = format!("{lang}-{world}");
    let created = ok(capstan(parent, &["plugin", "new", "--world", world, "--lang", lang, &name]));
    assert!(created.starts_with(&format!("created {name} ({lang} {world})")), "{created}");
    if lang == "js" {
        share_node_modules(&parent.join(&name));
    }
    let built = ok(capstan(parent, &["plugin", "build", &name]));
    let wasm = parent.join(&name).join("build").join(format!("{}.wasm", name.replace('-', "_")));
    let bytes = std::fs::read(&wasm).unwrap();
    assert!(built.starts_with(&format!("built {} in ", wasm.display())), "{built}");
    assert!(built.contains(&format!("\ndigest: {}\n", capstan_host::sha256_digest(&bytes))), "{built}");
    assert!(built.contains(&format!("\nsize:   {} bytes", bytes.len())), "{built}");
    let tested = ok(capstan(&parent.join(&name), &["plugin", "test", "--wasm", wasm.to_str().unwrap()]));
    assert!(tested.contains("  ok: equals "), "{tested}");
    assert!(tested.ends_with("1 passed, 0 failed\n"), "{tested}");
    tested
}

/// Lets a new JavaScript project use the TypeScript example's `npm ci`
/// (`cargo xtask test` runs it; the same jco and componentize-js, as the
/// lock files pin them), so `plugin build` skips its own install: ~30 s
/// each. The guide's walk-through still runs `npm ci` as an author would.
fn share_node_modules(project: &Path) {
    let installed = root().join("examples/plugins/cost-centre/node_modules");
    // The same lock but for the project's name.
    let pinned = |dir: &Path| {
        let lock = std::fs::read_to_string(dir.join("package-lock.json")).unwrap_or_default();
        lock.lines().filter(|line| !line.contains("\"name\":")).collect::<Vec<_>>().join("\n")
    };
    if installed.join(".bin/jco").is_file() && pinned(project) == pinned(installed.parent().unwrap()) {
        std::os::unix::fs::symlink(&installed, project.join("node_modules")).unwrap();
    }
}

#[test]
fn python_new_build_test_for_every_world() {
    if !python_toolchain("python_new_build_test_for_every_world") {
        return;
    }
    let _heavy = heavy();
    let parent = tempfile::TempDir::new().unwrap();
    let rendered = new_build_test("python", "renderer", parent.path());
    assert!(rendered.contains("\n  render: 1 objects, 0 diagnostics; "), "{rendered}");
    assert!(rendered.contains("  name: demo-hello\ndata:\n  text: |\n    Hello from python-renderer!\n"), "{rendered}");
    let transformed = new_build_test("python", "transformer", parent.path());
    assert!(transformed.contains("\n  transform: 2 objects, 0 diagnostics; "), "{transformed}");
    let assessed = new_build_test("python", "health", parent.path());
    assert!(assessed.contains("\n  assess: healthy; "), "{assessed}");
    // The validator is the guide's walk-through. The unit tests run natively.
    for world in ["renderer", "transformer", "health"] {
        let dir = parent.path().join(format!("python-{world}"));
        let unit = Command::new("python3").args(["-m", "unittest"]).current_dir(&dir).output().unwrap();
        assert!(unit.status.success(), "{world}: {}", stderr(&unit));
    }
}

#[test]
fn js_new_build_test_for_every_world_but_the_renderer() {
    if !js_toolchain("js_new_build_test_for_every_world_but_the_renderer") {
        return;
    }
    let _heavy = heavy();
    let parent = tempfile::TempDir::new().unwrap();
    // The transformer is the guide's walk-through.
    let validated = new_build_test("js", "validator", parent.path());
    assert!(validated.contains("\n  validate: 1 diagnostics; "), "{validated}");
    assert!(validated.contains("  field: metadata.labels[app.kubernetes.io/name]\n"), "{validated}");
    let assessed = new_build_test("js", "health", parent.path());
    assert!(assessed.contains("\n  assess: healthy; "), "{assessed}");
}

/// The ```sh blocks of one section (`## TITLE`) of docs/plugins.md, in order.
fn guide_section_script(title: &str) -> String {
    let guide = std::fs::read_to_string(root().join("docs/plugins.md")).unwrap();
    let start = guide.find(&format!("\n## {title}\n")).unwrap_or_else(|| panic!("the guide has a section {title:?}"));
    let section = &guide[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |end| end + 1)];
    section.split("```sh\n").skip(1).map(|block| &block[..block.find("```").expect("a closed block")]).collect()
}

/// Runs a walk-through with `sh -e -x` in an empty directory, with this
/// build's `capstan` first on PATH; returns its stdout.
fn run_script(script: &str) -> String {
    let work = tempfile::TempDir::new().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_capstan")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("sh")
        .args(["-e", "-x", "-c", script])
        .current_dir(work.path())
        .env("PATH", path)
        .env("CAPSTAN_CACHE_DIR", target_dir().join("plugin-dev-cache"))
        .output()
        .unwrap();
    ok(output)
}

#[test]
fn the_guide_python_walk_through_runs_as_written() {
    if !python_toolchain("the_guide_python_walk_through_runs_as_written") {
        return;
    }
    let _heavy = heavy();
    let script = guide_section_script("Python plugins");
    assert!(script.starts_with("capstan plugin new --world validator --lang python label-policy\n"), "{script}");
    let text = run_script(&script);
    assert!(text.contains("\ndigest: sha256:"), "{text}");
    assert!(text.contains("\n  validate: 1 diagnostics; "), "{text}");
    assert!(text.contains("1 passed, 0 failed\n"), "{text}");
    // The trace with other parameters: the guest's log line, two findings.
    assert!(
        text.contains("guest log (1 lines):\n  log info: checked 2 objects of label-policy: 2 findings\n"),
        "{text}"
    );
    assert_eq!(text.matches("  message: missing label team\n").count(), 2, "{text}");
}

#[test]
fn the_guide_javascript_walk_through_runs_as_written() {
    if !js_toolchain("the_guide_javascript_walk_through_runs_as_written") {
        return;
    }
    let _heavy = heavy();
    let script = guide_section_script("JavaScript and TypeScript plugins");
    assert!(script.starts_with("capstan plugin new --world transformer --lang js team-labels\n"), "{script}");
    let text = run_script(&script);
    assert!(text.contains("\ndigest: sha256:"), "{text}");
    assert!(text.contains("\n  transform: 2 objects, 0 diagnostics; "), "{text}");
    assert!(text.contains("1 passed, 0 failed\n"), "{text}");
    assert!(text.contains("guest log (1 lines):\n  log info: labelling 2 objects of team-labels\n"), "{text}");
    assert_eq!(text.matches("    team: payments\n").count(), 2, "{text}");
}
