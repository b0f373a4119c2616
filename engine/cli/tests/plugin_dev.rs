//! The plugin author's loop through the real `capstan` binary: `plugin new`
//! → `plugin build` → `plugin test` (and `trace`) for each world in Rust,
//! the component built by cargo for wasm32-wasip2 and run in the real host.
//! Builds share one cargo target directory beside this test's, so a rerun
//! only recompiles the projects; the renderer project is built once per run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The cargo target directory of this test binary.
fn target_dir() -> PathBuf {
    let exe = Path::new(env!("CARGO_BIN_EXE_capstan"));
    exe.parent().and_then(Path::parent).unwrap().to_owned()
}

/// `capstan ARGS` in `cwd`, with the plugin builds' shared target directory
/// and a compiled-code cache of this test binary's.
fn capstan(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(args)
        .current_dir(cwd)
        .env("CARGO_TARGET_DIR", target_dir().join("plugin-dev"))
        .env("CAPSTAN_CACHE_DIR", target_dir().join("plugin-dev-cache"))
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

/// A renderer project, created and built once per test binary.
fn renderer() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let parent = tempfile::TempDir::new().unwrap();
        ok(capstan(parent.path(), &["plugin", "new", "--world", "renderer", "--lang", "rust", "hello"]));
        ok(capstan(&parent.path().join("hello"), &["plugin", "build"]));
        parent
    })
    .path()
}

/// `plugin new` → `build` → `test` for one world: the digest printed is the
/// component's, and the fixture's output equals the expected file.
fn new_build_test(world: &str, parent: &Path) -> String {
    let name = format!("my-{world}");
    let created = ok(capstan(parent, &["plugin", "new", "--world", world, "--lang", "rust", &name]));
    assert!(created.starts_with(&format!("created {name} (rust {world})")), "{created}");
    let built = ok(capstan(parent, &["plugin", "build", &name]));
    let wasm =
        built.lines().next().and_then(|l| l.strip_prefix("built ")).and_then(|l| l.split(" in ").next()).unwrap();
    let bytes = std::fs::read(wasm).unwrap();
    assert!(built.contains(&format!("\nworld:  {world} (exports capstan:plugin/")), "{built}");
    assert!(built.contains(&format!("\ndigest: {}\n", capstan_host::sha256_digest(&bytes))), "{built}");
    assert!(built.contains(&format!("\nsize:   {} bytes", bytes.len())), "{built}");
    let tested = ok(capstan(parent, &["plugin", "test", &name]));
    assert!(tested.contains("case 1/1: "), "{tested}");
    assert!(tested.contains("  ok: equals "), "{tested}");
    assert!(tested.contains(" MiB (leash: 5s, 256 MiB)\n"), "{tested}");
    assert!(tested.ends_with("1 passed, 0 failed\n"), "{tested}");
    tested
}

#[test]
fn new_build_test_a_renderer_prints_objects_time_and_memory() {
    let tested = ok(capstan(&renderer().join("hello"), &["plugin", "test"]));
    assert!(tested.contains("\n  render: 1 objects, 0 diagnostics; "), "{tested}");
    assert!(
        tested.contains(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo-hello\ndata:\n  text: |\n    Hello from hello!\n"
        ),
        "{tested}"
    );
    assert!(tested.ends_with("1 passed, 0 failed\n"), "{tested}");
}

#[test]
fn new_build_test_a_transformer_a_validator_and_a_health_check() {
    let parent = tempfile::TempDir::new().unwrap();
    let transformed = new_build_test("transformer", parent.path());
    assert!(transformed.contains("\n  transform: 2 objects, 0 diagnostics; "), "{transformed}");
    let validated = new_build_test("validator", parent.path());
    assert!(validated.contains("\n  validate: 1 diagnostics; "), "{validated}");
    assert!(validated.contains("  field: metadata.labels[app.kubernetes.io/name]\n"), "{validated}");
    let assessed = new_build_test("health", parent.path());
    assert!(assessed.contains("\n  assess: healthy; "), "{assessed}");
}

