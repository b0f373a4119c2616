//! Builds the guests of `plugins/Cargo.toml` listed by [`guests`] (bundled
//! plugins and `tests/programs/*`) for wasm32-wasip2 in one cargo invocation, and emits
//! their paths as constants, so tests use components built from this tree.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest packages the test suite uses: the bundled plugins (one per
/// `plugins/dist/capstan_<name>.wasm`, package `capstan-<name>`), the
/// test programs (one per `tests/programs/<name>/`, package `capstan-test-<name>`),
/// then the Rust example plugins (one per `examples/plugins/<name>/Cargo.toml`,
/// package `<name>`).
fn guests(root: &Path) -> Vec<String> {
    let names = |dir: &str, name: fn(&str) -> Option<&str>| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("failed to read {dir}: {e}"))
            .flatten()
            .filter_map(|entry| name(entry.file_name().to_str()?).map(|n| n.replace('_', "-")))
            .collect();
        names.sort();
        names
    };
    let bundled = names("plugins/dist", |f| f.strip_prefix("capstan_")?.strip_suffix(".wasm"));
    let programs = names("tests/programs", |f| Some(f));
    let examples = names("examples/plugins", |f| Some(f))
        .into_iter()
        .filter(|n| root.join("examples/plugins").join(n).join("Cargo.toml").is_file());
    bundled
        .iter()
        .map(|n| format!("capstan-{n}"))
        .chain(programs.iter().map(|n| format!("capstan-test-{n}")))
        .chain(examples)
        .collect()
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().and_then(Path::parent).unwrap().to_path_buf();
    let workspace = root.join("plugins");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // Own target dir (the outer cargo holds the lock on its own), beside the
    // outer one (OUT_DIR is TARGET/PROFILE/build/PKG-HASH/out) so that
    // `cargo test` and `cargo clippy` share one guest build.
    let target_dir = std::env::var_os("CAPSTAN_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| out_dir.ancestors().nth(4).unwrap_or(&out_dir).join("guests"));
    println!("cargo:rerun-if-env-changed=CAPSTAN_GUEST_TARGET_DIR");
    for dir in ["plugins", "tests/programs", "examples/plugins", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    println!("cargo:rerun-if-env-changed=CAPSTAN_GUEST_TOOLCHAIN");
    let debian = std::env::var("CAPSTAN_GUEST_TOOLCHAIN").is_ok_and(|v| v == "debian");
    let mut rustflags = remap_flags();
    let mut cmd = if debian {
        debian_cargo(&mut rustflags)
    } else {
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
    };
    cmd.current_dir(&workspace)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target_dir)
        .env("RUSTFLAGS", rustflags);
    let packages = guests(&root);
    for guest in &packages {
        cmd.args(["-p", guest]);
    }
    // The outer build's settings (clippy wrapper, its flags) must not leak in.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("failed to run cargo for the guest components");
    assert!(
        status.success(),
        "building the guest components failed; is the wasm32-wasip2 target installed? (`rustup target add wasm32-wasip2`, or run `cargo xtask test`)"
    );

    let release = target_dir.join("wasm32-wasip2/release");
    // One compiled-code cache for every engine of the test suites, so each
    // component is compiled once per build of the guests, not once per test
    // (compiling dominated the suites' time). Emptied here, whenever the
    // guests are rebuilt, so it holds one generation of them.
    let compiled = target_dir.join("compiled-for-tests");
    let _ = std::fs::remove_dir_all(&compiled);
    let mut consts = format!(
        "/// Directory of the freshly built `capstan_<name>.wasm` components.\npub const GUEST_DIR: &str = {:?};\n\
         /// A compiled-code cache the test suites' engines share (emptied when the guests are rebuilt).\n\
         pub const COMPILED_CACHE_DIR: &str = {:?};\n",
        release.display().to_string(),
        compiled.display().to_string()
    );
    let mut wasm: Vec<_> = std::fs::read_dir(&release)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    wasm.sort();
    for path in wasm {
        let stem = path.file_stem().unwrap().to_string_lossy().to_uppercase();
        consts.push_str(&format!(
            "/// Path of `{}`.\npub const {stem}: &str = {:?};\n",
            path.file_name().unwrap().to_string_lossy(),
            path.display().to_string()
        ));
    }
    consts.push_str(&foreach_program(&packages));
    std::fs::write(out_dir.join("artifacts.rs"), consts).unwrap();
}

/// Debian's route when rustup has no wasm32-wasip2 (`cargo xtask test`
/// installs `rustc-web cargo-web rust-web-src lld-19 wasi-libc`): its cargo
/// and rustc, the standard library built from source, Debian's wasi-libc.
fn debian_cargo(rustflags: &mut String) -> Command {
    rustflags.push_str(" -L /usr/lib/wasm32-wasi -C link-self-contained=no");
    let path = std::env::var("PATH").unwrap_or_default();
    let mut cmd = Command::new("/usr/bin/cargo");
    cmd.arg("-Zbuild-std=std,panic_abort")
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTC", "/usr/bin/rustc")
        .env("PATH", format!("/usr/lib/llvm-19/bin:{path}"));
    cmd
}

/// Paths in panics and debug info would make the bytes depend on where the
/// registry is; map it to a fixed prefix. Packages under `plugins/` (every
/// bundled plugin, the SDK, the patched crates) are already named by paths
/// relative to it. The checkout's own root is deliberately not remapped:
/// RUSTFLAGS are part of every crate's fingerprint, so a flag naming the
/// clone made each clone sharing a target directory (CI's and a
/// developer's) rebuild every dependency of the guests.
fn remap_flags() -> String {
    let mut flags = std::env::var_os("CARGO_HOME")
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo").into()))
        .map(|home| format!("--remap-path-prefix={}=/cargo", Path::new(&home).display()))
        .unwrap_or_default();
    // With rustup's rust-src component installed, rustc names the standard
    // library's files by their local path instead of `/rustc/<commit>`: map
    // them back, so the bytes do not depend on that component either.
    if let Some((sysroot, commit)) = rustc_sysroot_and_commit() {
        flags.push_str(&format!(" --remap-path-prefix={sysroot}/lib/rustlib/src/rust=/rustc/{commit}"));
    }
    flags
}

/// `rustc --print sysroot` and the commit of `rustc -vV`.
fn rustc_sysroot_and_commit() -> Option<(String, String)> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let run = |args: &[&str]| {
        let out = Command::new(&rustc).args(args).output().ok().filter(|o| o.status.success())?;
        String::from_utf8(out.stdout).ok()
    };
    let sysroot = run(&["--print", "sysroot"])?.trim().to_owned();
    let commit = run(&["-vV"])?.lines().find_map(|l| l.strip_prefix("commit-hash: ").map(str::to_owned))?;
    Some((sysroot, commit))
}

/// `foreach_program!(m)` calls `m!(name)` for every test program
/// (`capstan-test-<name>`), so a suite can require a test per program.
fn foreach_program(guests: &[String]) -> String {
    let names: Vec<String> = guests
        .iter()
        .filter_map(|g| g.strip_prefix("capstan-test-"))
        .map(|n| format!("$mac!({});", n.replace('-', "_")))
        .collect();
    format!(
        "/// Calls `$mac!(name)` for every test program under `tests/programs/`.\n#[macro_export]\nmacro_rules! foreach_program {{\n    ($mac:ident) => {{ {} }};\n}}\n",
        names.join(" ")
    )
}
