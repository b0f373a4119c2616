//! `capstan-controller`: the in-cluster controller alone, without the CLI's
//! embedded local API server (what the container image runs).

use std::path::PathBuf;
use std::process::ExitCode;

use capstan_reconcile::{Engine, EngineConfig};
use clap::Parser;

/// Reconciles every Capstan Application in the cluster continuously from Git.
#[derive(Debug, Parser)]
#[command(name = "capstan-controller", version, about)]
struct Cli {
    #[command(flatten)]
    args: capstan_controller::cli::Args,
    /// Cache for repositories, snapshots and compiled plugins.
    #[arg(long, env = "CAPSTAN_CACHE_DIR", default_value = "/var/cache/capstan")]
    cache_dir: PathBuf,
    /// Platform policies (PlatformPolicy documents) every Application's
    /// pipeline runs before its own `spec.policy` (the install mounts the
    /// `capstan-platform-policies` ConfigMap here).
    #[arg(long, env = "CAPSTAN_PLATFORM_POLICIES")]
    platform_policies: Option<PathBuf>,
    /// Git credentials file (`url` prefix plus credentials); repeatable.
    #[arg(long = "git-credentials", env = "CAPSTAN_GIT_CREDENTIALS")]
    git_credentials: Vec<PathBuf>,
    /// Log format.
    #[arg(long, env = "CAPSTAN_LOG_FORMAT", value_enum, default_value_t = capstan_controller::cli::LogFormat::Json)]
    log_format: capstan_controller::cli::LogFormat,
}

/// The engine's settings from the flags; local plugins confined, renders cached.
fn engine_config(cli: &Cli) -> anyhow::Result<EngineConfig> {
    let mut config = EngineConfig::new(&cli.cache_dir);
    for file in &cli.git_credentials {
        config.git_credentials.push(capstan_source::Credentials::from_file_with_url(file)?);
    }
    if let Some(file) = &cli.platform_policies {
        config.load_platform(file)?;
    }
    cli.args.configure(&mut config);
    Ok(config)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    capstan_controller::cli::init_tracing(cli.log_format, 1);
    let result = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|runtime| {
        runtime.block_on(async {
            let mut config = engine_config(&cli)?;
            let metrics = capstan_controller::cli::observed(&mut config);
            let engine = Engine::new(config)?;
            capstan_controller::cli::run(cli.args, engine, metrics).await
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