#[test]
fn a_fixture_that_differs_fails_with_a_diff() {
    let project = renderer().join("hello");
    let other = renderer().join("other-expected.yaml");
    std::fs::write(&other, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\ndata:\n  text: |\n    Hello!\n")
        .unwrap();
    let output =
        capstan(&project, &["plugin", "test", "--input", "fixtures/input", "--expect", other.to_str().unwrap()]);
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(text.contains("  FAILED: differs from "), "{text}");
    assert!(text.contains("-  name: hello\n+  name: demo-hello\n") || text.contains("-    Hello!\n"), "{text}");
    assert!(text.ends_with("0 passed, 1 failed\n"), "{text}");
    assert_eq!(String::from_utf8_lossy(&output.stderr).lines().last(), Some("error: 1 of 1 test cases failed"));
}

#[test]
fn trace_shows_the_guest_log_time_and_memory_of_one_call() {
    let args = ["plugin", "trace", "--input", "fixtures/input", "--with", r#"{"namePrefix": "x-"}"#];
    let traced = ok(capstan(&renderer().join("hello"), &args));
    assert!(traced.contains("guest log (1 lines):\n  log info: rendering 1 files of .\n"), "{traced}");
    assert!(traced.contains("\ntime:   "), "{traced}");
    assert!(traced.contains(" MiB of 256 MiB\n"), "{traced}");
    assert!(traced.contains("  name: x-hello\n"), "{traced}");
}

#[test]
fn a_call_over_the_memory_cap_fails_with_what_to_change() {
    let output = capstan(&renderer().join("hello"), &["plugin", "test", "--memory", "1Mi"]);
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(
        text.contains(
            "memory cap exceeded: tried to grow past 1048576 bytes; to fix: use less memory, or raise the cap"
        ),
        "{text}"
    );
    let bad = capstan(&renderer().join("hello"), &["plugin", "test", "--memory", "4Gi"]);
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "error: invalid --memory \"4Gi\": must be between 1Mi and 1024Mi\n"
    );
}

#[test]
fn a_project_that_says_another_world_is_refused_at_build() {
    let parent = tempfile::TempDir::new().unwrap();
    let copy = parent.path().join("liar");
    // The renderer's sources under another name, and a project file that lies.
    for entry in ["Cargo.lock", "src", "wit", "vendor"] {
        copy_tree(&renderer().join("hello").join(entry), &copy.join(entry));
    }
    let manifest = std::fs::read_to_string(renderer().join("hello/Cargo.toml")).unwrap();
    std::fs::write(copy.join("Cargo.toml"), manifest.replace("name = \"hello\"", "name = \"liar\"")).unwrap();
    std::fs::write(copy.join("capstan-plugin.yaml"), "name: liar\nworld: transformer\nlang: rust\n").unwrap();
    let output = capstan(&copy, &["plugin", "build"]);
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).lines().last(),
        Some(
            "error: capstan-plugin.yaml says `world: transformer`, but the component is a renderer (it exports capstan:plugin/render@0.1.0): \
             set `world: renderer`, or export a transformer (`capstan_plugin::export_transformer!(YourType);` in src/lib.rs)"
        )
    );
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

#[test]
fn wit_prints_the_contract_new_projects_get() {
    let printed = ok(capstan(Path::new("."), &["plugin", "wit"]));
    assert!(printed.contains("package capstan:plugin@0.1.0;"), "{printed}");
    assert_eq!(printed, std::fs::read_to_string(renderer().join("hello/wit/plugin.wit")).unwrap());
}

/// The ```sh blocks of docs/plugins.md's walk-through, in order.
fn walk_through() -> String {
    let guide = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/plugins.md")).unwrap();
    let start = guide.find("\n## A 10-minute walk-through\n").expect("the guide has its walk-through");
    let section = &guide[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |end| end + 1)];
    let mut script = String::new();
    let mut blocks = section.split("```sh\n").skip(1);
    for block in blocks.by_ref() {
        script.push_str(&block[..block.find("```").expect("a closed block")]);
    }
    script
}

#[test]
fn the_guide_walk_through_runs_as_written() {
    let script = walk_through();
    assert!(script.starts_with("capstan plugin new --world transformer"), "{script}");
    let work = tempfile::TempDir::new().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_capstan")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("sh")
        .args(["-e", "-x", "-c", &script])
        .current_dir(work.path())
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target_dir().join("plugin-dev"))
        .env("CAPSTAN_CACHE_DIR", target_dir().join("plugin-dev-cache"))
        .output()
        .unwrap();
    let text = ok(output);
    assert_eq!(text.matches("1 passed, 0 failed\n").count(), 2, "{text}");
    assert!(text.contains("guest log (1 lines):\n  log info: labelling 2 objects of cost-labels\n"), "{text}");
    // The render: both objects of the fixture, with the label.
    let rendered = &text[text.rfind("wrote site/cost_labels.wasm").expect("the component was written")..];
    assert_eq!(rendered.matches("cost-centre: cc-1234").count(), 2, "{rendered}");
}
