//! `capstan controller` and the `capstan-controller` binary: the flags, the
//! cluster connection (in-cluster service account, or a kubeconfig), and a
//! clean stop on SIGTERM or Ctrl-C (reconciles in flight finish first).

use std::net::SocketAddr;
use std::path::PathBuf;

use std::sync::Arc;

use anyhow::{Context as _, Result};
use capstan_host::LocalPlugins;
use capstan_reconcile::{Engine, EngineConfig};

use crate::metrics::Metrics;

/// Flags of the controller.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Reconcile Applications of this namespace only [default: all namespaces].
    #[arg(long, env = "CAPSTAN_WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Applications reconciled at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u16,
    /// Address of the HTTP port (webhooks, health, metrics).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// File holding the push webhook's shared secret.
    #[arg(long, env = "CAPSTAN_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Kubeconfig file [default: in-cluster service account, else $KUBECONFIG or ~/.kube/config].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kube context to use.
    #[arg(long)]
    pub context: Option<String>,
    /// A directory local plugin files (`plugin: path`) may come from, besides
    /// the Application's own snapshot; repeatable. Nothing else the
    /// controller can read is reachable from an Application.
    #[arg(long = "plugin-dir", env = "CAPSTAN_PLUGIN_DIRS", value_delimiter = ',')]
    pub plugin_dirs: Vec<PathBuf>,
    /// Memory for renders of unchanged commits, in MiB (an unchanged
    /// commit is not rendered again); 0 disables the cache.
    #[arg(long, env = "CAPSTAN_RENDER_CACHE_MIB", default_value_t = 128)]
    pub render_cache_mib: usize,
    /// Reconcile only while holding the Lease `capstan-controller`: run
    /// several replicas, one reconciles, the others wait as standbys.
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = crate::leader::DEFAULT_NAMESPACE)]
    pub leader_election_namespace: String,
    /// This replica's identity in the Lease [default: $POD_NAME, else host name and process id].
    #[arg(long)]
    pub leader_election_identity: Option<String>,
}

impl Args {
    /// The engine settings of a controller. Local plugin files are confined
    /// to each Application's snapshot and the `--plugin-dir` directories:
    /// the controller runs Applications whose authors must not name the
    /// controller's own files (its token, its cache key) as a plugin and
    /// learn their digest from the error. Renders are cached
    /// (`--render-cache-mib`): a controller renders the same commit on
    /// every poll.
    pub fn configure(&self, config: &mut EngineConfig) {
        config.local_plugins = LocalPlugins::Confined(self.plugin_dirs.clone());
        config.render_cache_bytes = self.render_cache_mib.saturating_mul(1 << 20);
    }

    /// The leader election settings, with `--leader-elect`.
    pub fn leader_election(&self) -> Option<crate::leader::LeaderElection> {
        self.leader_elect.then(|| {
            let identity =
                self.leader_election_identity.clone().unwrap_or_else(crate::leader::LeaderElection::default_identity);
            crate::leader::LeaderElection::new(&self.leader_election_namespace, identity)
        })
    }
}

/// Runs the controller until SIGTERM or Ctrl-C. `metrics` are those the
/// engine's plugin observer reports to (see [`observed`]).
pub async fn run(args: Args, engine: Engine, metrics: Arc<Metrics>) -> Result<()> {
    let kube_config = match (&args.kubeconfig, &args.context) {
        (None, None) => kube::Config::infer().await.context("failed to find the cluster")?,
        (path, context) => {
            let kubeconfig = match path {
                Some(path) => kube::config::Kubeconfig::read_from(path)
                    .with_context(|| format!("failed to read {}", path.display()))?,
                None => kube::config::Kubeconfig::read().context("failed to read the kubeconfig")?,
            };
            let options = kube::config::KubeConfigOptions { context: context.clone(), ..Default::default() };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.context("failed to load the kubeconfig")?
        }
    };
    let client = counting_client(kube_config.clone(), &metrics)?;
    let webhook_secret = match &args.webhook_secret_file {
        Some(path) => std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?,
        None => Vec::new(),
    };
    let config = crate::Config {
        leader_election: args.leader_election(),
        namespace: args.namespace,
        concurrency: args.concurrency.max(1),
        listen: args.listen,
        webhook_secret: trim(webhook_secret),
        kube_config: Some(kube_config),
        metrics,
    };
    crate::run(engine, client, config, shutdown_signal()).await?;
    Ok(())
}

/// Metrics for a controller whose engine is made from `config`: the plugin
/// host reports every call to them.
pub fn observed(config: &mut EngineConfig) -> Arc<Metrics> {
    let metrics = Arc::new(Metrics::new());
    config.plugin_observer = Some(metrics.plugin_observer());
    metrics
}

/// A client that counts every request in `metrics` by verb (the request
/// itself is untouched).
pub fn counting_client(config: kube::Config, metrics: &Arc<Metrics>) -> Result<kube::Client> {
    let metrics = metrics.clone();
    let count = tower::util::MapRequestLayer::new(move |request: http::Request<kube::client::Body>| {
        let uri = request.uri();
        let verb = crate::metrics::verb(request.method(), uri.path(), uri.query());
        metrics.request(verb, crate::metrics::is_dry_run(uri.query()));
        request
    });
    let builder = kube::client::ClientBuilder::try_from(config).context("failed to create the client")?;
    Ok(builder.with_layer(&count).build())
}

/// A secret file usually ends with a newline that is not part of the secret.
fn trim(mut secret: Vec<u8>) -> Vec<u8> {
    while secret.last().is_some_and(u8::is_ascii_whitespace) {
        secret.pop();
    }
    secret
}

/// Completes on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => tracing::info!("SIGTERM: stopping after the reconciles in flight"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping after the reconciles in flight"),
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    Json,
    /// Human-readable lines.
    Text,
}

/// Logs to stderr at `info` (`CAPSTAN_LOG` overrides: `debug`, `capstan_controller=debug`, …);
/// every line carries the span's Application and revision.
pub fn init_tracing(format: LogFormat, verbose: u8) {
    let default = ["warn", "info", "debug"][usize::from(verbose.min(2))];
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAPSTAN_LOG").unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
