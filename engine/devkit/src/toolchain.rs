//! `capstan plugin build`: runs the project's language toolchain (Rust:
//! cargo for `wasm32-wasip2`; Python: componentize-py; JavaScript: jco
//! componentize from the project's `node_modules`), finds the component it
//! wrote, and checks it as the host will (world, WIT version, shape)
//! before anyone pins it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use capstan_host::{PluginHost, World};
use serde::Deserialize;

use crate::hints::{self, export_fix};
use crate::project::{Lang, Project};
use crate::{Error, Result};

/// A built and checked component.
#[derive(Debug, Clone)]
pub struct Built {
    /// The component file.
    pub wasm: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// `sha256:<hex>` of the bytes: the `digest:` an Application pins.
    pub digest: String,
    /// The world it targets (the project's).
    pub world: World,
    /// How long the toolchain took.
    pub took: Duration,
}

impl std::fmt::Display for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "built {} in {:.1} s", self.wasm.display(), self.took.as_secs_f64())?;
        writeln!(f, "world:  {} (exports {})", self.world, self.world.export_name())?;
        writeln!(f, "digest: {}", self.digest)?;
        writeln!(f, "size:   {} bytes ({:.1} MiB)", self.bytes.len(), self.bytes.len() as f64 / f64::from(1 << 20))
    }
}

/// Builds the project and checks the component against its project file.
pub fn build(project: &Project, host: &PluginHost) -> Result<Built> {
    let started = Instant::now();
    let wasm = match project.lang {
        Lang::Rust => cargo_build(project)?,
        Lang::Python => python_build(project)?,
        Lang::Js => js_build(project)?,
    };
    let bytes = std::fs::read(&wasm).map_err(|error| Error::Io { path: wasm.clone(), error })?;
    let world = check(project, host, &wasm.display().to_string(), &bytes)?;
    Ok(Built { digest: capstan_host::sha256_digest(&bytes), wasm, bytes, world, took: started.elapsed() })
}

/// The world of a component, which must be the project's: what the host
/// would refuse (foreign world or WIT version, shape) and a world other
/// than the project file's are errors that say what to change.
pub fn check(project: &Project, host: &PluginHost, name: &str, bytes: &[u8]) -> Result<World> {
    let inspection = host.inspect(name, bytes).map_err(|e| hints::explain(e, Some(project)))?;
    let Some(built) = inspection.world else {
        let reason = inspection.problem.unwrap_or_default();
        return Err(hints::explain(
            capstan_host::Error::Incompatible { plugin: name.to_owned(), reason },
            Some(project),
        ));
    };
    if built != project.world {
        let export = inspection.exports.iter().find(|e| e.starts_with("capstan:plugin/")).cloned().unwrap_or_default();
        return Err(Error::WorldMismatch { declared: project.world, built, export, fix: export_fix(project) });
    }
    Ok(built)
}

/// One line of `cargo --message-format=json` that this module reads.
#[derive(Deserialize)]
struct CargoMessage {
    reason: String,
    #[serde(default)]
    manifest_path: Option<PathBuf>,
    #[serde(default)]
    filenames: Vec<PathBuf>,
}

