//! Which cluster a command talks to: the current kube context, or, when
//! there is none, the embedded local API server (the same in-process server
//! the test suite uses), whose state persists in a file between runs and
//! whose simulated controllers mark workloads ready, Jobs complete and PVCs
//! bound.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use capstan_apiserver::{ServerConfig, TestApiServer};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// How the user chose the cluster.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--local`: use the embedded server even when a kube context exists.
    pub force_local: bool,
    /// Where the embedded server keeps its state.
    pub local_state: PathBuf,
}

/// A connected cluster.
pub enum Target {
    /// A real cluster from a kubeconfig (or in-cluster config).
    Kube {
        /// The client.
        client: kube::Client,
        /// Which context or endpoint, for the user.
        description: String,
    },
    /// The embedded local API server.
    Local {
        /// The running server (stops when dropped).
        server: TestApiServer,
        /// Its state file.
        state_file: PathBuf,
        /// Whether `--local` asked for it (rather than no context being found).
        chosen: bool,
    },
}

impl Target {
    /// Connects as `options` say.
    pub async fn connect(options: &TargetOptions) -> Result<Self> {
        if options.force_local || !kube_config_present(options) {
            return Self::local(&options.local_state, options.force_local).await;
        }
        let (client, description) = kube_client(options).await?;
        Ok(Self::Kube { client, description })
    }

    async fn local(state_file: &Path, chosen: bool) -> Result<Self> {
        if let Some(dir) = state_file.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
        }
        let mut config = ServerConfig::with_state_file(state_file);
        // No kubelet or controllers run here: let workloads report ready so
        // `sync --wait` behaves as it would on a healthy cluster.
        config.simulate_controllers = true;
        let server =
            TestApiServer::start_with(config).await.context("failed to start the embedded local API server")?;
        Ok(Self::Local { server, state_file: state_file.to_owned(), chosen })
    }

    /// A client for this cluster.
    pub fn client(&self) -> kube::Client {
        match self {
            Self::Kube { client, .. } => client.clone(),
            Self::Local { server, .. } => server.client(),
        }
    }

    /// Stops the embedded server (its state is already saved); no-op otherwise.
    pub async fn close(self) {
        if let Self::Local { server, .. } = self {
            server.shutdown().await;
        }
    }

    /// One line telling the user which cluster is used.
    pub fn describe(&self) -> String {
        match self {
            Self::Kube { description, .. } => format!("Target: Kubernetes cluster ({description})"),
            Self::Local { server, state_file, chosen } => format!(
                "Target: {}, using the embedded local API server at {} (state kept in {}{})",
                if *chosen { "--local given" } else { "no kube context found" },
                server.url(),
                state_file.display(),
                if *chosen { "" } else { "; pass --kubeconfig or set a context to target a real cluster" }
            ),
        }
    }
}

/// A client for the cluster the kubeconfig (flag, context, `$KUBECONFIG`,
/// in-cluster account) names, and a description of it for the user.
pub async fn kube_client(options: &TargetOptions) -> Result<(kube::Client, String)> {
    let config = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig =
                Kubeconfig::read_from(path).with_context(|| format!("failed to read kubeconfig {}", path.display()))?;
            let kube_options = KubeConfigOptions { context: options.context.clone(), ..Default::default() };
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube_options).await?
        }
        None if options.context.is_some() => {
            let kube_options = KubeConfigOptions { context: options.context.clone(), ..Default::default() };
            kube::Config::from_kubeconfig(&kube_options).await?
        }
        None => kube::Config::infer().await.context("failed to load the kube configuration")?,
    };
    let description =
        options.context.clone().map_or_else(|| config.cluster_url.to_string(), |c| format!("context {c}"));
    let client = kube::Client::try_from(config).context("failed to create a Kubernetes client")?;
    Ok((client, description))
}

/// Whether any kube configuration is around: flag, `$KUBECONFIG`,
/// `~/.kube/config`, or a pod's in-cluster service account.
fn kube_config_present(options: &TargetOptions) -> bool {
    options.kubeconfig.is_some()
        || options.context.is_some()
        || std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
        || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        || std::env::var_os("HOME").is_some_and(|home| Path::new(&home).join(".kube/config").is_file())
}
