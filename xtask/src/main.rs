//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `test`: installs what the tests need on a fresh machine (the
//!   `wasm32-wasip2` target, via rustup or Debian's packages), then runs every
//!   check CI runs: formatting, clippy with `-D warnings` (engine and guest
//!   workspaces), the engine's tests, and the guests' native tests (which
//!   include the kustomize conformance corpus).
//! - `plugins`: rebuilds the guest components (as the tests do) and refreshes
//!   the committed copies of the bundled plugins in `plugins/dist/`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Guest packages whose release components are committed under `plugins/dist/`.
const BUNDLED: &[&str] = &["capstan-yaml", "capstan-kustomize"];
const WASM_TARGET: &str = "wasm32-wasip2";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "test" => test(),
        "plugins" => plugins(),
        _ => Err(format!("unknown task {task:?}; tasks: test, plugins")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn test() -> Result<(), String> {
    ensure_wasm_target()?;
    let root = root();
    let guests = root.join("plugins");
    step("format (engine)", cargo(&root, &["fmt", "--all", "--", "--check"]))?;
    step("format (guests)", cargo(&guests, &["fmt", "--all", "--", "--check"]))?;
    step("clippy (engine)", cargo(&root, &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    step(
        "clippy (guests)",
        cargo(&guests, &["clippy", "--workspace", "--all-targets", "--target", WASM_TARGET, "--", "-D", "warnings"]),
    )?;
    // The test programs under tests/programs are wasm-only (they trap on purpose).
    let native_tests = ["test", "--workspace", "--release", "--exclude", "capstan-test-*"];
    step("tests (guests, native)", cargo(&guests, &native_tests))?;
    step("tests (engine)", cargo(&root, &["test", "--workspace"]))
}

fn plugins() -> Result<(), String> {
    ensure_wasm_target()?;
    let root = root();
    // tests/artifacts/build.rs builds every guest (path-independent flags);
    // the committed copies are exactly what the test suite runs.
    step("build the guest components", cargo(&root, &["build", "--package", "capstan-test-artifacts"]))?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let built = target_dir.join("guests").join(WASM_TARGET).join("release");
    for package in BUNDLED {
        let file = format!("{}.wasm", package.replace('-', "_"));
        let (from, to) = (built.join(&file), root.join("plugins/dist").join(&file));
        std::fs::copy(&from, &to).map_err(|e| format!("failed to copy {} to {}: {e}", from.display(), to.display()))?;
        println!("updated {}", to.display());
    }
    Ok(())
}

/// Installs the wasm32-wasip2 standard library if rustup can; otherwise
/// says how to get it from Debian's packages.
fn ensure_wasm_target() -> Result<(), String> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) => Ok(()),
        Ok(_) => step(
            "install the wasm32-wasip2 target",
            Command::new("rustup").args(["target", "add", WASM_TARGET]).status(),
        ),
        Err(_) => Err(format!(
            "rustup not found: install the {WASM_TARGET} target another way (Debian: apt-get install rustc-web cargo-web rust-web-src lld-19 wasi-libc; see README)"
        )),
    }
}

fn cargo(dir: &Path, args: &[&str]) -> std::io::Result<std::process::ExitStatus> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("$ (cd {} && cargo {})", dir.display(), args.join(" "));
    Command::new(cargo).args(args).current_dir(dir).status()
}

fn step(name: &str, status: std::io::Result<std::process::ExitStatus>) -> Result<(), String> {
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{name} failed ({status})")),
        Err(e) => Err(format!("{name}: failed to start: {e}")),
    }
}
