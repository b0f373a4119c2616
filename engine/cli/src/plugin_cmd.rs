//! `capstan plugin …`: look at plugin components, and the author's loop
//! (`new`, `build`, `test`, `trace`, `wit`), which `capstan_devkit` does.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use capstan_devkit::{Lang, NewOptions, Project, RunOptions};
use capstan_host::{HostConfig, Limits, PluginHost, World};
use capstan_types::PluginLimits;
use clap::{Args, Subcommand};

/// The `plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Describe a component: world, WIT version, imports, exports, digest, size.
    Inspect {
        /// The component (`.wasm`) file.
        file: PathBuf,
    },
    /// Create a plugin project: the WIT, the SDK, a plugin, a fixture and a test.
    New {
        /// The world the plugin targets: renderer, transformer, validator or health.
        #[arg(long, value_parser = capstan_devkit::parse_world)]
        world: World,
        /// The language: rust, python or js (JavaScript/TypeScript; no renderer).
        #[arg(long, default_value = "rust", value_parser = str::parse::<Lang>)]
        lang: Lang,
        /// The directory to create; its name is the plugin's name.
        dir: PathBuf,
    },
    /// Build a project into a component; print its path, world, digest and size.
    Build {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Also copy the component to this file (to commit or publish it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Build a project (or take --wasm) and run its tests (or one fixture)
    /// in the real host under the leash: the output, time and memory of each call.
    Test {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// What to run, and on which leash.
        #[command(flatten)]
        run: RunArgs,
    },
    /// Build a project (or take --wasm) and trace one call: the plugin's log lines, time, memory, output.
    Trace {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// What to run, and on which leash.
        #[command(flatten)]
        run: RunArgs,
    },
    /// Print the WIT package (`capstan:plugin`) this Capstan implements.
    Wit,
}

/// What `test` and `trace` run, and on which leash.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A fixture instead of the project's tests: a directory for a
    /// renderer, a YAML file of objects for the other worlds.
    #[arg(long)]
    input: Option<PathBuf>,
    /// The stage's `with:` parameters for --input, as JSON.
    #[arg(long, value_parser = parse_json)]
    with: Option<serde_json::Value>,
    /// The expected output for --input (YAML).
    #[arg(long)]
    expect: Option<PathBuf>,
    /// The call's deadline, as `limits.timeout` (e.g. 30s).
    #[arg(long)]
    timeout: Option<String>,
    /// The call's memory cap, as `limits.memory` (e.g. 512Mi).
    #[arg(long)]
    memory: Option<String>,
    /// Run this component instead of building the project (a committed or
    /// published `.wasm`); it must target the project's world.
    #[arg(long)]
    wasm: Option<PathBuf>,
}

fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

/// The component `test` and `trace` run: `--wasm FILE` as it is, or the
/// project built now (whose build report is printed).
fn component(project: &Project, host: &PluginHost, wasm: Option<&Path>, print_build: bool) -> Result<Vec<u8>> {
    if let Some(file) = wasm {
        let bytes = std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
        capstan_devkit::toolchain::check(project, host, &file.display().to_string(), &bytes)?;
        return Ok(bytes);
    }
    let built = capstan_devkit::toolchain::build(project, host)?;
    if print_build {
        print!("{built}");
    }
    Ok(built.bytes)
}

impl RunArgs {
    fn options(self) -> Result<RunOptions> {
        let spec = PluginLimits { timeout: self.timeout, memory: self.memory, ..PluginLimits::default() };
        let limits = Limits::default()
            .with_overrides(&spec)
            .map_err(|e| anyhow::anyhow!("invalid --{} {:?}: {}", e.field, e.value, e.reason))?;
        Ok(RunOptions { input: self.input, with: self.with, expect: self.expect, limits })
    }
}

/// How long the author's tools let one compile take. The engine's 60 s
/// guards against hostile components; here the component is the author's
/// own, and a Python or JavaScript one takes 20–40 s alone in a debug
/// build, more on a busy machine (tests compile several at once).
const AUTHOR_COMPILE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs a `plugin` subcommand; compiled components are cached under `cache_dir`.
pub fn run(command: PluginCommand, cache_dir: &Path) -> Result<()> {
    let host = || {
        PluginHost::new(HostConfig {
            cache_dir: Some(cache_dir.join("wasmtime")),
            compile_deadline: Some(AUTHOR_COMPILE_DEADLINE),
            ..HostConfig::default()
        })
    };
    let stdout = &mut std::io::stdout();
    match command {
        PluginCommand::Inspect { file } => crate::output::print(&inspect(&file, cache_dir)?)?,
        PluginCommand::New { world, lang, dir } => {
            let shown = dir.display().to_string();
            let project = capstan_devkit::template::new(&NewOptions { dir, world, lang })?;
            println!(
                "created {shown} ({} {}): `capstan plugin test {shown}` builds and tests it",
                project.lang, project.world
            );
        }
        PluginCommand::Build { dir, out } => {
            let built = capstan_devkit::toolchain::build(&Project::load(&dir)?, &host()?)?;
            print!("{built}");
            if let Some(out) = out {
                std::fs::copy(&built.wasm, &out).with_context(|| format!("failed to write {}", out.display()))?;
                println!("wrote {}", out.display());
            }
        }
        PluginCommand::Test { dir, mut run } => {
            let (wasm, project, host) = (run.wasm.take(), Project::load(&dir)?, host()?);
            let options = run.options()?;
            let bytes = component(&project, &host, wasm.as_deref(), true)?;
            capstan_devkit::run::test(&project, &bytes, &host, &options, stdout)?;
        }
        PluginCommand::Trace { dir, mut run } => {
            let (wasm, project, host) = (run.wasm.take(), Project::load(&dir)?, host()?);
            let options = run.options()?;
            let bytes = component(&project, &host, wasm.as_deref(), false)?;
            capstan_devkit::run::trace(&project, &bytes, &host, &options, stdout)?;
        }
        PluginCommand::Wit => crate::output::print(capstan_devkit::WIT)?,
    }
    Ok(())
}

/// The text `capstan plugin inspect FILE` prints.
pub fn inspect(file: &Path, cache_dir: &Path) -> Result<String> {
    let bytes = std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
    // wasmtime would read anything else as WAT text and report a parse error.
    if !bytes.starts_with(b"\0asm") && file.extension().is_none_or(|e| e != "wat") {
        bail!("{} is not a WebAssembly component (no `\\0asm` header)", file.display());
    }
    let host = PluginHost::new(HostConfig { cache_dir: Some(cache_dir.join("wasmtime")), ..HostConfig::default() })?;
    Ok(host.inspect(&file.display().to_string(), &bytes)?.to_string())
}
