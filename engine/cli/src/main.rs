//! The `capstan` command line: render and sync Applications.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use capstan::output::{self, Format};
use capstan::target::TargetOptions;
use capstan::{AppFile, Engine, EngineConfig, SyncOptions};
use capstan_host::{Builtins, PluginHost};
use clap::{Args, Parser, Subcommand};

/// GitOps reconciliation for Kubernetes with sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "capstan", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

#[derive(Debug, Args)]
struct Global {
    /// Cache for snapshots and compiled plugins [default: ~/.cache/capstan].
    #[arg(long, global = true, env = "CAPSTAN_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Load `builtin:` plugins from this directory of `capstan_<name>.wasm`
    /// files instead of the copies compiled into the binary.
    #[arg(long, global = true, env = "CAPSTAN_BUILTIN_DIR")]
    builtin_dir: Option<PathBuf>,
    /// Git credentials file (YAML: `url` prefix plus `username`/`password`,
    /// `bearerToken`, `ca.crt` for a private CA, or `identity`/`known_hosts`
    /// for SSH); repeatable. An Application's `spec.source.secretRef` wins
    /// for its URL in `sync` and `diff`.
    #[arg(long = "git-credentials", global = true, env = "CAPSTAN_GIT_CREDENTIALS")]
    git_credentials: Vec<PathBuf>,
    /// Platform policies (PlatformPolicy documents) every Application's
    /// pipeline runs before its own `spec.policy`; no Application can
    /// remove or weaken them.
    #[arg(long, global = true, env = "CAPSTAN_PLATFORM_POLICIES")]
    platform_policies: Option<PathBuf>,
    /// More log output (-v: info, -vv: debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with plugin components.
    Plugin {
        #[command(subcommand)]
        command: capstan::plugin_cmd::PluginCommand,
    },
    /// Test policies against fixtures; export CEL policies for the cluster.
    Policy {
        #[command(subcommand)]
        command: capstan::policy_cmd::PolicyCommand,
    },
    /// Fetch and render an Application; print its objects (and the
    /// policies' verdicts on stderr).
    Render {
        /// The Application file.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Also run this policy file (a .rego module, ValidatingAdmissionPolicies,
        /// or ConstraintTemplates with Constraints), enforced as deny.
        #[arg(long = "policy")]
        policies: Vec<PathBuf>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
        output: Format,
    },
    /// Render an Application file (-f) and apply it with server-side apply;
    /// or ask the controller to sync Application APP in the cluster.
    Sync {
        /// The Application in the cluster (the controller syncs it).
        #[arg(conflicts_with_all = ["file", "dry_run", "confirm_prune", "local", "local_state"])]
        app: Option<String>,
        /// Namespace of APP [default: the kube context's].
        #[arg(short, long, requires = "app")]
        namespace: Option<String>,
        /// The Application file.
        #[arg(short = 'f', long = "filename", required_unless_present = "app")]
        file: Option<PathBuf>,
        /// Let the API server validate everything, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete objects of the last sync that left Git.
        #[arg(long)]
        prune: bool,
        /// Allow a prune of more than half of the last sync's objects.
        #[arg(long, requires = "prune")]
        confirm_prune: bool,
        /// Wait for each sync wave to be healthy before the next, and for
        /// every object at the end (exit 1 if not in time); with APP, until
        /// the controller handled the request (then print the status).
        #[arg(long)]
        wait: bool,
        /// How long --wait waits: 90s, 5m, 1h.
        #[arg(long, default_value = "5m", value_parser = capstan::sync_cmd::parse_duration)]
        timeout: std::time::Duration,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Compare an Application's render with the cluster: a coloured diff per
    /// object; exit 0 when equal, 1 on differences, 2 on error.
    Diff {
        /// The Application file.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Also run this policy file, as for `render`.
        #[arg(long = "policy")]
        policies: Vec<PathBuf>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Run the in-cluster controller: reconcile every Application in the
    /// cluster continuously (the container image runs `capstan-controller`,
    /// the same code without the embedded local API server).
    Controller {
        #[command(flatten)]
        args: capstan_controller::cli::Args,
    },
    /// Print (with --dry-run) the manifests that install the controller:
    /// namespace, CRD, RBAC, Deployment, Service.
    Install {
        /// Print the manifests instead of applying them; apply them with
        /// `capstan install --dry-run | kubectl apply --server-side -f -`.
        #[arg(long, required = true)]
        dry_run: bool,
    },
    #[command(flatten)]
    Apps(capstan::apps::AppsCommand),
    /// Render an Application and commit the plain manifests to a branch.
    Hydrate {
        /// The Application file.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Target branch, and optionally a directory in it: BRANCH[:PATH].
        #[arg(long)]
        to: capstan::hydrate::Destination,
        /// Local repository to commit to [default: the Application's own].
        #[arg(long)]
        repo: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct ClusterArgs {
    /// Kubeconfig file [default: $KUBECONFIG or ~/.kube/config].
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kube context to use.
    #[arg(long)]
    context: Option<String>,
    /// Use the embedded local API server even if a kube context exists.
    #[arg(long)]
    local: bool,
    /// State file of the embedded local API server [default: CACHE/local-cluster.json].
    #[arg(long, env = "CAPSTAN_LOCAL_STATE")]
    local_state: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if output::caused_by_closed_pipe(&error) => ExitCode::from(output::CLOSED_PIPE_STATUS),
        Err(error) => {
            eprint!("{}", output::error_report(&error));
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = ["warn", "info", "debug"][usize::from(verbose.min(2))];
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAPSTAN_LOG").unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn run(cli: Cli) -> Result<()> {
    let cache_dir = cli.global.cache_dir.unwrap_or_else(default_cache_dir);
    let mut config = EngineConfig::new(&cache_dir);
    if let Some(dir) = cli.global.builtin_dir {
        config.builtins = Builtins::Dir(dir);
    }
    for file in &cli.global.git_credentials {
        config.git_credentials.push(capstan_source::Credentials::from_file_with_url(file)?);
    }
    if let Some(file) = &cli.global.platform_policies {
        config.load_platform(file)?;
    }
    let command = match cli.command {
        Command::Policy { command } => {
            let host = PluginHost::new(config.host_config())?;
            return capstan::policy_cmd::run(command, &host, &config.limits);
        }
        other => other,
    };
    // A one-shot command renders each Application once: a render cache
    // would only cost a copy of every render. The controller keeps one.
    config.render_cache_bytes = 0;
    let metrics = match &command {
        Command::Controller { args } => {
            args.configure(&mut config);
            Some(capstan_controller::cli::observed(&mut config))
        }
        _ => None,
    };
    let engine = Engine::new(config)?;
    match command {
        Command::Hydrate { file, to, repo } => hydrate(&engine, &file, &to, repo.as_deref()),
        Command::Controller { args } => tokio::runtime::Runtime::new()?.block_on(capstan_controller::cli::run(
            args,
            engine,
            metrics.unwrap_or_default(),
        )),
        Command::Install { dry_run: _ } => {
            output::print(&capstan_controller::install::manifests())?;
            Ok(())
        }
        Command::Plugin { command } => capstan::plugin_cmd::run(command, &cache_dir),
        Command::Policy { .. } => unreachable!("handled above"),
        Command::Render { file, output, policies } => render(&engine, &file, output, &policies),
        Command::Apps(command) => tokio::runtime::Runtime::new()?.block_on(capstan::apps::run(command)),
        Command::Sync { app: Some(app), namespace, prune, wait, timeout, cluster, .. } => {
            let kube = capstan::apps::KubeArgs { namespace, kubeconfig: cluster.kubeconfig, context: cluster.context };
            tokio::runtime::Runtime::new()?.block_on(capstan::apps::sync(&app, &kube, prune, wait.then_some(timeout)))
        }
        Command::Sync { file, dry_run, prune, confirm_prune, wait, timeout, cluster, .. } => {
            let file = file.ok_or_else(|| anyhow::anyhow!("sync needs an Application: APP or -f FILE"))?;
            let target = target_options(cluster, &cache_dir);
            let options = SyncOptions {
                dry_run,
                prune,
                confirm_prune,
                wave_timeout: wait.then_some(timeout),
                ..SyncOptions::default()
            };
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(capstan::sync_cmd::run(&engine, &file, &target, &options, wait.then_some(timeout)))
        }
        Command::Diff { file, cluster, policies } => {
            let target = target_options(cluster, &cache_dir);
            let code = tokio::runtime::Runtime::new()?.block_on(capstan::diff::run(&engine, &file, &target, &policies));
            std::process::exit(code.into())
        }
    }
}

fn render(engine: &Engine, file: &std::path::Path, format: Format, policies: &[PathBuf]) -> Result<()> {
    let app = capstan::policy_cmd::with_policies(AppFile::load(file)?, policies)?;
    let out = engine.render(&app)?;
    // The policies' diagnostics come last, and are printed as the verdict table.
    let (rendered, verdicts) = (&out.rendered.diagnostics, &out.rendered.verdicts);
    for diagnostic in &rendered[..rendered.len() - verdicts.len()] {
        eprintln!("{}", output::diagnostic_line(diagnostic));
    }
    capstan::policy_cmd::print_verdicts(verdicts);
    output::print(&output::objects(&out.rendered.objects, format)?)?;
    // The process ends here: freeing every value of every object one by one
    // would only delay the exit (a sixth of the time after the call on a
    // 4,000-object render).
    std::mem::forget(out);
    Ok(())
}

fn target_options(cluster: ClusterArgs, cache_dir: &std::path::Path) -> TargetOptions {
    TargetOptions {
        kubeconfig: cluster.kubeconfig,
        context: cluster.context,
        force_local: cluster.local,
        local_state: cluster.local_state.unwrap_or_else(|| cache_dir.join("local-cluster.json")),
    }
}

fn hydrate(
    engine: &Engine,
    file: &std::path::Path,
    to: &capstan::hydrate::Destination,
    repo: Option<&std::path::Path>,
) -> Result<()> {
    let outcome = capstan::hydrate::run(engine, &AppFile::load(file)?, to, repo)?;
    let count = outcome.render.rendered.objects.len();
    let objects = if count == 1 { "1 object".to_owned() } else { format!("{count} objects") };
    match outcome.commit {
        Some(commit) => println!("Committed {objects} to {} in {}: {commit}", to.branch, outcome.repo.display()),
        None => println!("Unchanged: {} already holds these {objects}; no commit.", to.branch),
    }
    Ok(())
}

fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("capstan")
}
