//! `capstan plugin …`: look at plugin components without running them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use capstan_host::{HostConfig, PluginHost};
use clap::Subcommand;

/// The `plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Describe a component: world, WIT version, imports, exports, digest, size.
    Inspect {
        /// The component (`.wasm`) file.
        file: PathBuf,
    },
}

/// Runs a `plugin` subcommand; compiled components are cached under `cache_dir`.
pub fn run(command: PluginCommand, cache_dir: &Path) -> Result<()> {
    match command {
        PluginCommand::Inspect { file } => {
            print!("{}", inspect(&file, cache_dir)?);
            Ok(())
        }
    }
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