/// `cargo build --release --target wasm32-wasip2` of the project; the
/// compiler's messages go to stderr as cargo renders them.
fn cargo_build(project: &Project) -> Result<PathBuf> {
    check_wasm_target(&project.dir)?;
    let manifest = project.dir.join("Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    command
        .args(["build", "--release", "--target", "wasm32-wasip2", "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest)
        .current_dir(&project.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let shown = format!("cargo build --release --target wasm32-wasip2 --manifest-path {}", manifest.display());
    let output = command.output().map_err(|error| Error::ToolMissing {
        what: format!("cargo ({error})"),
        fix: "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`".to_owned(),
    })?;
    if !output.status.success() {
        return Err(Error::BuildFailed { command: shown, status: output.status });
    }
    let manifest = manifest.canonicalize().map_err(|error| Error::Io { path: manifest.clone(), error })?;
    let file = project.wasm_file_name();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<CargoMessage>(line).ok())
        .filter(|m| {
            m.reason == "compiler-artifact" && m.manifest_path.as_deref().is_some_and(|p| same_file(p, &manifest))
        })
        .flat_map(|m| m.filenames)
        .find(|path| path.file_name().is_some_and(|n| n.to_string_lossy() == file))
        .ok_or(Error::NoArtifact {
            command: shown,
            file,
            hint: "is `crate-type = [\"cdylib\"]` in Cargo.toml's [lib]?",
        })
}

fn same_file(a: &Path, b: &Path) -> bool {
    a.canonicalize().is_ok_and(|a| a == b)
}

/// Says how to install the target when the toolchain that builds in `dir`
/// lacks it, instead of cargo's "can't find crate for `core`".
fn check_wasm_target(dir: &Path) -> Result<()> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let missing = |what: String| Error::ToolMissing {
        what,
        fix: "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`".to_owned(),
    };
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .map_err(|error| missing(format!("rustc ({error})")))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if sysroot.join("lib/rustlib/wasm32-wasip2").is_dir() {
        return Ok(());
    }
    Err(Error::ToolMissing {
        what: format!("the wasm32-wasip2 target of the Rust toolchain at {}", sysroot.display()),
        fix: "run `rustup target add wasm32-wasip2`".to_owned(),
    })
}

/// The componentize-py release the Python helper and templates are tested with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// Where the Python toolchain is looked for first: a venv under the user's
/// cache (`python3 -m venv` there, then pip installs componentize-py).
pub fn python_toolchain_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/capstan/toolchains/python"))
}

/// The commands that install the Python toolchain where it is looked for.
pub fn python_install_command() -> String {
    format!(
        "python3 -m venv ~/.cache/capstan/toolchains/python && ~/.cache/capstan/toolchains/python/bin/pip install componentize-py=={COMPONENTIZE_PY_VERSION}"
    )
}

/// componentize-py: `$CAPSTAN_COMPONENTIZE_PY`, else the cache's venv, else
/// `PATH`; at the version the helper is tested with.
pub fn componentize_py() -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("CAPSTAN_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .into_iter()
        .chain(python_toolchain_dir().map(|dir| dir.join("bin/componentize-py")).filter(|p| p.is_file()))
        .chain([PathBuf::from("componentize-py")])
        .collect();
    for tool in candidates {
        let Ok(output) = Command::new(&tool).arg("--version").output() else { continue };
        let found = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if found == format!("componentize-py {COMPONENTIZE_PY_VERSION}") {
            return Ok(tool);
        }
        return Err(Error::ToolMissing {
            what: format!(
                "componentize-py {COMPONENTIZE_PY_VERSION} (found `{found}` at {}; the Python helper is tested with {COMPONENTIZE_PY_VERSION})",
                tool.display()
            ),
            fix: python_install_command(),
        });
    }
    Err(Error::ToolMissing {
        what: "componentize-py (the Python toolchain: it builds a component from app.py and wit/)".to_owned(),
        fix: python_install_command(),
    })
}

/// `componentize-py -d wit -w WORLD componentize app -p . -o build/NAME.wasm`
/// in the project; its output goes to stderr.
fn python_build(project: &Project) -> Result<PathBuf> {
    let tool = componentize_py()?;
    let out = project.build_output();
    create_parent(&out)?;
    let world = project.world.to_string();
    let args = ["-d", "wit", "-w", world.as_str(), "componentize", "app", "-p", ".", "-o"];
    let shown = format!("{} {} {}", tool.display(), args.join(" "), out.display());
    let status = Command::new(&tool)
        .args(args)
        .arg(&out)
        .current_dir(&project.dir)
        .stdout(std::io::stderr())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|error| Error::ToolMissing {
            what: format!("{} ({error})", tool.display()),
            fix: python_install_command(),
        })?;
    finish(status, shown, out)
}

/// The fix when Node.js or npm is missing.
const NODE_FIX: &str = "install Node.js 20 or later with npm (Debian: `apt-get install nodejs npm`)";

/// `npm ci` when the project has no jco yet, then `jco componentize
/// src/plugin.ts --wit wit --world-name WORLD … -o build/NAME.wasm`.
fn js_build(project: &Project) -> Result<PathBuf> {
    if project.world == World::Renderer {
        return Err(Error::Unsupported {
            lang: Lang::Js,
            world: World::Renderer,
            reason: crate::template::JS_RENDERER,
        });
    }
    let jco = project.dir.join("node_modules/.bin/jco");
    if !jco.is_file() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&project.dir)
            .stdout(std::io::stderr())
            .stderr(Stdio::inherit())
            .status()
            .map_err(|error| Error::ToolMissing { what: format!("npm ({error})"), fix: NODE_FIX.to_owned() })?;
        if !status.success() {
            return Err(Error::BuildFailed { command: format!("npm ci (in {})", project.dir.display()), status });
        }
        if !jco.is_file() {
            return Err(Error::ToolMissing {
                what: format!("{} after `npm ci`", jco.display()),
                fix: "keep @bytecodealliance/jco and @bytecodealliance/componentize-js in package.json's devDependencies (as `capstan plugin new` wrote them)".to_owned(),
            });
        }
    }
    let source = ["src/plugin.ts", "src/plugin.js"]
        .into_iter()
        .find(|file| project.dir.join(file).is_file())
        .ok_or_else(|| Error::Usage(format!("{} has no src/plugin.ts or src/plugin.js", project.dir.display())))?;
    let out = project.build_output();
    create_parent(&out)?;
    let world = project.world.to_string();
    // The leash has no network: no `fetch` (http) and no incoming requests.
    let mut args = vec![
        "componentize",
        source,
        "--wit",
        "wit",
        "--world-name",
        world.as_str(),
        "--disable",
        "http",
        "fetch-event",
    ];
    if project.dir.join("bundle.config.mjs").is_file() {
        args.extend(["--bundle-config", "bundle.config.mjs"]);
    }
    args.push("-o");
    let shown = format!("node_modules/.bin/jco {} {}", args.join(" "), out.display());
    let status = Command::new(&jco)
        .args(&args)
        .arg(&out)
        .current_dir(&project.dir)
        .stdout(std::io::stderr())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|error| Error::ToolMissing { what: format!("node ({error})"), fix: NODE_FIX.to_owned() })?;
    finish(status, shown, out)
}

fn create_parent(file: &Path) -> Result<()> {
    let parent = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|error| Error::Io { path: parent.to_owned(), error })
}

/// The component a successful build wrote, or why there is none.
fn finish(status: std::process::ExitStatus, command: String, out: PathBuf) -> Result<PathBuf> {
    if !status.success() {
        return Err(Error::BuildFailed { command, status });
    }
    if !out.is_file() {
        return Err(Error::NoArtifact { command, file: out.display().to_string(), hint: "its messages are above" });
    }
    Ok(out)
}
