//! Tests that should also run against a real cluster: [`test_target`]
//! connects to the cluster named by `CAPSTAN_TEST_KUBECONFIG`, or starts a
//! [`TestApiServer`] when the variable is unset.

use crate::error::{Error, Result};
use crate::requests::{AUDIT_LOG_ENV, RequestLog};
use crate::server::TestApiServer;

/// The environment variable naming a real cluster's kubeconfig.
pub const KUBECONFIG_ENV: &str = "CAPSTAN_TEST_KUBECONFIG";

/// A client plus, when not on a real cluster, the server behind it.
pub struct TestTarget {
    /// Client for the target cluster (default namespace from the kubeconfig,
    /// or `default`).
    pub client: kube::Client,
    /// The in-process server; `None` on a real cluster.
    pub server: Option<TestApiServer>,
}

impl TestTarget {
    /// Whether the target is a real cluster.
    pub fn is_real_cluster(&self) -> bool {
        self.server.is_none()
    }

    /// The in-process server, or `None` after printing that `test` is
    /// skipped on a real cluster because it needs `what` (fault injection,
    /// the simulated controllers, ...), which only the test server has.
    pub fn server_or_skip(&self, test: &str, what: &str) -> Option<&TestApiServer> {
        if self.server.is_none() {
            println!("skipping {test} on a real cluster: it needs {what}, which only the test API server provides");
        }
        self.server.as_ref()
    }

    /// The log of the requests sent to the target: the test server's own,
    /// or the real cluster's audit log named by `CAPSTAN_TEST_AUDIT_LOG`;
    /// `None` after printing that `test` is skipped when neither is there.
    pub fn requests_or_skip(&self, test: &str) -> Option<RequestLog<'_>> {
        if let Some(server) = &self.server {
            return Some(RequestLog::server(server));
        }
        match std::env::var_os(AUDIT_LOG_ENV) {
            Some(path) if !path.is_empty() => Some(RequestLog::audit(path.into(), self.client.clone())),
            _ => {
                println!(
                    "skipping {test}: it counts requests, and {AUDIT_LOG_ENV} names no audit log of the real cluster"
                );
                None
            }
        }
    }
}

/// Whether tests were asked to run against a real cluster.
pub fn real_cluster_requested() -> bool {
    std::env::var_os(KUBECONFIG_ENV).is_some_and(|v| !v.is_empty())
}

async fn connect(path: &str) -> Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(Error::Kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(Error::Kubeconfig)?;
    kube::Client::try_from(config).map_err(Error::Client)
}

/// The cluster tests run against: the one `CAPSTAN_TEST_KUBECONFIG` names,
/// else a fresh [`TestApiServer`].
///
/// # Panics
///
/// When the kubeconfig cannot be loaded or the server cannot start; this is
/// a test helper.
pub async fn test_target() -> TestTarget {
    match std::env::var(KUBECONFIG_ENV) {
        Ok(path) if !path.is_empty() => {
            let client = connect(&path).await.unwrap_or_else(|e| panic!("{KUBECONFIG_ENV}={path}: {e}"));
            TestTarget { client, server: None }
        }
        _ => {
            let server = TestApiServer::start().await.expect("failed to start the test API server");
            TestTarget { client: server.client(), server: Some(server) }
        }
    }
}

/// A name unlikely to collide with earlier runs on a shared real cluster:
/// `prefix-` plus five random characters.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", crate::meta::name_suffix())
}
